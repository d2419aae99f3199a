//! Health, pause leases, restart and run-now on a fresh daemon.

use msb_tests::{bin, Daemon};

#[test]
fn a_fresh_daemon_is_healthy_and_has_run_both_tasks() {
    let daemon = Daemon::start(&[]);
    let status = daemon.wait_status("a first cycle of both tasks", |s| {
        s["tasks"]
            .as_array()
            .is_some_and(|t| t.iter().all(|t| t["cycles"].as_u64() >= Some(1)))
    });
    assert_eq!(status["overall"], "healthy");
    assert_eq!(status["daemon"]["backend"], "process");
    assert_eq!(
        status["daemon"]["pid"].as_u64(),
        Some(u64::from(daemon.pid()))
    );
    let names: Vec<&str> = status["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["session-cleanup", "orphan-cleanup"]);
    for task in status["tasks"].as_array().into_iter().flatten() {
        assert_eq!(task["state"], "running", "{task}");
        assert_eq!(task["health"], "healthy", "{task}");
    }
    let health = daemon.ctl(&["health"]);
    assert_eq!((health.code, health.stdout.trim()), (0, "healthy"));
    daemon.finish();
}

#[test]
fn pause_degrades_restart_keeps_it_and_resume_heals() {
    let daemon = Daemon::start(&[]);
    let paused = daemon.json(&["pause", "session-cleanup", "--reason", "backup"]);
    assert_eq!(paused[0]["result"], "paused");
    let task = daemon.task("session-cleanup");
    assert_eq!(task["state"], "paused");
    assert_eq!(task["health"], "degraded");
    assert_eq!(task["pause"]["reason"], "backup");
    assert_eq!(
        task["pause"]["by_uid"].as_u64(),
        Some(u64::from(nix::unistd::geteuid().as_raw()))
    );
    assert_eq!(task["paused_until"], serde_json::Value::Null);
    let health = daemon.ctl(&["health"]);
    assert_eq!(health.code, 1, "{health:?}");
    assert!(
        health.stdout.contains("paused") && health.stdout.contains("backup"),
        "{health:?}"
    );

    let restart = daemon.json(&["restart"]);
    assert!(
        restart
            .as_array()
            .is_some_and(|a| a.iter().all(|r| r["result"] == "skipped")),
        "{restart}"
    );
    assert_eq!(daemon.task("session-cleanup")["state"], "paused");
    let forced = daemon.json(&["restart", "session-cleanup", "--force"]);
    assert_eq!(forced[0]["result"], "skipped", "{forced}");
    assert!(
        forced[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("resume")),
        "{forced}"
    );
    let other = daemon.json(&["restart", "orphan-cleanup", "--force"]);
    assert_eq!(other[0]["result"], "restarted", "{other}");
    assert_eq!(daemon.task("orphan-cleanup")["restarts"], 1);
    assert_eq!(
        daemon.task("session-cleanup")["state"],
        "paused",
        "restart never lifts a pause"
    );

    daemon.json(&["resume", "session-cleanup"]);
    assert_eq!(daemon.status()["overall"], "healthy");
    assert_eq!(daemon.ctl(&["health"]).code, 0);
    daemon.finish();
}

#[test]
fn a_pause_lease_ends_by_itself() {
    let daemon = Daemon::start(&[]);
    daemon.json(&["pause", "orphan-cleanup", "--for", "2s"]);
    let task = daemon.task("orphan-cleanup");
    assert_eq!(task["state"], "paused");
    let until = task["paused_until"].as_u64().expect("paused_until is set");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    assert!(until >= now && until <= now + 3, "until {until}, now {now}");
    daemon.wait_task("orphan-cleanup", "the lease to end", |t| {
        t["state"] == "running"
    });
    assert_eq!(daemon.status()["overall"], "healthy");
    daemon.finish();
}

#[test]
fn pause_around_a_command_holds_while_it_runs_and_passes_its_exit_code() {
    let daemon = Daemon::start(&[]);
    let during = daemon.dir.path().join("during.json");
    let script = format!(
        "\"$MSBCTL\" --socket \"$SOCK\" --json status session-cleanup > '{}' && sleep 1",
        during.display()
    );
    let run = std::process::Command::new(bin("msbctl"))
        .args(["--socket"])
        .arg(&daemon.socket)
        .args([
            "pause",
            "session-cleanup",
            "--reason",
            "maintenance",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .env("MSBCTL", bin("msbctl"))
        .env("SOCK", &daemon.socket)
        .output()
        .expect("run msbctl pause");
    assert!(run.status.success(), "{run:?}");
    let seen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&during).expect("status during"))
            .expect("json");
    assert_eq!(seen["tasks"][0]["state"], "paused", "{seen}");
    // Right after the command exits, the pause is gone.
    let task = daemon.task("session-cleanup");
    assert_eq!(task["state"], "running", "{task}");
    assert_eq!(daemon.ctl(&["health"]).code, 0);

    let failing = daemon.ctl(&["pause", "--", "sh", "-c", "exit 7"]);
    assert_eq!(failing.code, 7, "{failing:?}");
    assert_eq!(daemon.status()["overall"], "healthy");

    // A pause someone else holds is neither replaced nor lifted by a scripted one.
    daemon.json(&["pause", "orphan-cleanup", "--reason", "operator"]);
    let run = daemon.ctl(&["pause", "--reason", "script", "--", "true"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("already paused"), "{run:?}");
    let orphans = daemon.task("orphan-cleanup");
    assert_eq!(orphans["state"], "paused");
    assert_eq!(orphans["pause"]["reason"], "operator");
    assert_eq!(daemon.task("session-cleanup")["state"], "running");
    daemon.finish();
}

#[test]
fn a_pause_mid_cycle_parks_between_items_and_loses_no_session() {
    let daemon = Daemon::start(&[
        "--template",
        msb_tests::STUBBORN,
        "--session-timeout",
        "1s",
        "--cleanup-interval",
        "500ms",
        "--stop-grace",
        "2s",
        "--max-total-memory-mb",
        "0",
    ]);
    daemon.json(&["pause", "session-cleanup"]);
    // Two more than one cycle stops side by side (32, in session-cleanup).
    for i in 0..34 {
        daemon.json(&[
            "sessions",
            "create",
            "--template",
            "stubborn",
            "--id",
            &format!("s{i}"),
        ]);
    }
    // Let every session pass its 1 s timeout while the task is paused.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    daemon.json(&["resume", "session-cleanup"]);
    // In a cycle no next run is scheduled; this one lasts the 2 s stop grace.
    daemon.wait_task("session-cleanup", "a cycle in progress", |t| {
        t["state"] == "running" && t["next_run_in_ms"].is_null()
    });
    let paused = daemon.json(&["pause", "session-cleanup"]);
    assert_eq!(paused[0]["result"], "paused");
    assert_eq!(
        paused[0]["state"], "paused",
        "pause returns once the task is parked"
    );

    let task = daemon.task("session-cleanup");
    let cycle = &task["last_cycle"];
    assert_eq!(cycle["outcome"], "interrupted", "{task}");
    assert_eq!(
        cycle["counts"]["stopped"], 32,
        "the 32 stops under way finish: {task}"
    );
    let left = daemon.session_ids(&[]);
    assert_eq!(left.len(), 2, "the items not started stay: {left:?}");
    for id in &left {
        assert!(!daemon.session_pids(id).is_empty(), "{id} lost its sandbox");
    }

    daemon.json(&["resume", "session-cleanup"]);
    msb_tests::wait_until("the rest to expire", || {
        daemon
            .json(&["sessions", "list"])
            .as_array()
            .is_some_and(Vec::is_empty)
            .then_some(())
    });
    daemon.finish();
}

#[test]
fn run_now_runs_a_cycle_even_while_paused() {
    let daemon = Daemon::start(&["--orphan-cleanup-interval", "1h"]);
    daemon.wait_task("orphan-cleanup", "its first cycle", |t| t["cycles"] == 1);
    daemon.json(&["pause", "orphan-cleanup"]);
    let report = daemon.json(&["run", "orphan-cleanup"]);
    assert_eq!(report["task"], "orphan-cleanup");
    assert_eq!(report["outcome"], "ok");
    assert!(report["counts"]["found"].is_u64(), "{report}");
    let task = daemon.task("orphan-cleanup");
    assert_eq!(task["cycles"], 2);
    assert_eq!(task["state"], "paused");
    daemon.finish();
}
