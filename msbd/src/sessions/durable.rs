//! How the session registry survives the daemon: every change is written to the store
//! before it is acknowledged, touches in batches, and at start-up the stored sessions are
//! reconciled with the sandboxes that still run.

use super::{Registry, SessionManager, TOUCH_BATCH};
use crate::backend::SandboxInfo;
use crate::store::{Store, StoreError};
use msb_proto::{ErrorBody, ErrorCode, SessionStatus};
use std::collections::HashSet;
use std::sync::{Arc, MutexGuard};

impl SessionManager {
    /// Writes session `id` as the registry now holds it (or its deletion, if it is gone) to
    /// the store, before the caller acknowledges the change.
    pub(super) fn commit(
        &self,
        registry: MutexGuard<'_, Registry>,
        id: &str,
    ) -> Result<(), ErrorBody> {
        let row = registry.get(id).cloned();
        let conn = self.store.lock();
        drop(registry);
        match &row {
            Some(session) => Store::put(&conn, session),
            None => Store::delete(&conn, id),
        }
        .map_err(|err| {
            tracing::error!(session = id, error = %err, store = %self.store.path().display(), "cannot write the session store");
            ErrorBody::new(
                ErrorCode::Internal,
                format!("cannot write the session store {}: {err}", self.store.path().display()),
            )
        })
    }

    /// Notes a touch; the writer stores it within a second.
    pub(super) fn touched(&self, id: &str) {
        self.touched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string());
        self.touch_pending.notify_one();
    }

    /// Writes the pending touches in one transaction.
    pub fn flush_touches(&self) {
        let ids: Vec<String> = self
            .touched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        if ids.is_empty() {
            return;
        }
        let rows: Vec<(String, u64)> = {
            let registry = self.lock();
            ids.into_iter()
                .filter_map(|id| registry.get(&id).map(|s| (id, s.last_accessed_ms)))
                .collect()
        };
        if let Err(err) = self.store.touch_many(&rows) {
            tracing::error!(error = %err, "cannot write last-access times");
        }
    }

    /// Writes touches at most a second after they happen; sleeps while there are none.
    pub async fn write_touches(self: Arc<Self>) {
        loop {
            self.touch_pending.notified().await;
            tokio::time::sleep(TOUCH_BATCH).await;
            self.flush_touches();
        }
    }

    /// Loads the stored sessions and keeps those whose sandbox still runs (`running`); the
    /// others are dropped from the store and reported. Returns (adopted, lost).
    pub fn restore(&self, running: &[SandboxInfo]) -> Result<(u64, u64), StoreError> {
        let running: HashSet<&str> = running.iter().map(|s| s.name.as_str()).collect();
        let (mut adopted, mut lost) = (0, 0);
        for mut session in self.store.sessions()? {
            if running.contains(session.sandbox.as_str()) {
                if session.status == SessionStatus::Creating {
                    session.status = SessionStatus::Ready;
                }
                self.adopted
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(session.id.clone());
                self.lock().insert(session);
                adopted += 1;
            } else {
                tracing::warn!(session = %session.id, sandbox = %session.sandbox, "the sandbox ended while msbd was down; session stopped");
                Store::delete(&self.store.lock(), &session.id).map_err(self.store.write_err())?;
                lost += 1;
            }
        }
        *self.restored.lock().unwrap_or_else(|e| e.into_inner()) = (adopted, lost);
        Ok((adopted, lost))
    }

    /// (adopted, lost) sessions when the registry was restored at start-up.
    pub fn restored(&self) -> (u64, u64) {
        *self.restored.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the sessions of adopted sandboxes that are no longer running; returns how many.
    pub async fn check_adopted(&self) -> u64 {
        let ids: Vec<String> = self
            .adopted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        let mut ended = 0;
        for id in ids {
            let sandbox = self.lock().get(&id).map(|s| s.sandbox.clone());
            let keep = match sandbox {
                Some(sandbox) if !self.backend.inspect(&sandbox).await.running => {
                    ended += u64::from(self.sandbox_ended(&id, &sandbox).await);
                    false
                }
                Some(_) => true,
                None => false,
            };
            if !keep {
                self.adopted
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
            }
        }
        ended
    }
}
