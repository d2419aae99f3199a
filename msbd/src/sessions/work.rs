//! Work running in a session (commands, copies): while any runs, the session is
//! `processing`, out of the expiry index and never evicted; it is touched when work starts
//! and when it ends. A session takes a bounded number of commands at once.

use super::{owned_by, under_way, unknown, SessionError, SessionManager};
use crate::clock::now_ms;
use msb_proto::{Flavor, SessionStatus};
use std::sync::Arc;

/// One piece of work running in a session; the session is `processing` until every lease
/// is dropped.
pub struct WorkLease {
    manager: Arc<SessionManager>,
    pub id: String,
    pub sandbox: String,
    pub flavor: Flavor,
}

impl SessionManager {
    /// Starts work in session `id`, if it is ready for it and has fewer than `limit`
    /// commands running.
    pub fn begin_work(
        self: &Arc<Self>,
        id: &str,
        limit: u32,
        caller: Option<u32>,
    ) -> Result<WorkLease, SessionError> {
        let lease = {
            let mut state = self.lock();
            if state.ended.get(id).is_some() {
                return Err(SessionError::NotWorkable {
                    id: id.to_string(),
                    status: SessionStatus::Ended,
                });
            }
            let session = state.registry.get(id).ok_or_else(|| unknown(id))?;
            owned_by(session, caller)?;
            if let Some(conflict) = under_way(session) {
                return Err(conflict);
            }
            if !matches!(
                session.status,
                SessionStatus::Ready | SessionStatus::Running | SessionStatus::Processing
            ) {
                return Err(SessionError::NotWorkable {
                    id: id.to_string(),
                    status: session.status,
                });
            }
            if session.working >= limit {
                return Err(SessionError::TooMuchWork {
                    id: id.to_string(),
                    limit,
                });
            }
            let (sandbox, flavor) = (session.sandbox.clone(), session.flavor);
            let now = now_ms();
            state.registry.update(id, |s| {
                s.working += 1;
                s.last_accessed_ms = now;
            });
            WorkLease {
                manager: self.clone(),
                id: id.to_string(),
                sandbox,
                flavor,
            }
        };
        self.touched(id);
        Ok(lease)
    }

    fn end_work(&self, id: &str) {
        let now = now_ms();
        let ended = self.lock().registry.update(id, |s| {
            s.working = s.working.saturating_sub(1);
            s.last_accessed_ms = now;
        });
        if ended.is_some() {
            self.touched(id);
        }
    }
}

impl Drop for WorkLease {
    fn drop(&mut self) {
        self.manager.end_work(&self.id);
    }
}
