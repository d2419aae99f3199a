//! What happens in the daemon, as `msbctl events` shows it: each event has a time and a
//! kind, and each kind carries what an operator needs to know about it.
//!
//! In JSON an event is one object, `{"at_ms": …, "kind": {"NAME": {…fields}}}`, with the
//! kind's name in snake case (`session_created`, `task_paused`…).

use super::{CycleReport, Fate, Flavor, TaskState};
use serde::{Deserialize, Serialize};

/// Asks for the events msbd keeps (its most recent ones), answered by `Event` frames and a
/// final `Ack`; with `follow`, every later event comes too, until the client goes away or
/// msbd stops. A follower that falls behind gets `EventsMissed` with how many it missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct EventsRequest {
    pub follow: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Event {
    /// Unix milliseconds.
    pub at_ms: u64,
    pub kind: EventKind,
}

/// A variant only ever goes at the end (see the crate docs); every variant has named fields,
/// so that its JSON is always an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A task's state, as `status` reports it, changed.
    TaskState {
        task: String,
        state: TaskState,
        /// Why it is not healthy, as in `status`; `None` when healthy.
        reason: Option<String>,
    },
    /// A task's cycle ended, with its report.
    Cycle { report: CycleReport },
    /// A task was restarted, by an operator or after its backoff.
    TaskRestarted { task: String, by_operator: bool },
    /// A task took a pause lease.
    TaskPaused {
        task: String,
        by_uid: Option<u32>,
        reason: Option<String>,
        /// Unix seconds; `None` until resumed by hand.
        until: Option<u64>,
    },
    /// A task's pause ended: resumed by `by_uid`, or its lease ran out (`lease_ended`).
    TaskResumed {
        task: String,
        by_uid: Option<u32>,
        lease_ended: bool,
    },
    SessionCreated {
        session_id: String,
        template: String,
        flavor: Flavor,
        owner: Option<u32>,
    },
    /// Idle past the session timeout: its sandbox was stopped and the session removed.
    SessionExpired { session_id: String, fate: Fate },
    /// Stopped to make room for `for_session`.
    SessionEvicted {
        session_id: String,
        for_session: String,
        fate: Fate,
    },
    /// Stopped on request, or by a shutdown.
    SessionStopped { session_id: String, fate: Fate },
    /// Its sandbox ended by itself; the session is kept a while as `ended`.
    SessionEnded {
        session_id: String,
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// A command started in a session (`sessions exec` or `run`).
    ExecStarted {
        session_id: String,
        /// The program run (or the interpreter, for `run`).
        program: String,
        by_uid: Option<u32>,
    },
    ExecEnded {
        session_id: String,
        /// As `ExecExit::status`: the code, 128+N for signal N, 124 for a timeout.
        exit_code: i32,
        timed_out: bool,
        duration_ms: u64,
    },
    /// msbd reloaded its configuration; `changed` names the settings that changed.
    ConfigReloaded { changed: Vec<String> },
}

impl EventKind {
    /// The kind's name, as in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Self::TaskState { .. } => "task_state",
            Self::Cycle { .. } => "cycle",
            Self::TaskRestarted { .. } => "task_restarted",
            Self::TaskPaused { .. } => "task_paused",
            Self::TaskResumed { .. } => "task_resumed",
            Self::SessionCreated { .. } => "session_created",
            Self::SessionExpired { .. } => "session_expired",
            Self::SessionEvicted { .. } => "session_evicted",
            Self::SessionStopped { .. } => "session_stopped",
            Self::SessionEnded { .. } => "session_ended",
            Self::ExecStarted { .. } => "exec_started",
            Self::ExecEnded { .. } => "exec_ended",
            Self::ConfigReloaded { .. } => "config_reloaded",
        }
    }
}
