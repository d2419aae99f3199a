//! Injected faults: panics, hangs and failing cycles, and how the supervisor answers them.

use msb_tests::Daemon;

const FAULTS: &str = "--enable-fault-injection";

#[test]
fn a_panic_with_restart_policy_never_fails_until_restarted() {
    let daemon = Daemon::start(&[
        FAULTS,
        "--restart-policy",
        "never",
        "--cleanup-interval",
        "500ms",
    ]);
    daemon.json(&["debug", "fault", "session-cleanup", "panic"]);
    let task = daemon.wait_task("session-cleanup", "failed", |t| t["state"] == "failed");
    assert_eq!(task["health"], "unhealthy");
    assert!(
        task["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("panicked")),
        "{task}"
    );
    assert_eq!(daemon.ctl(&["health"]).code, 2);
    assert_eq!(daemon.status()["overall"], "unhealthy");

    let restarted = daemon.json(&["restart"]);
    let entry = restarted
        .as_array()
        .and_then(|a| a.iter().find(|r| r["task"] == "session-cleanup").cloned());
    assert_eq!(entry.map(|e| e["result"].clone()), Some("restarted".into()));
    let task = daemon.task("session-cleanup");
    assert_eq!(task["state"], "running");
    assert_eq!(task["restarts"], 1);
    daemon.wait_status("healthy again", |s| s["overall"] == "healthy");
    daemon.finish();
}

#[test]
fn a_panic_with_on_failure_restarts_by_itself() {
    let daemon = Daemon::start(&[FAULTS, "--cleanup-interval", "500ms"]);
    daemon.json(&["debug", "fault", "session-cleanup", "panic"]);
    let task = daemon.wait_task("session-cleanup", "restarted after backoff", |t| {
        t["restarts"] == 1 && t["state"] == "running"
    });
    assert_eq!(task["failed_cycles"], 1);
    daemon.wait_status("healthy again", |s| s["overall"] == "healthy");
    daemon.finish();
}

#[test]
fn a_hang_stalls_the_task_and_restart_recovers_it() {
    let daemon = Daemon::start(&[FAULTS, "--cleanup-interval", "500ms", "--stall-after", "1s"]);
    daemon.json(&["debug", "fault", "session-cleanup", "hang"]);
    let task = daemon.wait_task("session-cleanup", "stalled", |t| t["state"] == "stalled");
    assert_eq!(task["health"], "unhealthy");
    assert_eq!(daemon.ctl(&["health"]).code, 2);
    let restarted = daemon.json(&["restart", "session-cleanup"]);
    assert_eq!(restarted[0]["result"], "restarted");
    assert_eq!(daemon.task("session-cleanup")["state"], "running");
    daemon.wait_status("healthy again", |s| s["overall"] == "healthy");
    daemon.finish();
}

#[test]
fn an_error_degrades_until_cleared() {
    let daemon = Daemon::start(&[FAULTS, "--cleanup-interval", "500ms"]);
    daemon.json(&["debug", "fault", "orphan-cleanup", "error"]);
    let report = daemon.ctl(&["--json", "run", "orphan-cleanup"]);
    assert_eq!(report.code, 1, "a failed cycle exits 1: {report:?}");
    assert_eq!(report.json()["outcome"], "failed");
    let task = daemon.task("orphan-cleanup");
    assert_eq!(task["health"], "degraded", "{task}");
    assert_eq!(task["state"], "running");
    assert!(
        task["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("injected")),
        "{task}"
    );
    assert_eq!(daemon.ctl(&["health"]).code, 1);

    daemon.json(&["debug", "fault", "orphan-cleanup", "clear"]);
    daemon.json(&["run", "orphan-cleanup"]);
    assert_eq!(daemon.task("orphan-cleanup")["health"], "healthy");
    assert_eq!(daemon.ctl(&["health"]).code, 0);
    daemon.finish();
}

#[test]
fn fault_injection_is_refused_unless_enabled() {
    let daemon = Daemon::start(&[]);
    let run = daemon.ctl(&["--json", "debug", "fault", "session-cleanup", "panic"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json()["error"]["code"], "fault_injection_disabled");
    assert!(run.stderr.contains("--enable-fault-injection"), "{run:?}");
    assert_eq!(daemon.status()["overall"], "healthy");
    daemon.finish();
}
