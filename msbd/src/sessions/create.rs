//! Get-or-create: admission under the limits (with eviction), the stored intent, the
//! sandbox, and taking everything back when a step fails.

use super::ended::describe;
use super::stop::Cause;
use super::{owned_by, under_way, unknown, Admit, SessionError, SessionManager};
use crate::backend::SandboxSpec;
use crate::clock::now_ms;
use crate::ids::{random_hex, valid_session_id};
use crate::labels;
use crate::session::Session;
use crate::store::{Change, StoreError};
use crate::templates::DEFAULT_TEMPLATE;
use msb_proto::{CreateSession, EventKind, Flavor, SessionInfo, SessionStatus};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl SessionManager {
    /// Gets or creates a session. An id that exists and has not expired returns that session,
    /// touched; an expired one is replaced by a fresh session. `admit` decides whether the
    /// new session fits and which idle sessions are evicted to make room. The labels are
    /// those of a session this call makes; an existing session keeps its own.
    pub async fn create(
        self: &Arc<Self>,
        request: CreateSession,
        default_flavor: Flavor,
        admit: Box<Admit<'_>>,
        owner: Option<u32>,
    ) -> Result<SessionInfo, SessionError> {
        labels::check(&request.labels)?;
        let template = request
            .template
            .unwrap_or_else(|| DEFAULT_TEMPLATE.to_string());
        let chosen = {
            let tunables = self.tunables();
            tunables
                .templates
                .get(&template)
                .ok_or_else(|| SessionError::UnknownTemplate {
                    name: template.clone(),
                    known: tunables.templates.names(),
                })?
        };
        let flavor = request.flavor.unwrap_or(default_flavor);
        let id = match request.id {
            Some(id) if valid_session_id(&id) => id,
            Some(id) => return Err(SessionError::InvalidId { id }),
            None => format!("s-{}", random_hex(5).map_err(id_error)?),
        };
        if let Some(existing) = self.existing(&id, owner).await? {
            return Ok(existing);
        }
        let sandbox = format!("msb-{id}-{}", random_hex(3).map_err(id_error)?);
        let spec = SandboxSpec {
            name: sandbox.clone(),
            session_id: id.clone(),
            template: template.clone(),
            command: chosen.command,
            options: chosen.options,
            flavor,
            idle_limit: self.idle_limit(),
        };
        // Before anything is stored or evicted for a sandbox that cannot be made.
        self.backend
            .admits(&spec)
            .map_err(|source| SessionError::Backend {
                id: id.clone(),
                source,
            })?;
        let now = now_ms();
        let session = Session {
            id: id.clone(),
            template,
            flavor,
            status: SessionStatus::Creating,
            sandbox: sandbox.clone(),
            created_at_ms: now,
            last_accessed_ms: now,
            busy_since_ms: None,
            error: None,
            owner,
            labels: request.labels,
            stopping: false,
            working: 0,
        };
        let (victims, stored) = {
            let mut state = self.lock();
            if state.closing.is_some() {
                return Err(SessionError::ShuttingDown);
            }
            if state.registry.get(&id).is_some() {
                return Err(SessionError::Conflict {
                    id,
                    doing: "created",
                });
            }
            let victims = admit(&state.registry, flavor)?;
            let victims: Vec<(String, String)> = victims
                .into_iter()
                .filter_map(|v| {
                    state.registry.update(&v, |s| {
                        s.stopping = true;
                        (v.clone(), s.sandbox.clone())
                    })
                })
                .collect();
            state.registry.insert(session.clone());
            // The intent is stored before anything is made, so a daemon that dies half-way
            // finds the sandbox again, or knows it never ran.
            (victims, self.store.write(Change::Put(session)))
        };
        // The rest runs to its end in a task of its own, even if the caller goes away.
        let manager = self.clone();
        tokio::spawn(async move { manager.build(spec, victims, stored).await })
            .await
            .map_err(|err| SessionError::Internal {
                what: "create a session",
                detail: err.to_string(),
            })?
    }

    /// The get of get-or-create: a live session with this id, touched; `None` when there is
    /// none. An expired or ended one is stopped or forgotten first, to be replaced.
    async fn existing(
        self: &Arc<Self>,
        id: &str,
        caller: Option<u32>,
    ) -> Result<Option<SessionInfo>, SessionError> {
        if self.forget(id).await.is_some() {
            tracing::info!(session = id, "replacing an ended session");
            return Ok(None);
        }
        {
            let now = now_ms();
            let mut state = self.lock();
            let Some(session) = state.registry.get(id) else {
                return Ok(None);
            };
            owned_by(session, caller)?;
            if let Some(conflict) = under_way(session) {
                return Err(conflict);
            }
            if state.registry.deadline(session).is_none_or(|d| d > now) {
                state.registry.update(id, |s| s.last_accessed_ms = now);
                let info = Self::info_in(&state.registry, id)?;
                drop(state);
                self.touched(id);
                return Ok(Some(info));
            }
        }
        tracing::info!(session = id, "replacing an expired session");
        self.stop_for(id, Cause::Expired).await?;
        Ok(None)
    }

    /// Evicts, starts the sandbox and makes the session ready; on failure takes back
    /// whatever was done.
    async fn build(
        self: Arc<Self>,
        spec: SandboxSpec,
        victims: Vec<(String, String)>,
        stored: impl Future<Output = Result<(), StoreError>>,
    ) -> Result<SessionInfo, SessionError> {
        let id = spec.session_id.clone();
        if let Err(source) = stored.await {
            self.abandon(&id, &victims, false);
            return Err(SessionError::Store { id, source });
        }
        let mut evictions = tokio::task::JoinSet::new();
        for (victim, sandbox) in victims {
            let manager = self.clone();
            let deadline = self.hurry.after(self.stop_grace());
            let cause = Cause::Evicted {
                for_session: id.clone(),
            };
            evictions.spawn(async move {
                let stopped = manager
                    .stop_sandbox(&victim, &sandbox, deadline, cause)
                    .await;
                (victim, stopped)
            });
        }
        let mut failed = None;
        while let Some(joined) = evictions.join_next().await {
            match joined {
                Ok((victim, Ok(_))) => {
                    self.evictions.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(evicted = %victim, for_session = %id, "evicted the least recently used idle session to make room");
                }
                Ok((victim, Err(err))) => {
                    failed.get_or_insert(SessionError::Evict {
                        victim,
                        source: Box::new(err),
                    });
                }
                Err(err) => {
                    failed.get_or_insert(SessionError::Internal {
                        what: "evict a session",
                        detail: err.to_string(),
                    });
                }
            }
        }
        if let Some(err) = failed {
            self.abandon(&id, &[], true);
            return Err(err);
        }
        let sandbox = spec.name.clone();
        if let Err(source) = self.backend.create(spec).await {
            self.abandon(&id, &[], true);
            return Err(SessionError::Backend { id, source });
        }
        self.ready(&id, &sandbox).await
    }

    /// The sandbox runs: the session is ready. Its stored intent already lets a restarted
    /// daemon adopt it, so the new status is kept even while the store fails.
    async fn ready(&self, id: &str, sandbox: &str) -> Result<SessionInfo, SessionError> {
        let exit = {
            let mut state = self.lock();
            let Some(exit) = state.ended_while_creating.remove(id) else {
                state
                    .registry
                    .update(id, |s| s.status = SessionStatus::Ready);
                let row = state.registry.get(id).cloned().ok_or_else(|| unknown(id))?;
                let info = Self::info_in(&state.registry, id)?;
                self.events.emit(EventKind::SessionCreated {
                    session_id: row.id.clone(),
                    template: row.template.clone(),
                    flavor: row.flavor,
                    owner: row.owner,
                });
                drop(self.store.keep(Change::Put(row)));
                drop(state);
                self.settled.notify_waiters();
                tracing::info!(session = %id, sandbox, "session created");
                return Ok(info);
            };
            exit
        };
        // Its end was reported while it was still being created; what it left is released.
        self.abandon(id, &[], true);
        self.backend.discard(sandbox).await;
        let mut how = describe(&exit);
        if let Some(line) = exit.log_tail.last() {
            how.push_str(&format!(", last line: {line}"));
        }
        Err(SessionError::ExitedAtStart {
            id: id.to_string(),
            how,
        })
    }

    /// Takes back a create: the victims not yet stopped become idle again, and the session
    /// goes (from the store too, if its intent was stored).
    fn abandon(&self, id: &str, victims: &[(String, String)], stored: bool) {
        {
            let mut state = self.lock();
            for (victim, _) in victims {
                state.registry.update(victim, |s| s.stopping = false);
            }
            state.registry.remove(id);
            state.ended_while_creating.remove(id);
            if stored {
                drop(self.store.keep(Change::Delete(id.to_string())));
            }
        }
        self.settled.notify_waiters();
    }
}

fn id_error(err: std::io::Error) -> SessionError {
    SessionError::Internal {
        what: "generate an id",
        detail: err.to_string(),
    }
}
