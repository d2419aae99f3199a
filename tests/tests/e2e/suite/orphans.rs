//! Orphans: sandboxes whose session msbd no longer knows (here: its registry was lost while it
//! was down) are reaped; anything that only looks like one of its sandboxes never.

use super::lookalikes::Lookalikes;
use super::{Backend, Rig};
use msb_tests::wait_until;

pub fn a_sandbox_left_by_a_killed_daemon_is_reaped_and_lookalikes_are_not_touched(
    backend: &Backend,
) {
    let args = ["--orphan-cleanup-interval", "500ms"];
    let mut rig = Rig::start(backend, &args);
    rig.json(&["sessions", "create", "--id", "left-behind"]);
    let orphan = rig.sandbox("left-behind");
    assert!(rig.alive(&orphan));
    let lookalikes = Lookalikes::make(&rig);

    rig.kill();
    rig.lose_registry();
    assert!(
        rig.alive(&orphan),
        "SIGKILL of msbd leaves the sandbox running"
    );
    rig.restart(&args);
    assert_eq!(rig.json(&["sessions", "list"]), serde_json::json!([]));

    wait_until("the orphan to be stopped", || {
        (!rig.alive(&orphan)).then_some(())
    });
    // The stop is booked when its cycle ends.
    let task = rig.wait_task("orphan-cleanup", "the stop to be counted", |t| {
        t["processed_total"] == 1
    });
    // Seen in one cycle, stopped in the next: never in the first.
    assert!(task["cycles"].as_u64() >= Some(2), "{task}");
    // A few more cycles, and the lookalikes are still there.
    let seen = task["cycles"].as_u64().unwrap_or(0);
    rig.wait_task("orphan-cleanup", "three more cycles", |t| {
        t["cycles"].as_u64() >= Some(seen + 3)
    });
    lookalikes.assert_untouched();
    assert_eq!(rig.status()["overall"], "healthy");
    rig.finish();
}

pub fn a_live_session_is_never_taken_for_an_orphan(backend: &Backend) {
    let rig = Rig::start(backend, &["--orphan-cleanup-interval", "300ms"]);
    rig.json(&["sessions", "create", "--id", "alive"]);
    let sandbox = rig.sandbox("alive");
    rig.wait_task("orphan-cleanup", "several cycles", |t| {
        t["cycles"].as_u64() >= Some(4)
    });
    assert!(rig.alive(&sandbox));
    assert_eq!(rig.task("orphan-cleanup")["processed_total"], 0);
    rig.finish();
}

pub fn orphans_lists_what_the_next_cycle_stops(backend: &Backend) {
    let args = ["--orphan-cleanup-interval", "1h"];
    let mut rig = Rig::start(backend, &args);
    assert_eq!(rig.json(&["orphans"]), serde_json::json!([]));
    rig.json(&["sessions", "create", "--id", "lost"]);
    let sandbox = rig.sandbox("lost");
    rig.kill();
    rig.lose_registry();
    rig.restart(&args);
    rig.wait_task("orphan-cleanup", "its start-up cycle", |t| t["cycles"] == 1);
    let orphans = rig.json(&["orphans"]);
    assert_eq!(orphans.as_array().map(Vec::len), Some(1), "{orphans}");
    assert_eq!(orphans[0]["session_id"], "lost");
    assert_eq!(
        orphans[0]["confirmed"], true,
        "seen by the start-up cycle too"
    );
    assert!(rig.alive(&sandbox), "listing stops nothing");
    let report = rig.json(&["run", "orphan-cleanup"]);
    assert_eq!(report["counts"]["stopped"], 1, "{report}");
    assert!(!rig.alive(&sandbox));
    assert_eq!(rig.json(&["orphans"]), serde_json::json!([]));
    rig.finish();
}

pub fn another_state_dirs_sandboxes_are_never_taken_for_orphans(backend: &Backend) {
    let other = Rig::start(backend, &[]);
    other.json(&["sessions", "create", "--id", "not-yours"]);
    let theirs = other.sandbox("not-yours");
    let rig = Rig::start(backend, &["--orphan-cleanup-interval", "300ms"]);
    rig.wait_task("orphan-cleanup", "several cycles", |t| {
        t["cycles"].as_u64() >= Some(4)
    });
    assert_eq!(rig.json(&["orphans"]), serde_json::json!([]));
    assert!(other.alive(&theirs));
    rig.finish();
    other.finish();
}
