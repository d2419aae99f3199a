//! What a session is, as the registry holds it and the store keeps it. A plain model: it
//! imports nothing of the store or the managers, so both can depend on it.

use msb_proto::{Flavor, Labels, SessionStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub template: String,
    pub flavor: Flavor,
    pub status: SessionStatus,
    pub sandbox: String,
    pub created_at_ms: u64,
    pub last_accessed_ms: u64,
    /// Set while the session is marked busy (`processing`).
    pub busy_since_ms: Option<u64>,
    pub error: Option<String>,
    /// The uid that created it: only it, root and msbd's own uid may work in it, stop it or
    /// mark it. `None` for sessions stored before owners were kept.
    pub owner: Option<u32>,
    /// Set when it is created (checked by `labels::check`), never changed after.
    pub labels: Labels,
    /// A stop is under way; nobody else may start one, and it is out of the deadline index.
    /// Never stored: a daemon that restarts finds the sandbox running or gone.
    pub stopping: bool,
    /// Commands (exec, copies) running in it now. Never stored: they do not outlive msbd.
    /// While any runs, the session is `processing`: never expired or evicted.
    pub working: u32,
}

impl Session {
    /// Whether `uid` may work in it, stop it or mark it: its owner, root and msbd's own uid
    /// (and anyone, for a session stored before owners were kept).
    pub fn usable_by(&self, uid: Option<u32>) -> bool {
        let Some(owner) = self.owner else {
            return true;
        };
        uid.is_some_and(|uid| uid == owner || uid == 0 || uid == nix::unistd::geteuid().as_raw())
    }

    /// Whether it carries every one of `wanted` (same key, same value).
    pub fn carries(&self, wanted: &Labels) -> bool {
        wanted
            .iter()
            .all(|(key, value)| self.labels.get(key) == Some(value))
    }

    /// The status clients see: `processing` while work runs in it.
    pub fn shown_status(&self) -> SessionStatus {
        if self.working > 0 {
            SessionStatus::Processing
        } else {
            self.status
        }
    }
}
