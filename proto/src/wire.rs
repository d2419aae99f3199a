//! Every message on the socket. The same types are the `--json` contract of `msbctl`, so
//! field names are chosen for scripts and changed only compatibly: variants and fields are
//! added at the end, never renamed or reordered.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The daemon's background tasks, in the order `status` lists them.
pub const TASK_NAMES: [&str; 2] = ["session-cleanup", "orphan-cleanup"];

/// First frame from a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    /// Free-form client name, for the daemon's log.
    pub client: String,
}

/// The daemon's answer to `Hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HandshakeReply {
    Welcome(Welcome),
    Refused(ErrorBody),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol: u32,
    pub version: String,
    pub pid: u32,
    /// Unix seconds.
    pub started_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskSelection {
    All,
    Named(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseRequest {
    pub tasks: TaskSelection,
    /// Lease length; `None` pauses until resumed.
    pub for_ms: Option<u64>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartRequest {
    pub tasks: TaskSelection,
    /// Also restart tasks that are healthy.
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSession {
    pub template: Option<String>,
    pub flavor: Option<Flavor>,
    pub id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Status {
        task: Option<String>,
    },
    Health,
    Restart(RestartRequest),
    Pause(PauseRequest),
    Resume(TaskSelection),
    RunNow {
        task: String,
    },
    /// Answered by `Progress` frames and a final `Stopped`.
    Shutdown(ShutdownRequest),
    SessionList(SessionFilter),
    SessionShow {
        id: String,
    },
    SessionCreate(CreateSession),
    SessionTouch {
        id: String,
    },
    SessionStop {
        id: String,
    },
    Fault {
        task: String,
        fault: Fault,
    },
    /// Marks a session busy (`processing`: never expired or evicted) or idle again.
    SessionMark {
        id: String,
        busy: bool,
    },
    /// The sandboxes `orphan-cleanup` would stop, without stopping them.
    Orphans,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShutdownRequest {
    /// Deadline for sandboxes; `None` is the daemon's `--shutdown-timeout`.
    pub timeout_ms: Option<u64>,
    /// Exit without stopping sandboxes, so that the next daemon adopts them (upgrades).
    pub keep_sandboxes: bool,
}

/// Which sessions `SessionList` returns; every field narrows the list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFilter {
    pub status: Option<SessionStatus>,
    pub template: Option<String>,
    /// Only sessions not accessed for longer than this.
    pub idle_longer_than_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Error(ErrorBody),
    Status(StatusReport),
    Health(HealthReport),
    Tasks(Vec<TaskAction>),
    Cycle(CycleReport),
    Progress(String),
    Stopped(StopReport),
    Sessions(Vec<SessionInfo>),
    Session(SessionInfo),
    Ack(String),
    Orphans(Vec<OrphanInfo>),
}

/// A marked sandbox that no live session owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrphanInfo {
    pub sandbox: String,
    pub session_id: String,
    pub pid: Option<u32>,
    /// Also seen without a session by the last cycle: the next cycle stops it.
    pub confirmed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Stable error codes; scripts match on these, people read the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    ProtocolMismatch,
    FrameTooLarge,
    UnknownTask,
    UnknownSession,
    UnknownTemplate,
    InvalidArgument,
    LimitReached,
    TaskUnavailable,
    FaultInjectionDisabled,
    ShuttingDown,
    Backend,
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct DaemonInfo {
    pub version: String,
    pub pid: u32,
    pub uptime_secs: u64,
    pub backend: String,
    pub socket: String,
    pub state_dir: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct Usage {
    pub used: u64,
    pub max: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FlavorCounts {
    pub small: u64,
    pub medium: u64,
    pub large: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub overall: Health,
    pub daemon: DaemonInfo,
    pub tasks: Vec<TaskStatus>,
    pub sessions: SessionsSummary,
    pub resources: ResourceReport,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskHealth {
    pub name: String,
    pub state: TaskState,
    pub health: Health,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    pub overall: Health,
    pub tasks: Vec<TaskHealth>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct TaskAction {
    pub task: String,
    pub result: ActionResult,
    pub state: TaskState,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
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
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Creating,
    Ready,
    Running,
    Processing,
    Error,
    Stopped,
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
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Seconds left before the session expires if nobody touches it.
    pub expires_in_secs: u64,
    /// Last error stopping or creating its sandbox.
    pub error: Option<String>,
    /// Unix seconds since it was marked busy (`processing`).
    pub busy_since: Option<u64>,
    /// The sandbox as the backend sees it; only `sessions show` fills this in.
    pub details: Option<SandboxDetails>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxDetails {
    pub running: bool,
    pub pid: Option<u32>,
    pub workdir: Option<String>,
    pub isolation: String,
    pub cpus: u32,
    pub memory_mb: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopOutcome {
    /// Every sandbox stopped on SIGTERM before the deadline.
    Clean,
    /// Some sandboxes had to be killed at the deadline.
    Forced,
    /// Some sandboxes could not be stopped at all.
    Failed,
}

impl fmt::Display for StopOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Clean => "clean",
            Self::Forced => "forced",
            Self::Failed => "failed",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fate {
    Stopped,
    Killed,
    Failed,
    /// Left running for the next daemon (`stop --keep-sandboxes`).
    Kept,
}

impl fmt::Display for Fate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stopped => "stopped",
            Self::Killed => "killed",
            Self::Failed => "failed",
            Self::Kept => "kept",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFate {
    pub id: String,
    pub fate: Fate,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopReport {
    pub outcome: StopOutcome,
    pub duration_ms: u64,
    pub sessions_total: u64,
    pub stopped: u64,
    pub killed: u64,
    pub failed: u64,
    pub sessions: Vec<SessionFate>,
    /// Sandboxes left running (`stop --keep-sandboxes`).
    pub kept: u64,
}

impl StopReport {
    /// Builds the report from each session's fate, so the counts always match the list.
    pub fn from_fates(sessions: Vec<SessionFate>, duration_ms: u64) -> Self {
        let count = |fate| sessions.iter().filter(|s| s.fate == fate).count() as u64;
        let (stopped, killed, failed, kept) = (
            count(Fate::Stopped),
            count(Fate::Killed),
            count(Fate::Failed),
            count(Fate::Kept),
        );
        let outcome = if failed > 0 {
            StopOutcome::Failed
        } else if killed > 0 {
            StopOutcome::Forced
        } else {
            StopOutcome::Clean
        };
        Self {
            outcome,
            duration_ms,
            sessions_total: sessions.len() as u64,
            stopped,
            killed,
            failed,
            sessions,
            kept,
        }
    }
}
