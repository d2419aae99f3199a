//! The durable registry: a daemon that crashes or is upgraded comes back with every session,
//! adopting the same sandbox processes, and keeps a maintenance pause.

use msb_tests::{procfs, wait_until, Daemon};
use std::collections::BTreeMap;

/// Each session's sandbox, by the first process of its group.
fn groups(daemon: &Daemon, ids: &[String]) -> BTreeMap<String, u32> {
    ids.iter()
        .map(|id| (id.clone(), daemon.sandbox_group(id)))
        .collect()
}

fn kill_group(pgid: u32) {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Session ids, sorted.
fn listed(daemon: &Daemon) -> Vec<String> {
    let mut ids = daemon.session_ids(&[]);
    ids.sort();
    ids
}

#[test]
fn after_a_crash_every_session_is_adopted_with_its_own_sandbox() {
    let args = [
        "--cleanup-interval",
        "300ms",
        "--orphan-cleanup-interval",
        "300ms",
    ];
    let mut daemon = Daemon::start(&args);
    let ids: Vec<String> = (0..20).map(|i| format!("s{i:02}")).collect();
    for id in &ids {
        daemon.json(&["sessions", "create", "--id", id]);
    }
    let before = groups(&daemon, &ids);

    daemon.kill();
    daemon.spawn(&args);
    assert_eq!(listed(&daemon), ids);
    assert_eq!(groups(&daemon, &ids), before, "the very same processes");
    assert_eq!(daemon.status()["sessions"]["adopted"], 20);
    // Several orphan cycles later, nothing was reaped.
    daemon.wait_task("orphan-cleanup", "three cycles", |t| {
        t["cycles"].as_u64() >= Some(3)
    });
    assert_eq!(daemon.task("orphan-cleanup")["processed_total"], 0);
    assert!(before.values().all(|pid| procfs::alive(*pid)));

    // A sandbox killed by hand ends its session within a cleanup cycle.
    let cycles = daemon.task("session-cleanup")["cycles"]
        .as_u64()
        .unwrap_or(0);
    kill_group(before["s07"]);
    wait_until("the session of the killed sandbox to end", || {
        (!listed(&daemon).contains(&"s07".to_string())).then_some(())
    });
    let after = daemon.task("session-cleanup")["cycles"]
        .as_u64()
        .unwrap_or(0);
    assert!(after <= cycles + 2, "took {} cycles", after - cycles);
    assert_eq!(listed(&daemon).len(), 19);
    daemon.finish();
}

#[test]
fn stop_keep_sandboxes_hands_them_to_the_next_daemon() {
    let mut daemon = Daemon::start(&[]);
    let ids: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    for id in &ids {
        daemon.json(&["sessions", "create", "--id", id]);
    }
    daemon.json(&["sessions", "busy", "b"]);
    let before = groups(&daemon, &ids);
    let run = daemon.ctl(&["--json", "stop", "--keep-sandboxes"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(report["kept"], 3, "{report}");
    assert_eq!(report["outcome"], "clean");
    assert_eq!(daemon.wait_exit(), 0);
    assert!(
        before.values().all(|pid| procfs::alive(*pid)),
        "the sandboxes kept running"
    );

    // One sandbox dies while no daemon runs: its session is stopped at start-up.
    kill_group(before["c"]);
    wait_until("c's sandbox to die", || {
        daemon.session_pids("c").is_empty().then_some(())
    });

    daemon.spawn(&[]);
    let kept = &ids[..2];
    assert_eq!(listed(&daemon), kept);
    for id in kept {
        assert_eq!(
            daemon.sandbox_group(id),
            before[id],
            "{id} keeps its processes"
        );
    }
    let sessions = daemon.status()["sessions"].clone();
    assert_eq!(sessions["adopted"], 2, "{sessions}");
    assert_eq!(sessions["lost_at_start"], 1, "{sessions}");
    assert!(daemon.log().contains("ended while msbd was down"));
    assert_eq!(
        daemon.json(&["sessions", "show", "b"])["status"],
        "processing",
        "status changes are kept"
    );
    daemon.finish();
}

#[test]
fn a_maintenance_pause_outlives_a_restart() {
    let mut daemon = Daemon::start(&[]);
    daemon.json(&[
        "pause",
        "orphan-cleanup",
        "--for",
        "1h",
        "--reason",
        "disk swap",
    ]);
    let until = daemon.task("orphan-cleanup")["paused_until"].clone();
    daemon.kill();
    daemon.spawn(&[]);
    let task = daemon.task("orphan-cleanup");
    assert_eq!(task["state"], "paused", "{task}");
    assert_eq!(task["pause"]["reason"], "disk swap");
    assert_eq!(task["paused_until"], until);
    assert_eq!(task["cycles"], 0, "a paused task runs no start-up cycle");
    daemon.json(&["resume", "orphan-cleanup"]);
    daemon.kill();
    daemon.spawn(&[]);
    assert_eq!(
        daemon.task("orphan-cleanup")["state"],
        "running",
        "a resume is kept too"
    );
    daemon.finish();
}

#[test]
fn a_corrupt_store_stops_the_daemon_and_is_left_alone() {
    let mut daemon = Daemon::start(&[]);
    daemon.json(&["sessions", "create", "--id", "precious"]);
    daemon.kill();
    daemon.lose_registry();
    let store = daemon.state.join("sessions.db");
    let garbage = b"SQLite format 3\0 but then something else entirely".repeat(100);
    std::fs::write(&store, &garbage).expect("write garbage");
    let output = daemon
        .command(&[])
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run msbd");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&store.display().to_string()) && stderr.contains("never replaces"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&store).expect("read"),
        garbage,
        "the store is untouched"
    );
    assert_eq!(daemon.ctl(&["status"]).code, 3, "nothing listens");
    // Moving the store away is the way back: msbd starts empty, and the sandbox that no
    // session owns any more is reaped as an orphan.
    std::fs::remove_file(&store).expect("move the store away");
    daemon.spawn(&["--orphan-cleanup-interval", "300ms"]);
    assert_eq!(daemon.session_ids(&[]), Vec::<String>::new());
    daemon.assert_no_sandboxes();
    daemon.finish();
}
