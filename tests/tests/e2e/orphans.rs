//! Orphans: sandboxes whose session msbd no longer knows (here: its registry was lost while
//! it was down) are reaped; other processes never.

use msb_tests::{procfs, wait_until, Daemon};
use std::process::{Child, Command};

/// An unrelated process that must survive everything msbd does.
struct Bystander(Child);

impl Bystander {
    fn start() -> Self {
        Self(
            Command::new("sleep")
                .arg("300")
                .spawn()
                .expect("spawn sleep"),
        )
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes a sandbox record naming `pid`, as a record left behind before the pid was reused.
fn forge_record(daemon: &Daemon, name: &str, pid: u32, start_time: u64) {
    let record = serde_json::json!({
        "name": name,
        "session_id": name,
        "instance": daemon.instance(),
        "pid": pid,
        "start_time": start_time,
    });
    std::fs::write(
        daemon.state.join("sandboxes").join(format!("{name}.json")),
        record.to_string(),
    )
    .expect("write record");
}

#[test]
fn a_sandbox_left_by_a_killed_daemon_is_reaped_and_reused_pids_are_not_touched() {
    let args = ["--orphan-cleanup-interval", "500ms"];
    let mut daemon = Daemon::start(&args);
    daemon.json(&["sessions", "create", "--id", "left-behind"]);
    let orphan = daemon.session_pids("left-behind");
    assert!(!orphan.is_empty());

    // Two unrelated processes behind forged records: one whose start time does not match
    // (a reused pid), one whose start time matches but that carries no marker.
    let reused = Bystander::start();
    let unmarked = Bystander::start();
    let start_of = |pid| procfs::stat(pid).expect("stat").start_time;
    forge_record(
        &daemon,
        "msb-reused-000000",
        reused.pid(),
        start_of(reused.pid()) + 1,
    );
    forge_record(
        &daemon,
        "msb-unmarked-000000",
        unmarked.pid(),
        start_of(unmarked.pid()),
    );

    daemon.kill();
    daemon.lose_registry();
    assert!(
        orphan.iter().any(|pid| procfs::alive(*pid)),
        "SIGKILL of msbd leaves the sandbox running"
    );
    daemon.spawn(&args);
    assert_eq!(daemon.json(&["sessions", "list"]), serde_json::json!([]));

    wait_until("the orphan to be stopped", || {
        (!orphan.iter().any(|pid| procfs::alive(*pid))).then_some(())
    });
    // The stop is booked when its cycle ends.
    let task = daemon.wait_task("orphan-cleanup", "the stop to be counted", |t| {
        t["processed_total"] == 1
    });
    // Seen in one cycle, stopped in the next: never in the first.
    assert!(task["cycles"].as_u64() >= Some(2), "{task}");
    // A few more cycles, and the bystanders are still there.
    let seen = task["cycles"].as_u64().unwrap_or(0);
    daemon.wait_task("orphan-cleanup", "three more cycles", |t| {
        t["cycles"].as_u64() >= Some(seen + 3)
    });
    assert!(procfs::alive(reused.pid()), "a reused pid was signalled");
    assert!(
        procfs::alive(unmarked.pid()),
        "an unmarked process was signalled"
    );
    assert_eq!(daemon.status()["overall"], "healthy");
    daemon.finish();
}

#[test]
fn a_live_session_is_never_taken_for_an_orphan() {
    let daemon = Daemon::start(&["--orphan-cleanup-interval", "300ms"]);
    daemon.json(&["sessions", "create", "--id", "alive"]);
    let pids = daemon.session_pids("alive");
    daemon.wait_task("orphan-cleanup", "several cycles", |t| {
        t["cycles"].as_u64() >= Some(4)
    });
    assert!(pids.iter().all(|pid| procfs::alive(*pid)));
    assert_eq!(daemon.task("orphan-cleanup")["processed_total"], 0);
    daemon.finish();
}

#[test]
fn orphans_lists_what_the_next_cycle_stops() {
    let args = ["--orphan-cleanup-interval", "1h"];
    let mut daemon = Daemon::start(&args);
    assert_eq!(daemon.json(&["orphans"]), serde_json::json!([]));
    daemon.json(&["sessions", "create", "--id", "lost"]);
    let pids = daemon.session_pids("lost");
    daemon.kill();
    daemon.lose_registry();
    daemon.spawn(&args);
    daemon.wait_task("orphan-cleanup", "its start-up cycle", |t| t["cycles"] == 1);
    let orphans = daemon.json(&["orphans"]);
    assert_eq!(orphans.as_array().map(Vec::len), Some(1), "{orphans}");
    assert_eq!(orphans[0]["session_id"], "lost");
    assert_eq!(
        orphans[0]["confirmed"], true,
        "seen by the start-up cycle too"
    );
    assert!(
        pids.iter().all(|pid| procfs::alive(*pid)),
        "listing stops nothing"
    );
    let report = daemon.json(&["run", "orphan-cleanup"]);
    assert_eq!(report["counts"]["stopped"], 1, "{report}");
    assert!(pids.iter().all(|pid| !procfs::alive(*pid)));
    assert_eq!(daemon.json(&["orphans"]), serde_json::json!([]));
    daemon.finish();
}

#[test]
fn a_sandbox_whose_record_was_deleted_is_still_found_by_its_marker() {
    let args = ["--orphan-cleanup-interval", "300ms"];
    let mut daemon = Daemon::start(&args);
    let mut sandboxes = Vec::new();
    for id in ["stopped-by-hand", "orphaned"] {
        let created = daemon.json(&["sessions", "create", "--id", id]);
        sandboxes.push(created["sandbox"].as_str().unwrap_or_default().to_string());
    }
    for sandbox in &sandboxes {
        std::fs::remove_file(
            daemon
                .state
                .join("sandboxes")
                .join(format!("{sandbox}.json")),
        )
        .expect("delete record");
    }
    // A stop still finds the sandbox to stop.
    let first = daemon.session_pids("stopped-by-hand");
    let shown = daemon.json(&["sessions", "show", "stopped-by-hand"]);
    assert_eq!(shown["details"]["running"], true, "{shown}");
    daemon.json(&["sessions", "stop", "stopped-by-hand"]);
    assert!(
        first.iter().all(|pid| !procfs::alive(*pid)),
        "stopped without its record"
    );

    // And once its session is gone, orphan-cleanup finds it too.
    let second = daemon.session_pids("orphaned");
    let bystander = Bystander::start();
    daemon.kill();
    daemon.lose_registry();
    daemon.spawn(&args);
    wait_until("the orphan without a record to be stopped", || {
        second.iter().all(|pid| !procfs::alive(*pid)).then_some(())
    });
    assert!(procfs::alive(bystander.pid()));
    daemon.finish();
}

#[test]
fn another_state_dirs_sandboxes_are_never_taken_for_orphans() {
    let other = Daemon::start(&[]);
    other.json(&["sessions", "create", "--id", "not-yours"]);
    let theirs = other.session_pids("not-yours");
    let daemon = Daemon::start(&["--orphan-cleanup-interval", "300ms"]);
    daemon.wait_task("orphan-cleanup", "several cycles", |t| {
        t["cycles"].as_u64() >= Some(4)
    });
    assert_eq!(daemon.json(&["orphans"]), serde_json::json!([]));
    assert!(theirs.iter().all(|pid| procfs::alive(*pid)));
    daemon.finish();
    other.finish();
}
