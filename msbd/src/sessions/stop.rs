//! Stopping sessions: one on request, and all of them at shutdown, where every session gets
//! exactly one fate.

use super::{under_way, unknown, SessionError, SessionManager};
use crate::backend::Stopped;
use crate::deadline::Deadline;
use crate::store::Change;
use msb_proto::{EventKind, Fate, SessionFate, SessionInfo, SessionStatus};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

/// How long after its deadline a shutdown still waits for creates and stops under way.
const SETTLE_AFTER_DEADLINE: Duration = Duration::from_secs(6);

/// Why a session is stopped, as the event of its stop says.
#[derive(Debug, Clone)]
pub(super) enum Cause {
    /// On request, or by a shutdown.
    Asked,
    Expired,
    Evicted {
        for_session: String,
    },
}

impl Cause {
    fn event(self, session_id: String, fate: Fate) -> EventKind {
        match self {
            Self::Asked => EventKind::SessionStopped { session_id, fate },
            Self::Expired => EventKind::SessionExpired { session_id, fate },
            Self::Evicted { for_session } => EventKind::SessionEvicted {
                session_id,
                for_session,
                fate,
            },
        }
    }
}

/// `Stopped` as the fate a client sees.
fn fate_of(how: Stopped) -> Fate {
    match how {
        Stopped::Killed => Fate::Killed,
        Stopped::Graceful | Stopped::Gone => Fate::Stopped,
    }
}

impl SessionManager {
    /// Marks the session as stopping and returns its sandbox. With `only_if_due`, a session
    /// that is no longer due (touched meanwhile) is left alone (`Ok(None)`).
    pub(super) fn begin_stop(
        &self,
        id: &str,
        only_if_due: bool,
    ) -> Result<Option<String>, SessionError> {
        let mut state = self.lock();
        let session = state.registry.get(id).ok_or_else(|| unknown(id))?;
        if only_if_due
            && state
                .registry
                .deadline(session)
                .is_none_or(|d| d > crate::clock::now_ms())
        {
            return Ok(None);
        }
        if let Some(conflict) = under_way(session) {
            return Err(conflict);
        }
        Ok(state.registry.update(id, |s| {
            s.stopping = true;
            s.sandbox.clone()
        }))
    }

    /// Stops the sandbox of a session marked stopping, then removes the session; on failure
    /// the session stays, in `error`. Runs to its end in a task of its own, whatever happens
    /// to the caller.
    pub(super) async fn finish_stop(
        self: &Arc<Self>,
        id: &str,
        sandbox: &str,
        deadline: Deadline,
        cause: Cause,
    ) -> Result<(SessionInfo, Stopped), SessionError> {
        let manager = self.clone();
        let (id, sandbox) = (id.to_string(), sandbox.to_string());
        tokio::spawn(async move { manager.stop_sandbox(&id, &sandbox, deadline, cause).await })
            .await
            .map_err(|err| SessionError::Internal {
                what: "stop a session",
                detail: err.to_string(),
            })?
    }

    /// The stop itself; see `finish_stop`.
    pub(super) async fn stop_sandbox(
        &self,
        id: &str,
        sandbox: &str,
        deadline: Deadline,
        cause: Cause,
    ) -> Result<(SessionInfo, Stopped), SessionError> {
        let result = self.backend.stop(sandbox, deadline).await;
        let outcome = {
            let mut state = self.lock();
            let (outcome, fate) = match result {
                Ok(how) => {
                    let mut session = state.registry.remove(id).ok_or_else(|| unknown(id))?;
                    session.status = SessionStatus::Stopped;
                    tracing::info!(session = %id, sandbox, ?how, "session stopped");
                    self.events.emit(cause.event(id.to_string(), fate_of(how)));
                    let mut info = Self::info(&state.registry, &session);
                    info.fate = Some(fate_of(how));
                    // The sandbox is gone whatever the disk says: kept, and written as soon
                    // as the store takes writes.
                    drop(self.store.keep(Change::Delete(id.to_string())));
                    (Ok((info, how)), (fate_of(how), None))
                }
                Err(source) => {
                    let message = source.to_string();
                    state.registry.update(id, |s| {
                        s.stopping = false;
                        s.status = SessionStatus::Error;
                        s.error = Some(message.clone());
                    });
                    tracing::warn!(session = %id, error = %message, "could not stop the sandbox; session kept");
                    if let Some(row) = state.registry.get(id).cloned() {
                        drop(self.store.keep(Change::Put(row)));
                    }
                    (
                        Err(SessionError::Backend {
                            id: id.to_string(),
                            source,
                        }),
                        (Fate::Failed, Some(message)),
                    )
                }
            };
            if let Some(fates) = &state.closing {
                let _ = fates.send(SessionFate {
                    id: id.to_string(),
                    fate: fate.0,
                    error: fate.1,
                });
            }
            outcome
        };
        self.settled.notify_waiters();
        outcome
    }

    /// Stops a session's sandbox and removes the session; the answer says how it ended. An
    /// ended session is forgotten, with its log.
    pub async fn stop(self: &Arc<Self>, id: &str) -> Result<SessionInfo, SessionError> {
        self.stop_for(id, Cause::Asked).await
    }

    /// `stop`, for `cause`.
    pub(super) async fn stop_for(
        self: &Arc<Self>,
        id: &str,
        cause: Cause,
    ) -> Result<SessionInfo, SessionError> {
        let sandbox = match self.begin_stop(id, false) {
            Err(SessionError::Unknown { .. }) => {
                return self.forget(id).await.ok_or_else(|| unknown(id));
            }
            begun => begun?.ok_or_else(|| unknown(id))?,
        };
        let deadline = self.hurry.after(self.stop_grace());
        Ok(self.finish_stop(id, &sandbox, deadline, cause).await?.0)
    }

    /// Closes the registry for a shutdown: no session is admitted from now on, and the fate
    /// of every stop that ends (whoever started it) comes through the returned receiver.
    pub fn close(&self) -> mpsc::UnboundedReceiver<SessionFate> {
        let (fates, ledger) = mpsc::unbounded_channel();
        self.lock().closing = Some(fates);
        ledger
    }

    /// Stops every session for a shutdown closed by `close`: the creates and stops already
    /// under way finish (stops hurried to `until`), every other session is stopped with the
    /// deadline `until`, and each session gets exactly one fate. `progress` hears of each.
    pub async fn stop_all(
        self: &Arc<Self>,
        mut ledger: mpsc::UnboundedReceiver<SessionFate>,
        until: Instant,
        mut progress: impl FnMut(&SessionFate, usize, usize),
    ) -> Vec<SessionFate> {
        let mut fates = BTreeMap::new();
        let mut attempted = HashSet::new();
        // Our stops that failed: their sessions stay, in error, and are not tried again.
        let mut failed = HashSet::new();
        let mut ours = tokio::task::JoinSet::new();
        let total = self.lock().registry.len();
        let give_up = until + SETTLE_AFTER_DEADLINE;
        loop {
            let settled = self.settled.notified();
            let (start, busy) = {
                let mut state = self.lock();
                let registry = &mut state.registry;
                // Sessions nobody works on, beside our failed ones, are new to stop (creates
                // that finished). Looked for only when there are some: no scan per fate.
                let idle = registry.len() - registry.in_flight();
                let start: Vec<(String, String)> = if idle > failed.len() {
                    registry
                        .iter()
                        .filter(|s| {
                            !s.stopping
                                && s.status != SessionStatus::Creating
                                && !attempted.contains(&s.id)
                        })
                        .map(|s| (s.id.clone(), s.sandbox.clone()))
                        .collect()
                } else {
                    Vec::new()
                };
                for (id, _) in &start {
                    registry.update(id, |s| s.stopping = true);
                }
                (start, registry.in_flight())
            };
            let started = !start.is_empty();
            for (id, sandbox) in start {
                attempted.insert(id.clone());
                let manager = self.clone();
                let deadline = self.hurry.at(until);
                ours.spawn(async move {
                    let _ = manager
                        .stop_sandbox(&id, &sandbox, deadline, Cause::Asked)
                        .await;
                });
            }
            if busy == 0 && !started && ledger.is_empty() {
                break;
            }
            tokio::select! {
                Some(fate) = ledger.recv() => {
                    if fate.fate == Fate::Failed && attempted.contains(&fate.id) {
                        failed.insert(fate.id.clone());
                    } else {
                        failed.remove(&fate.id);
                    }
                    progress(&fate, fates.len() + 1, total.max(fates.len() + 1));
                    fates.insert(fate.id.clone(), fate);
                }
                () = settled => {}
                () = sleep_until(give_up) => {
                    self.give_up(&mut fates);
                    break;
                }
            }
        }
        fates.into_values().collect()
    }

    /// Whatever is still under way when a shutdown gives up waiting gets a failed fate.
    fn give_up(&self, fates: &mut BTreeMap<String, SessionFate>) {
        let state = self.lock();
        for s in state.registry.iter() {
            let doing = if s.stopping { "stopped" } else { "created" };
            fates.entry(s.id.clone()).or_insert_with(|| {
                tracing::error!(session = %s.id, "still being {doing} when the shutdown stopped waiting");
                SessionFate {
                    id: s.id.clone(),
                    fate: Fate::Failed,
                    error: Some(format!(
                        "still being {doing} when the shutdown stopped waiting"
                    )),
                }
            });
        }
    }

    /// The fates of a shutdown that leaves every sandbox running for the next daemon: the
    /// creates and stops under way finish first (until `until`), and what remains is kept.
    pub async fn keep_all(
        &self,
        mut ledger: mpsc::UnboundedReceiver<SessionFate>,
        until: Instant,
    ) -> Vec<SessionFate> {
        let mut fates = BTreeMap::new();
        loop {
            let settled = self.settled.notified();
            while let Ok(fate) = ledger.try_recv() {
                fates.insert(fate.id.clone(), fate);
            }
            if self.lock().registry.in_flight() == 0 {
                break;
            }
            tokio::select! {
                () = settled => {}
                () = sleep_until(until) => break,
            }
        }
        while let Ok(fate) = ledger.try_recv() {
            fates.insert(fate.id.clone(), fate);
        }
        let state = self.lock();
        for s in state.registry.iter() {
            fates.entry(s.id.clone()).or_insert_with(|| SessionFate {
                id: s.id.clone(),
                fate: Fate::Kept,
                error: None,
            });
        }
        fates.into_values().collect()
    }
}
