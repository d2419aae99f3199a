//! Orphans of the `process` backend without their records: still found by their marker. The
//! orphan behaviour every backend shares is in the suite (`suite/orphans.rs`).

use msb_tests::{procfs, wait_until, Bystander, Daemon};

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
