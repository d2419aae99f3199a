//! The durable registry: a maintenance pause outlives a restart, and a corrupt store is left
//! alone. Adopting sandboxes after a crash or an upgrade is in the suite (`suite/restore.rs`).

use msb_tests::Daemon;

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
