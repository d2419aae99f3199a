//! A session's sandbox log, for the `Logs` stream: opened for a live or an ended session, and
//! whether the session still runs that sandbox, so a follower knows when nothing more comes.

use super::{unknown, SessionError, SessionManager};
use crate::backend::log::Follow;

/// A session's log, opened.
pub struct SessionLog {
    pub sandbox: String,
    /// At the end of what is kept, for what comes after.
    pub reader: Box<dyn Follow>,
    /// What is kept of it (the last `log::LIMIT` bytes).
    pub kept: Vec<u8>,
    /// Its sandbox has ended: nothing more will be written.
    pub ended: bool,
}

impl SessionManager {
    /// Opens the log of session `id`, live or ended.
    pub async fn open_log(&self, id: &str) -> Result<SessionLog, SessionError> {
        let (sandbox, ended) = {
            let state = self.lock();
            match state.registry.get(id) {
                Some(s) => (s.sandbox.clone(), false),
                None => state
                    .ended
                    .get(id)
                    .map(|e| (e.session().sandbox.clone(), true))
                    .ok_or_else(|| unknown(id))?,
            }
        };
        let (reader, kept) =
            self.backend
                .open_log(&sandbox)
                .await
                .map_err(|source| SessionError::Backend {
                    id: id.to_string(),
                    source,
                })?;
        Ok(SessionLog {
            sandbox,
            reader,
            kept,
            ended,
        })
    }

    /// True while session `id` is live with `sandbox`: not ended, stopped or replaced.
    pub fn runs(&self, id: &str, sandbox: &str) -> bool {
        self.lock()
            .registry
            .get(id)
            .is_some_and(|s| s.sandbox == sandbox)
    }
}
