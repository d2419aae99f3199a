//! Sessions: requests about them, what a session looks like, flavors and orphans.

use super::{Fate, SandboxExit};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct CreateSession {
    pub template: Option<String>,
    pub flavor: Option<Flavor>,
    pub id: Option<String>,
    /// Set on the session for whoever lists it later (an upper-level server marks the
    /// sessions of its own clients, as Docker labels containers). Keys: 1 to 63 of
    /// `a-z 0-9 . - _ /`, starting with a letter or digit; values: up to 255 bytes of
    /// printable text; at most 32 labels.
    pub labels: Labels,
}

/// A session's labels, `key → value`; a JSON object in `--json`.
pub type Labels = BTreeMap<String, String>;

/// Names one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SessionRef {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct MarkRequest {
    pub id: String,
    pub busy: bool,
}

/// Which sessions `SessionList` returns; every field narrows the list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SessionFilter {
    pub status: Option<SessionStatus>,
    pub template: Option<String>,
    /// Only sessions not accessed for longer than this.
    pub idle_longer_than_ms: Option<u64>,
    /// Include sessions whose sandbox ended by itself (kept for a while as `ended`).
    pub ended: bool,
    /// Only sessions carrying every one of these labels (same key, same value).
    pub labels: Labels,
    /// At most this many sessions (a page). With `limit` or `offset` the list is in creation
    /// order, which touching a session does not change, so pages neither skip nor repeat.
    pub limit: Option<u32>,
    /// Skip this many matching sessions first.
    pub offset: u32,
}

impl SessionFilter {
    /// True when it asks for a page rather than every matching session.
    pub fn paged(&self) -> bool {
        self.limit.is_some() || self.offset > 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// 1 CPU, 1024 MB
    Small,
    /// 2 CPUs, 2048 MB
    Medium,
    /// 4 CPUs, 4096 MB
    Large,
}

impl Flavor {
    pub const ALL: [Flavor; 3] = [Self::Small, Self::Medium, Self::Large];

    pub fn cpus(self) -> u32 {
        match self {
            Self::Small => 1,
            Self::Medium => 2,
            Self::Large => 4,
        }
    }

    pub fn memory_mb(self) -> u64 {
        match self {
            Self::Small => 1024,
            Self::Medium => 2048,
            Self::Large => 4096,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Small => "small",
            Self::Medium => "medium",
            Self::Large => "large",
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Creating,
    Ready,
    Running,
    Processing,
    Error,
    Stopped,
    /// Its sandbox ended by itself; kept for a while so its exit can be read.
    Ended,
}

impl SessionStatus {
    pub const ALL: [SessionStatus; 7] = [
        Self::Creating,
        Self::Ready,
        Self::Running,
        Self::Processing,
        Self::Error,
        Self::Stopped,
        Self::Ended,
    ];
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Creating => "creating",
            Self::Ready => "ready",
            Self::Running => "running",
            Self::Processing => "processing",
            Self::Error => "error",
            Self::Stopped => "stopped",
            Self::Ended => "ended",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SessionInfo {
    pub id: String,
    pub template: String,
    pub flavor: Flavor,
    pub status: SessionStatus,
    pub sandbox: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub last_accessed: u64,
    /// Seconds left before the session expires if nobody touches it (or, `ended`, before it
    /// is forgotten); `None` while nothing counts down: it is stopped, being created or
    /// stopped, or a command runs in it.
    pub expires_in_secs: Option<u64>,
    /// Last error stopping or creating its sandbox.
    pub error: Option<String>,
    /// Unix seconds since it was marked busy (`processing`).
    pub busy_since: Option<u64>,
    /// The sandbox as the backend sees it; only `sessions show` fills this in.
    pub details: Option<SandboxDetails>,
    /// How its sandbox ended (`stopped` or `killed`); only the answer to a stop has it.
    pub fate: Option<Fate>,
    /// How its sandbox ended by itself (status `ended`).
    pub exit: Option<SandboxExit>,
    /// The uid that created it; only it, root and msbd's own uid may use, stop or mark it.
    pub owner: Option<u32>,
    pub labels: Labels,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SandboxDetails {
    pub running: bool,
    pub pid: Option<u32>,
    pub workdir: Option<String>,
    pub isolation: String,
    pub cpus: u32,
    pub memory_mb: u64,
}

/// A marked sandbox that no live session owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct OrphanInfo {
    pub sandbox: String,
    pub session_id: String,
    pub pid: Option<u32>,
    /// Also seen without a session by the last cycle: the next cycle stops it.
    pub confirmed: bool,
}
