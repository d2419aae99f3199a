//! `msb doctor`: whether this host can boot microVMs (CPU virtualisation, `/dev/kvm`, msb's
//! own files). msbd asks at start and keeps the verdict for `status` and `health`. While it
//! fails, every create is refused with its reason before anything is made, and doctor is
//! asked again every `RECHECK`, so a host fixed under a running msbd is noticed.

use super::runner::{MsbFailure, Runner};
use crate::clock::now_ms;
use std::time::Duration;

pub const COMMAND: &str = "msb doctor";
/// How often a failing verdict is checked again.
pub const RECHECK: Duration = Duration::from_secs(60);

/// What doctor said last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Why this host cannot boot microVMs; `None` when it can.
    pub reason: Option<String>,
    /// Unix seconds.
    pub checked_at: u64,
}

/// Asks `msb doctor`.
pub async fn check(runner: &Runner) -> Verdict {
    let reason = match runner.run(&["doctor".to_string()]).await {
        Ok(_) => None,
        Err(failure) => Some(reason(&failure)),
    };
    if let Some(reason) = &reason {
        tracing::warn!(%reason, "msb doctor says this host cannot boot microVMs: every create fails until it can");
    }
    Verdict {
        reason,
        checked_at: now_ms() / 1000,
    }
}

/// Doctor's own words for why it failed: its `error:` lines, each with its first hint
/// (`→ …`); the whole failure when it wrote none (it could not run at all).
fn reason(failure: &MsbFailure) -> String {
    let mut reasons: Vec<String> = Vec::new();
    let mut hinted = true;
    for line in failure.stderr.lines().map(str::trim) {
        if let Some(error) = line.strip_prefix("error:") {
            reasons.push(error.trim().to_string());
            hinted = false;
        } else if let (Some(hint), false, Some(last)) =
            (line.strip_prefix('→'), hinted, reasons.last_mut())
        {
            last.push_str(&format!(" ({})", hint.trim()));
            hinted = true;
        }
    }
    if reasons.is_empty() {
        failure.to_string()
    } else {
        reasons.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::super::runner::Ending;
    use super::*;

    #[test]
    fn the_reason_is_doctors_error_with_its_first_hint() {
        // What msb doctor wrote on a host without CPU virtualisation (tests/msb/fixtures).
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/msb/fixtures/doctor-no-virtualization.stderr"
        );
        let failure = MsbFailure {
            command: "msb doctor".into(),
            ending: Ending::Exit(1),
            stderr: std::fs::read_to_string(path).expect("the fixture"),
        };
        assert_eq!(
            reason(&failure),
            "CPU virtualization is not available (no vmx (Intel) or svm (AMD) flag in /proc/cpuinfo)"
        );
        let silent = MsbFailure {
            stderr: String::new(),
            ..failure
        };
        assert_eq!(reason(&silent), "`msb doctor` exited 1");
    }
}
