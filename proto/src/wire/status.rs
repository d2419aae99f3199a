//! The daemon-wide reports: `status` and `health`, with sessions, resources, the store and
//! the file-descriptor budget.

use super::{ConfigStatus, Health, TaskHealth, TaskStatus};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct StatusReport {
    pub overall: Health,
    pub daemon: DaemonInfo,
    pub tasks: Vec<TaskStatus>,
    pub sessions: SessionsSummary,
    pub resources: ResourceReport,
    pub store: StoreHealth,
    pub config: ConfigStatus,
    pub backend: BackendHealth,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct DaemonInfo {
    pub version: String,
    pub pid: u32,
    pub uptime_secs: u64,
    pub backend: String,
    pub socket: String,
    pub state_dir: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SessionsSummary {
    pub active: u64,
    pub max: u64,
    /// Sessions whose running sandbox this daemon adopted from its predecessor at start-up.
    pub adopted: u64,
    /// Stored sessions whose sandbox had ended while no daemon ran; they were stopped.
    pub lost_at_start: u64,
}

/// One resource: what is in use and the limit (`None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Usage {
    pub used: u64,
    pub max: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct FlavorCounts {
    pub small: u64,
    pub medium: u64,
    pub large: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ResourceReport {
    pub sessions: Usage,
    pub memory_mb: Usage,
    pub cpus: Usage,
    pub by_flavor: FlavorCounts,
    pub lru_eviction: bool,
    /// Sessions evicted to make room since the daemon started.
    pub evictions: u64,
    /// How sandboxes are isolated here: `namespaces` or `none`.
    pub isolation: String,
    pub fds: FdBudget,
}

/// How many sandboxes msbd's open-file limit allows: each sandbox holds `per_sandbox`
/// descriptors, and `reserved` are kept for connections, the store and start-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct FdBudget {
    /// The soft RLIMIT_NOFILE msbd runs with (raised to the hard limit at start).
    pub limit: u64,
    pub reserved: u64,
    pub per_sandbox: u64,
    pub max_sandboxes: u64,
    pub sandboxes: u64,
}

/// Whether the session store takes writes. While it does not, requests that must be stored
/// fail, the rest is kept in memory, and msbd retries until the store recovers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct StoreHealth {
    /// `healthy`, or `degraded` while writes fail.
    pub health: Health,
    pub path: String,
    /// The last write error while degraded.
    pub error: Option<String>,
    /// Unix seconds since when it has been degraded.
    pub since: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct HealthReport {
    pub overall: Health,
    pub tasks: Vec<TaskHealth>,
    pub store: StoreHealth,
    pub backend: BackendHealth,
}

/// Whether the backend can make sandboxes on this host, by its own check (`msb doctor` for
/// the msb backend; the process backend needs none). While it cannot, every create fails
/// with `reason`, and the overall health is at least `degraded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct BackendHealth {
    /// `healthy`, or `degraded` while the check fails.
    pub health: Health,
    /// The check that says so, as a command line; `None` for a backend that needs none.
    pub check: Option<String>,
    /// Why sandboxes cannot be made, in the check's own words, while it fails.
    pub reason: Option<String>,
    /// Unix seconds of the last check.
    pub checked_at: Option<u64>,
}

impl BackendHealth {
    /// The health of a backend that needs no check of the host.
    pub fn unchecked() -> Self {
        Self {
            health: Health::Healthy,
            check: None,
            reason: None,
            checked_at: None,
        }
    }
}
