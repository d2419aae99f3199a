//! Shutdown: the request, and the report that gives every session exactly one fate.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ShutdownRequest {
    /// Deadline for sandboxes; `None` is the daemon's `--shutdown-timeout`.
    pub timeout_ms: Option<u64>,
    /// Exit without stopping sandboxes, so that the next daemon adopts them (upgrades).
    pub keep_sandboxes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SessionFate {
    pub id: String,
    pub fate: Fate,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
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
