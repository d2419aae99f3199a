//! SessionManager: the session registry and what changes it: get-or-create, touch, busy
//! marks, stop, and the stops that eviction and expiry ask for.
//!
//! A session is removed only after its sandbox is confirmed stopped. A stop that fails leaves
//! the session in `error`, to be retried by the next cleanup cycle; a stop that is abandoned
//! half-way (its cycle was cut short) puts the session back as it was.

mod cleanup;
mod durable;
mod registry;

pub use cleanup::SessionCleanup;
pub use registry::{Registry, Session, Totals};

use crate::backend::{Backend, SandboxSpec, Stopped};
use crate::clock::now_ms;
use crate::ids::{random_hex, valid_session_id, SESSION_ID_RULE};
use crate::store::Store;
use crate::templates::{Templates, DEFAULT_TEMPLATE};
use msb_proto::{
    CreateSession, ErrorBody, ErrorCode, Fate, Flavor, SandboxDetails, SessionFate, SessionFilter,
    SessionInfo, SessionStatus,
};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// Touches reach the store at most this late; a crash loses at most this much of them.
const TOUCH_BATCH: Duration = Duration::from_secs(1);

/// Decides whether a new session of `Flavor` fits, and which idle sessions to evict so that
/// it does. Called with the registry locked.
pub type Admit<'a> = dyn FnOnce(&Registry, Flavor) -> Result<Vec<String>, ErrorBody> + Send + 'a;

pub struct SessionManager {
    /// A plain mutex: held for a few map operations, never across `.await`. When both are
    /// needed, the registry is locked before the store, so writes reach the store in the
    /// order they happened.
    registry: Mutex<Registry>,
    store: Arc<Store>,
    /// Sessions touched since the last batch was written to the store.
    touched: Mutex<HashSet<String>>,
    /// Wakes the touch writer when there is something to write.
    touch_pending: Notify,
    /// Sessions adopted at start-up whose sandbox is not our child: checked each cleanup
    /// cycle, since no exit event reports them.
    adopted: Mutex<HashSet<String>>,
    /// (adopted, lost) when the registry was restored at start-up.
    restored: Mutex<(u64, u64)>,
    backend: Arc<dyn Backend>,
    templates: Templates,
    /// How long a sandbox gets between SIGTERM and SIGKILL when its session is stopped.
    stop_grace: Duration,
    evictions: AtomicU64,
}

impl SessionManager {
    pub fn new(
        store: Arc<Store>,
        backend: Arc<dyn Backend>,
        templates: Templates,
        timeout: Duration,
        busy_timeout: Duration,
        stop_grace: Duration,
    ) -> Self {
        Self {
            registry: Mutex::new(Registry::new(
                timeout.as_millis() as u64,
                busy_timeout.as_millis() as u64,
            )),
            store,
            touched: Mutex::new(HashSet::new()),
            touch_pending: Notify::new(),
            adopted: Mutex::new(HashSet::new()),
            restored: Mutex::new((0, 0)),
            backend,
            templates,
            stop_grace,
            evictions: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn info(registry: &Registry, s: &Session) -> SessionInfo {
        let expires = registry.deadline(s).unwrap_or(u64::MAX);
        SessionInfo {
            id: s.id.clone(),
            template: s.template.clone(),
            flavor: s.flavor,
            status: s.status,
            sandbox: s.sandbox.clone(),
            created_at: s.created_at_ms / 1000,
            last_accessed: s.last_accessed_ms / 1000,
            expires_in_secs: expires.saturating_sub(now_ms()) / 1000,
            error: s.error.clone(),
            busy_since: s.busy_since_ms.map(|ms| ms / 1000),
            details: None,
        }
    }

    /// The public view of session `id` as `registry` holds it.
    fn info_in(registry: &Registry, id: &str) -> Result<SessionInfo, ErrorBody> {
        registry
            .get(id)
            .map(|s| Self::info(registry, s))
            .ok_or_else(|| unknown(id))
    }

    fn info_of(&self, id: &str) -> Result<SessionInfo, ErrorBody> {
        Self::info_in(&self.lock(), id)
    }

    pub fn totals(&self) -> Totals {
        self.lock().totals()
    }

    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// True when `sandbox` is the sandbox of the live session `session_id`.
    pub fn owns(&self, session_id: &str, sandbox: &str) -> bool {
        self.lock()
            .get(session_id)
            .is_some_and(|s| s.sandbox == sandbox)
    }

    /// Sessions matching `filter`, least recently accessed first.
    pub fn list(&self, filter: &SessionFilter) -> Vec<SessionInfo> {
        let now = now_ms();
        let registry = self.lock();
        let mut list: Vec<&Session> = registry
            .iter()
            .filter(|s| filter.status.is_none_or(|status| s.status == status))
            .filter(|s| filter.template.as_ref().is_none_or(|t| &s.template == t))
            .filter(|s| {
                filter
                    .idle_longer_than_ms
                    .is_none_or(|ms| now.saturating_sub(s.last_accessed_ms) > ms)
            })
            .collect();
        list.sort_by(|a, b| {
            a.last_accessed_ms
                .cmp(&b.last_accessed_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        list.into_iter().map(|s| Self::info(&registry, s)).collect()
    }

    /// Everything known about one session, its sandbox as the backend sees it included.
    pub async fn show(&self, id: &str) -> Result<SessionInfo, ErrorBody> {
        let mut info = self.info_of(id)?;
        let state = self.backend.inspect(&info.sandbox).await;
        info.details = Some(SandboxDetails {
            running: state.running,
            pid: state.pid,
            workdir: state.workdir.map(|p| p.display().to_string()),
            isolation: state.isolation,
            cpus: info.flavor.cpus(),
            memory_mb: info.flavor.memory_mb(),
        });
        Ok(info)
    }

    pub fn touch(&self, id: &str) -> Result<SessionInfo, ErrorBody> {
        let info = {
            let mut registry = self.lock();
            registry
                .update(id, |s| s.last_accessed_ms = now_ms())
                .ok_or_else(|| unknown(id))?;
            Self::info_in(&registry, id)?
        };
        self.touched(id);
        Ok(info)
    }

    /// Marks a session busy (`processing`: never expired or evicted until the mark is lifted
    /// or lapses) or idle again. Marking a busy session busy again renews the mark. A mark is
    /// not an access: a session past its timeout when marked idle expires at the next cycle.
    pub fn mark(&self, id: &str, busy: bool) -> Result<SessionInfo, ErrorBody> {
        let mut registry = self.lock();
        let status = registry.get(id).ok_or_else(|| unknown(id))?.status;
        if matches!(status, SessionStatus::Creating | SessionStatus::Stopped)
            || registry.get(id).is_some_and(|s| s.stopping)
        {
            return Err(ErrorBody::new(
                ErrorCode::InvalidArgument,
                format!("session '{id}' is {status} and cannot be marked"),
            ));
        }
        let now = now_ms();
        registry.update(id, |s| {
            if busy {
                s.status = SessionStatus::Processing;
                s.busy_since_ms = Some(now);
            } else if s.status == SessionStatus::Processing {
                s.status = SessionStatus::Ready;
                s.busy_since_ms = None;
            }
        });
        tracing::debug!(session = id, busy, "session marked");
        let info = Self::info_in(&registry, id)?;
        self.commit(registry, id)?;
        Ok(info)
    }

    /// Gets or creates a session. An id that exists and has not expired returns that session,
    /// touched; an expired one is replaced by a fresh session. `admit` decides whether the
    /// new session fits and which idle sessions are evicted to make room.
    pub async fn create(
        &self,
        request: CreateSession,
        default_flavor: Flavor,
        admit: Box<Admit<'_>>,
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
        if let Some(existing) = self.existing(&id).await? {
            return Ok(existing);
        }
        let sandbox = format!("msb-{id}-{}", random_hex(3).map_err(internal)?);
        let now = now_ms();
        let victims = {
            let mut registry = self.lock();
            if registry.get(&id).is_some() {
                return Err(ErrorBody::new(
                    ErrorCode::InvalidArgument,
                    format!("session '{id}' is being created by another request"),
                ));
            }
            let victims = admit(&registry, flavor)?;
            let victims: Vec<(String, String)> = victims
                .into_iter()
                .filter_map(|v| {
                    registry.update(&v, |s| {
                        s.stopping = true;
                        (v.clone(), s.sandbox.clone())
                    })
                })
                .collect();
            registry.insert(Session {
                id: id.clone(),
                template,
                flavor,
                status: SessionStatus::Creating,
                sandbox: sandbox.clone(),
                created_at_ms: now,
                last_accessed_ms: now,
                busy_since_ms: None,
                error: None,
                stopping: false,
            });
            victims
        };
        // If this future is dropped mid-way, the guard forgets the half-made session.
        let mut guard = Creating {
            manager: self,
            id: &id,
            done: false,
        };
        let mut victims = victims.into_iter();
        while let Some((victim, victim_sandbox)) = victims.next() {
            if let Err(err) = self
                .finish_stop(&victim, &victim_sandbox, self.stop_grace)
                .await
            {
                // The others were marked for eviction too: they go back to being idle.
                let mut registry = self.lock();
                for (other, _) in victims {
                    registry.update(&other, |s| s.stopping = false);
                }
                return Err(ErrorBody::new(
                    err.code,
                    format!(
                        "could not evict session '{victim}' to make room: {}",
                        err.message
                    ),
                ));
            }
            self.evictions.fetch_add(1, Ordering::Relaxed);
            tracing::info!(evicted = %victim, for_session = %id, "evicted the least recently used idle session to make room");
        }
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
                registry.update(&id, |s| s.status = SessionStatus::Ready);
                tracing::info!(session = %id, sandbox = %sandbox, "session created");
                let info = Self::info_in(&registry, &id)?;
                self.commit(registry, &id)?;
                Ok(info)
            }
            Err(err) => {
                registry.remove(&id);
                Err(ErrorBody::new(ErrorCode::Backend, err.to_string()))
            }
        }
    }

    /// The get of get-or-create: a live session with this id, touched; `None` when there is
    /// none. An expired one is stopped first, to be replaced.
    async fn existing(&self, id: &str) -> Result<Option<SessionInfo>, ErrorBody> {
        {
            let now = now_ms();
            let mut registry = self.lock();
            let Some(session) = registry.get(id) else {
                return Ok(None);
            };
            if session.stopping || session.status == SessionStatus::Creating {
                let doing = if session.stopping {
                    "stopped"
                } else {
                    "created"
                };
                return Err(ErrorBody::new(
                    ErrorCode::InvalidArgument,
                    format!("session '{id}' is being {doing}; try again"),
                ));
            }
            if registry.deadline(session).is_none_or(|d| d > now) {
                registry.update(id, |s| s.last_accessed_ms = now);
                let info = Self::info_in(&registry, id)?;
                drop(registry);
                self.touched(id);
                return Ok(Some(info));
            }
        }
        tracing::info!(session = id, "replacing an expired session");
        self.stop(id).await?;
        Ok(None)
    }

    /// Marks the session as stopping and returns its sandbox. With `only_if_due`, a session
    /// that is no longer due (touched meanwhile) is left alone (`Ok(None)`).
    fn begin_stop(&self, id: &str, only_if_due: bool) -> Result<Option<String>, ErrorBody> {
        let mut registry = self.lock();
        let session = registry.get(id).ok_or_else(|| unknown(id))?;
        if only_if_due && registry.deadline(session).is_none_or(|d| d > now_ms()) {
            return Ok(None);
        }
        if session.stopping {
            return Err(ErrorBody::new(
                ErrorCode::InvalidArgument,
                format!("session '{id}' is already being stopped"),
            ));
        }
        if session.status == SessionStatus::Creating {
            return Err(ErrorBody::new(
                ErrorCode::InvalidArgument,
                format!("session '{id}' is still being created"),
            ));
        }
        Ok(registry.update(id, |s| {
            s.stopping = true;
            s.sandbox.clone()
        }))
    }

    /// Stops the sandbox of a session marked stopping, then removes the session; on failure
    /// the session stays, in `error`.
    async fn finish_stop(
        &self,
        id: &str,
        sandbox: &str,
        grace: Duration,
    ) -> Result<(SessionInfo, Stopped), ErrorBody> {
        let mut guard = Stopping {
            manager: self,
            id,
            done: false,
        };
        let result = self.backend.stop(sandbox, grace).await;
        guard.done = true;
        let mut registry = self.lock();
        match result {
            Ok(stopped) => {
                let mut session = registry.remove(id).ok_or_else(|| unknown(id))?;
                session.status = SessionStatus::Stopped;
                tracing::info!(session = %id, sandbox = %sandbox, how = ?stopped, "session stopped");
                let info = Self::info(&registry, &session);
                self.commit(registry, id)?;
                Ok((info, stopped))
            }
            Err(err) => {
                registry.update(id, |s| {
                    s.stopping = false;
                    s.status = SessionStatus::Error;
                    s.error = Some(err.to_string());
                });
                tracing::warn!(session = %id, error = %err, "could not stop the sandbox; session kept");
                self.commit(registry, id)?;
                Err(ErrorBody::new(ErrorCode::Backend, err.to_string()))
            }
        }
    }

    pub async fn stop(&self, id: &str) -> Result<SessionInfo, ErrorBody> {
        let sandbox = self.begin_stop(id, false)?.ok_or_else(|| unknown(id))?;
        Ok(self.finish_stop(id, &sandbox, self.stop_grace).await?.0)
    }

    /// Ends the session of a sandbox that ended by itself (not through a stop of ours) and
    /// releases what the sandbox left; true when there was such a session.
    pub async fn sandbox_ended(&self, session_id: &str, sandbox: &str) -> bool {
        let ours = {
            let mut registry = self.lock();
            let ours = registry.get(session_id).is_some_and(|s| {
                s.sandbox == sandbox && !s.stopping && s.status != SessionStatus::Creating
            });
            if ours {
                registry.remove(session_id);
                tracing::warn!(
                    session = session_id,
                    sandbox,
                    "the sandbox exited on its own; session stopped"
                );
                // A failed write is logged by commit; nobody waits for this answer.
                let _ = self.commit(registry, session_id);
            }
            ours
        };
        // What the sandbox left behind (record, working directory, cgroups) goes too: that is
        // what stopping a sandbox that has ended does.
        if ours {
            let _ = self.backend.stop(sandbox, Duration::ZERO).await;
        }
        ours
    }

    /// The fates of a shutdown that leaves every sandbox running for the next daemon.
    pub fn keep_all(&self) -> Vec<SessionFate> {
        let mut fates: Vec<SessionFate> = self
            .lock()
            .iter()
            .map(|s| SessionFate {
                id: s.id.clone(),
                fate: Fate::Kept,
                error: None,
            })
            .collect();
        fates.sort_by(|a, b| a.id.cmp(&b.id));
        fates
    }

    /// Stops every session for shutdown: all sandboxes are asked at once, and those still
    /// running at the deadline are killed. `progress` hears of each as it ends.
    pub async fn stop_all(
        self: &Arc<Self>,
        grace: Duration,
        mut progress: impl FnMut(&SessionFate, usize, usize),
    ) -> Vec<SessionFate> {
        let ids: Vec<String> = self.lock().iter().map(|s| s.id.clone()).collect();
        let total = ids.len();
        let mut running = tokio::task::JoinSet::new();
        for id in ids {
            let manager = self.clone();
            running.spawn(async move {
                let stopped = match manager.begin_stop(&id, false) {
                    Ok(Some(sandbox)) => manager
                        .finish_stop(&id, &sandbox, grace)
                        .await
                        .map(|(_, how)| how),
                    Ok(None) => Err(unknown(&id)),
                    Err(err) => Err(err),
                };
                let (fate, error) = match stopped {
                    Ok(Stopped::Killed) => (Fate::Killed, None),
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
            self.manager.lock().remove(self.id);
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
        if !self.done {
            self.manager.lock().update(self.id, |s| s.stopping = false);
        }
    }
}
