//! SessionManager: the registry of sessions and the `session-cleanup` task that expires idle
//! ones. Expiry is found through an index ordered by deadline, so a cycle costs the number of
//! expired sessions, not the number of sessions.
//!
//! A session is removed only after its sandbox is confirmed stopped. A stop that fails leaves
//! the session in `error`, to be retried next cycle; a stop that is abandoned half-way (the
//! cycle was cut short) puts the session back as it was.

use crate::backend::{Backend, BoxFuture, SandboxSpec, Stopped};
use crate::clock::now_ms;
use crate::ids::{random_hex, valid_session_id, SESSION_ID_RULE};
use crate::supervisor::{CycleContext, CycleResult, Task};
use crate::templates::{Templates, DEFAULT_TEMPLATE};
use msb_proto::{
    CreateSession, ErrorBody, ErrorCode, Fate, Flavor, SessionFate, SessionInfo, SessionStatus,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How many sandboxes one cleanup cycle stops side by side.
const STOP_CONCURRENCY: usize = 5;

#[derive(Debug, Clone)]
struct Session {
    id: String,
    template: String,
    flavor: Flavor,
    status: SessionStatus,
    sandbox: String,
    created_at_ms: u64,
    last_accessed_ms: u64,
    error: Option<String>,
    /// A stop is in progress; nobody else may start one.
    stopping: bool,
}

#[derive(Default)]
struct Registry {
    sessions: HashMap<String, Session>,
    /// (deadline in unix ms, id) of every session that may expire.
    expiry: BTreeSet<(u64, String)>,
}

impl Registry {
    fn expirable(session: &Session) -> bool {
        !session.stopping
            && matches!(
                session.status,
                SessionStatus::Ready | SessionStatus::Running | SessionStatus::Error
            )
    }

    fn index(&mut self, id: &str, timeout_ms: u64) {
        if let Some(s) = self.sessions.get(id) {
            if Self::expirable(s) {
                self.expiry
                    .insert((s.last_accessed_ms + timeout_ms, id.to_string()));
            }
        }
    }

    fn unindex(&mut self, id: &str, timeout_ms: u64) {
        if let Some(s) = self.sessions.get(id) {
            self.expiry
                .remove(&(s.last_accessed_ms + timeout_ms, id.to_string()));
        }
    }
}

/// What the session registry holds now, for admission decisions.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub sessions: u64,
}

pub struct SessionManager {
    registry: Mutex<Registry>,
    backend: Arc<dyn Backend>,
    templates: Templates,
    timeout: Duration,
    /// How long a sandbox gets between SIGTERM and SIGKILL when its session is stopped.
    stop_grace: Duration,
}

impl SessionManager {
    pub fn new(
        backend: Arc<dyn Backend>,
        templates: Templates,
        timeout: Duration,
        stop_grace: Duration,
    ) -> Self {
        Self {
            registry: Mutex::new(Registry::default()),
            backend,
            templates,
            timeout,
            stop_grace,
        }
    }

    /// The lock is held for a few map operations only, never across `.await`.
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn timeout_ms(&self) -> u64 {
        self.timeout.as_millis() as u64
    }

    fn info(&self, s: &Session) -> SessionInfo {
        let deadline = s.last_accessed_ms + self.timeout_ms();
        SessionInfo {
            id: s.id.clone(),
            template: s.template.clone(),
            flavor: s.flavor,
            status: s.status,
            sandbox: s.sandbox.clone(),
            created_at: s.created_at_ms / 1000,
            last_accessed: s.last_accessed_ms / 1000,
            expires_in_secs: deadline.saturating_sub(now_ms()) / 1000,
            error: s.error.clone(),
        }
    }

    pub fn active(&self) -> u64 {
        self.lock().sessions.len() as u64
    }

    /// True when `sandbox` is the sandbox of the live session `session_id`.
    pub fn owns(&self, session_id: &str, sandbox: &str) -> bool {
        self.lock()
            .sessions
            .get(session_id)
            .is_some_and(|s| s.sandbox == sandbox)
    }

    pub fn list(&self) -> Vec<SessionInfo> {
        let registry = self.lock();
        let mut list: Vec<SessionInfo> = registry.sessions.values().map(|s| self.info(s)).collect();
        list.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        list
    }

    pub fn show(&self, id: &str) -> Result<SessionInfo, ErrorBody> {
        let registry = self.lock();
        registry
            .sessions
            .get(id)
            .map(|s| self.info(s))
            .ok_or_else(|| unknown(id))
    }

    pub fn touch(&self, id: &str) -> Result<SessionInfo, ErrorBody> {
        let timeout_ms = self.timeout_ms();
        let mut registry = self.lock();
        if !registry.sessions.contains_key(id) {
            return Err(unknown(id));
        }
        registry.unindex(id, timeout_ms);
        let session = registry.sessions.get_mut(id).ok_or_else(|| unknown(id))?;
        session.last_accessed_ms = now_ms();
        let info = self.info(session);
        registry.index(id, timeout_ms);
        Ok(info)
    }

    /// Creates a session and its sandbox. `admit` sees the usage under the registry lock and
    /// may refuse; the new session counts against limits while its sandbox starts.
    pub async fn create(
        &self,
        request: CreateSession,
        default_flavor: Flavor,
        admit: impl FnOnce(Usage) -> Result<(), ErrorBody>,
    ) -> Result<SessionInfo, ErrorBody> {
        let template = request
            .template
            .unwrap_or_else(|| DEFAULT_TEMPLATE.to_string());
        let command = self.templates.get(&template)?;
        let flavor = request.flavor.unwrap_or(default_flavor);
        let id = match request.id {
            Some(id) if valid_session_id(&id) => id,
            Some(id) => {
                return Err(ErrorBody::new(
                    ErrorCode::InvalidArgument,
                    format!("session id '{id}' is not allowed: use {SESSION_ID_RULE}"),
                ))
            }
            None => format!("s-{}", random_hex(5).map_err(internal)?),
        };
        let sandbox = format!("msb-{id}-{}", random_hex(3).map_err(internal)?);
        let now = now_ms();
        {
            let mut registry = self.lock();
            if registry.sessions.contains_key(&id) {
                return Err(ErrorBody::new(
                    ErrorCode::InvalidArgument,
                    format!("session '{id}' already exists"),
                ));
            }
            admit(Usage {
                sessions: registry.sessions.len() as u64,
            })?;
            registry.sessions.insert(
                id.clone(),
                Session {
                    id: id.clone(),
                    template,
                    flavor,
                    status: SessionStatus::Creating,
                    sandbox: sandbox.clone(),
                    created_at_ms: now,
                    last_accessed_ms: now,
                    error: None,
                    stopping: false,
                },
            );
        }
        // If this future is dropped mid-way, the guard forgets the half-made session.
        let mut guard = Creating {
            manager: self,
            id: &id,
            done: false,
        };
        let spec = SandboxSpec {
            name: sandbox.clone(),
            session_id: id.clone(),
            command,
            flavor,
        };
        let created = self.backend.create(spec).await;
        guard.done = true;
        let mut registry = self.lock();
        match created {
            Ok(_) => {
                let session = registry.sessions.get_mut(&id).ok_or_else(|| unknown(&id))?;
                session.status = SessionStatus::Ready;
                let info = self.info(session);
                registry.index(&id, self.timeout_ms());
                tracing::info!(session = %id, sandbox = %sandbox, "session created");
                Ok(info)
            }
            Err(err) => {
                registry.sessions.remove(&id);
                Err(ErrorBody::new(ErrorCode::Backend, err.to_string()))
            }
        }
    }

    /// Stops the session's sandbox and removes the session. With `only_if_expired`, a session
    /// touched since it was found expired is left alone (`Ok(None)`).
    async fn stop_session(
        &self,
        id: &str,
        grace: Duration,
        only_if_expired: bool,
    ) -> Result<Option<(SessionInfo, Stopped)>, ErrorBody> {
        let timeout_ms = self.timeout_ms();
        let sandbox = {
            let mut registry = self.lock();
            let session = registry.sessions.get(id).ok_or_else(|| unknown(id))?;
            if only_if_expired
                && (session.last_accessed_ms + timeout_ms > now_ms() || session.stopping)
            {
                return Ok(None);
            }
            match session.status {
                _ if session.stopping => {
                    return Err(ErrorBody::new(
                        ErrorCode::InvalidArgument,
                        format!("session '{id}' is already being stopped"),
                    ))
                }
                SessionStatus::Creating => {
                    return Err(ErrorBody::new(
                        ErrorCode::InvalidArgument,
                        format!("session '{id}' is still being created"),
                    ))
                }
                SessionStatus::Processing if only_if_expired => return Ok(None),
                _ => {}
            }
            let sandbox = session.sandbox.clone();
            registry.unindex(id, timeout_ms);
            if let Some(session) = registry.sessions.get_mut(id) {
                session.stopping = true;
            }
            sandbox
        };
        let mut guard = Stopping {
            manager: self,
            id,
            done: false,
        };
        let result = self.backend.stop(&sandbox, grace).await;
        guard.done = true;
        let mut registry = self.lock();
        match result {
            Ok(stopped) => {
                let mut session = registry.sessions.remove(id).ok_or_else(|| unknown(id))?;
                session.status = SessionStatus::Stopped;
                tracing::info!(session = %id, sandbox = %sandbox, how = ?stopped, "session stopped");
                Ok(Some((self.info(&session), stopped)))
            }
            Err(err) => {
                if let Some(session) = registry.sessions.get_mut(id) {
                    session.stopping = false;
                    session.status = SessionStatus::Error;
                    session.error = Some(err.to_string());
                }
                registry.index(id, timeout_ms);
                tracing::warn!(session = %id, error = %err, "could not stop the sandbox; session kept");
                Err(ErrorBody::new(ErrorCode::Backend, err.to_string()))
            }
        }
    }

    pub async fn stop(&self, id: &str) -> Result<SessionInfo, ErrorBody> {
        match self.stop_session(id, self.stop_grace, false).await? {
            Some((info, _)) => Ok(info),
            None => Err(unknown(id)),
        }
    }

    /// Ids of sessions whose deadline has passed.
    fn expired(&self, now: u64) -> Vec<String> {
        let registry = self.lock();
        registry
            .expiry
            .range(..(now + 1, String::new()))
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// Stops every session for shutdown: all sandboxes are asked at once, and those still
    /// running at the deadline are killed. `progress` hears of each as it ends.
    pub async fn stop_all(
        self: &Arc<Self>,
        grace: Duration,
        mut progress: impl FnMut(&SessionFate, usize, usize),
    ) -> Vec<SessionFate> {
        let ids: Vec<String> = self.lock().sessions.keys().cloned().collect();
        let total = ids.len();
        let mut running = tokio::task::JoinSet::new();
        for id in ids {
            let manager = self.clone();
            running.spawn(async move {
                let (fate, error) = match manager.stop_session(&id, grace, false).await {
                    Ok(Some((_, Stopped::Killed))) => (Fate::Killed, None),
                    Ok(_) => (Fate::Stopped, None),
                    Err(err) => (Fate::Failed, Some(err.message)),
                };
                SessionFate { id, fate, error }
            });
        }
        let mut fates = Vec::with_capacity(total);
        while let Some(joined) = running.join_next().await {
            let fate = joined.unwrap_or_else(|err| SessionFate {
                id: "?".into(),
                fate: Fate::Failed,
                error: Some(err.to_string()),
            });
            progress(&fate, fates.len() + 1, total);
            fates.push(fate);
        }
        fates.sort_by(|a, b| a.id.cmp(&b.id));
        fates
    }
}

fn unknown(id: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::UnknownSession,
        format!("no session '{id}' (msbctl sessions list shows them)"),
    )
}

fn internal(err: std::io::Error) -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, format!("cannot generate an id: {err}"))
}

/// Forgets a session whose creation was abandoned before its sandbox was confirmed.
struct Creating<'a> {
    manager: &'a SessionManager,
    id: &'a str,
    done: bool,
}

impl Drop for Creating<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.manager.lock().sessions.remove(self.id);
        }
    }
}

/// Puts a session back as it was when its stop is abandoned half-way, so it is retried.
struct Stopping<'a> {
    manager: &'a SessionManager,
    id: &'a str,
    done: bool,
}

impl Drop for Stopping<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let timeout_ms = self.manager.timeout_ms();
        let mut registry = self.manager.lock();
        if let Some(session) = registry.sessions.get_mut(self.id) {
            session.stopping = false;
        }
        registry.index(self.id, timeout_ms);
    }
}

/// The `session-cleanup` task.
pub struct SessionCleanup(pub Arc<SessionManager>);

impl Task for SessionCleanup {
    fn name(&self) -> &'static str {
        msb_proto::TASK_NAMES[0]
    }

    fn run_cycle(
        self: Arc<Self>,
        ctx: CycleContext,
    ) -> BoxFuture<'static, Result<CycleResult, String>> {
        Box::pin(async move {
            let manager = self.0.clone();
            let expired = manager.expired(now_ms());
            let mut result = CycleResult::default();
            result.add("expired", expired.len() as u64);
            let (outcomes, interrupted) = ctx
                .for_each_bounded(expired, STOP_CONCURRENCY, |id| {
                    let manager = manager.clone();
                    async move { manager.stop_session(&id, manager.stop_grace, true).await }
                })
                .await;
            result.interrupted = interrupted;
            let mut errors = Vec::new();
            for outcome in outcomes {
                match outcome {
                    Ok(Some(_)) => {
                        result.processed += 1;
                        result.add("stopped", 1);
                    }
                    Ok(None) => result.add("skipped", 1),
                    Err(err) => errors.push(err.message),
                }
            }
            result.unless_failed(
                &errors,
                "expired session(s) could not be stopped and are kept for the next cycle",
            )
        })
    }
}
