//! How the session registry survives the daemon: touches are written in batches, and at
//! start-up the stored sessions are reconciled with the sandboxes that still run.

use super::SessionManager;
use crate::backend::SandboxInfo;
use crate::session::Session;
use crate::store::Change;
use msb_proto::SessionStatus;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Touches reach the store at most this late; a crash loses at most this much of them.
const TOUCH_BATCH: Duration = Duration::from_secs(1);
/// Adopted sandboxes taken in side by side at start-up.
const ADOPT_AT_ONCE: usize = 16;

impl SessionManager {
    /// Notes a touch; the writer stores it within a second.
    pub(super) fn touched(&self, id: &str) {
        self.touched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string());
        self.touch_pending.notify_one();
    }

    /// Queues the pending touches as one change; returns the sandboxes of the touched
    /// sessions that are up and not being stopped, for the backend to hear of.
    pub fn flush_touches(&self) -> Vec<String> {
        let ids: Vec<String> = self
            .touched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let state = self.lock();
        let touched: Vec<&Session> = ids.iter().filter_map(|id| state.registry.get(id)).collect();
        let rows = touched
            .iter()
            .map(|s| (s.id.clone(), s.last_accessed_ms))
            .collect();
        drop(self.store.keep(Change::Touch(rows)));
        touched
            .into_iter()
            .filter(|s| !s.stopping && s.status != SessionStatus::Creating)
            .map(|s| s.sandbox.clone())
            .collect()
    }

    /// Writes touches at most a second after they happen, and queues them for the backend
    /// (`tell_touches`); sleeps while there are none.
    pub async fn write_touches(self: Arc<Self>) {
        loop {
            self.touch_pending.notified().await;
            tokio::time::sleep(TOUCH_BATCH).await;
            let sandboxes = self.flush_touches();
            if sandboxes.is_empty() {
                continue;
            }
            self.untold
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(sandboxes);
            self.untold_pending.notify_one();
        }
    }

    /// Tells the backend of touched sessions' sandboxes, in one call for all that came since
    /// the last; sleeps while there are none.
    pub async fn tell_touches(self: Arc<Self>) {
        loop {
            self.untold_pending.notified().await;
            let sandboxes: Vec<String> = self
                .untold
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain()
                .collect();
            if sandboxes.is_empty() {
                continue;
            }
            if let Err(err) = self.backend.touch(sandboxes).await {
                tracing::warn!(error = %err, "the backend did not take the touches of sessions");
            }
        }
    }

    /// Takes in the stored sessions whose sandbox still runs (`running`), and watches those
    /// sandboxes' ends; the others are dropped from the store. Returns (adopted, lost).
    pub async fn restore(&self, stored: Vec<Session>, running: &[SandboxInfo]) -> (u64, u64) {
        let (mut adopted, mut lost) = (0, 0);
        let mut watch = Vec::new();
        let running: HashMap<&str, &SandboxInfo> =
            running.iter().map(|s| (s.name.as_str(), s)).collect();
        for mut session in stored {
            let sandbox = running.get(session.sandbox.as_str());
            match sandbox {
                Some(sandbox) => {
                    let mut state = self.lock();
                    if session.status == SessionStatus::Creating {
                        // Its create was cut short after the sandbox started.
                        session.status = SessionStatus::Ready;
                        drop(self.store.keep(Change::Put(session.clone())));
                    }
                    state.registry.insert(session);
                    watch.push((*sandbox).clone());
                    adopted += 1;
                }
                None => {
                    if session.status == SessionStatus::Creating {
                        tracing::info!(session = %session.id, "a create cut short by the previous daemon's end never started its sandbox; dropped");
                    } else {
                        tracing::warn!(session = %session.id, sandbox = %session.sandbox, "the sandbox ended while msbd was down; session stopped");
                        lost += 1;
                    }
                    drop(self.store.keep(Change::Delete(session.id)));
                }
            }
        }
        // Watched once they are registered, so an end that comes at once finds its session;
        // several at a time, since each may look at its sandbox's record and process.
        let mut adopting = tokio::task::JoinSet::new();
        for sandbox in watch {
            if adopting.len() >= ADOPT_AT_ONCE {
                adopting.join_next().await;
            }
            let backend = self.backend.clone();
            adopting.spawn(async move {
                if let Err(err) = backend.adopt(&sandbox).await {
                    tracing::warn!(sandbox = %sandbox.name, error = %err, "cannot watch an adopted sandbox");
                }
            });
        }
        while adopting.join_next().await.is_some() {}
        *self.restored.lock().unwrap_or_else(|e| e.into_inner()) = (adopted, lost);
        (adopted, lost)
    }

    /// (adopted, lost) sessions when the registry was restored at start-up.
    pub fn restored(&self) -> (u64, u64) {
        *self.restored.lock().unwrap_or_else(|e| e.into_inner())
    }
}
