//! The background tasks: their selection, control requests, states and reports.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// The daemon's background tasks, in the order `status` lists them.
pub const TASK_NAMES: [&str; 2] = ["session-cleanup", "orphan-cleanup"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum TaskSelection {
    All,
    Named(Vec<String>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct StatusRequest {
    /// Only this task; `None` for all.
    pub task: Option<String>,
}

/// The longest lease a pause may have (`PauseRequest::for_ms`): far beyond any maintenance
/// window, and far from where a deadline would overflow. Longer is refused, not capped.
pub const MAX_PAUSE: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct PauseRequest {
    pub tasks: TaskSelection,
    /// Lease length, at most [`MAX_PAUSE`]; `None` pauses until resumed.
    pub for_ms: Option<u64>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ResumeRequest {
    pub tasks: TaskSelection,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct RestartRequest {
    pub tasks: TaskSelection,
    /// Also restart tasks that are healthy.
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct RunNowRequest {
    pub task: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct FaultRequest {
    pub task: String,
    pub fault: Fault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// The next cycle panics.
    Panic,
    /// The next cycle never finishes.
    Hang,
    /// Every cycle fails until cleared.
    Error,
    Clear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Running,
    Paused,
    Backoff,
    Stalled,
    Failed,
    Stopped,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Backoff => "backoff",
            Self::Stalled => "stalled",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
        })
    }
}

/// Ordered from best to worst, so the overall health is the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Degraded,
    Unhealthy,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum CycleOutcome {
    Ok,
    Failed,
    Panicked,
    /// Stopped early at a safe point (pause, restart or shutdown); `processed` is partial.
    Interrupted,
}

impl fmt::Display for CycleOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Panicked => "panicked",
            Self::Interrupted => "interrupted",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct CycleReport {
    pub task: String,
    /// Unix seconds.
    pub started_at: u64,
    pub duration_ms: u64,
    pub outcome: CycleOutcome,
    pub processed: u64,
    pub error: Option<String>,
    /// Task-specific counts, such as `found`, `stopped`, `failed`.
    pub counts: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct PauseInfo {
    /// Uid of the client that asked for the pause.
    pub by_uid: Option<u32>,
    pub reason: Option<String>,
    /// Unix seconds.
    pub since: u64,
    /// Unix seconds; `None` until resumed by hand.
    pub until: Option<u64>,
    pub remaining_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TaskStatus {
    pub name: String,
    pub state: TaskState,
    pub health: Health,
    pub interval_secs: f64,
    pub cycles: u64,
    pub failed_cycles: u64,
    pub consecutive_failures: u64,
    pub restarts: u64,
    pub processed_total: u64,
    /// Unix seconds, or `None` when not paused or paused without a deadline.
    pub paused_until: Option<u64>,
    pub last_cycle: Option<CycleReport>,
    pub last_error: Option<String>,
    pub pause: Option<PauseInfo>,
    /// Unix seconds at which `state` was entered.
    pub state_since: u64,
    /// Milliseconds until the next scheduled cycle, when one is scheduled.
    pub next_run_in_ms: Option<u64>,
    /// Why the task has the health it has; `None` when healthy.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TaskHealth {
    pub name: String,
    pub state: TaskState,
    pub health: Health,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ActionResult {
    Restarted,
    Paused,
    Resumed,
    Skipped,
}

impl fmt::Display for ActionResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Restarted => "restarted",
            Self::Paused => "paused",
            Self::Resumed => "resumed",
            Self::Skipped => "skipped",
        })
    }
}

/// What a restart, pause or resume did to one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TaskAction {
    pub task: String,
    pub result: ActionResult,
    pub state: TaskState,
    pub detail: Option<String>,
}
