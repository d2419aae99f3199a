//! Live restore: a daemon that crashes or is upgraded comes back with every session, adopting
//! the very same sandboxes.

use super::{Backend, Rig, Sandbox};
use msb_tests::wait_until;
use std::collections::BTreeMap;

/// Each session's sandbox.
fn sandboxes(rig: &Rig, ids: &[String]) -> BTreeMap<String, Sandbox> {
    ids.iter().map(|id| (id.clone(), rig.sandbox(id))).collect()
}

/// Session ids, sorted.
fn listed(rig: &Rig) -> Vec<String> {
    let mut ids = rig.session_ids(&[]);
    ids.sort();
    ids
}

pub fn after_a_crash_every_session_is_adopted_with_its_own_sandbox(backend: &Backend) {
    let args = [
        "--cleanup-interval",
        "300ms",
        "--orphan-cleanup-interval",
        "300ms",
    ];
    let mut rig = Rig::start(backend, &args);
    let ids: Vec<String> = (0..20).map(|i| format!("s{i:02}")).collect();
    for id in &ids {
        rig.json(&["sessions", "create", "--id", id]);
    }
    let before = sandboxes(&rig, &ids);

    rig.kill();
    rig.restart(&args);
    assert_eq!(listed(&rig), ids);
    assert_eq!(sandboxes(&rig, &ids), before, "the very same sandboxes");
    assert_eq!(rig.status()["sessions"]["adopted"], 20);
    // Several orphan cycles later, nothing was reaped.
    rig.wait_task("orphan-cleanup", "three cycles", |t| {
        t["cycles"].as_u64() >= Some(3)
    });
    assert_eq!(rig.task("orphan-cleanup")["processed_total"], 0);
    assert!(before.values().all(|sandbox| rig.alive(sandbox)));

    // A sandbox killed from outside ends its session within a cleanup cycle.
    let cycles = rig.task("session-cleanup")["cycles"].as_u64().unwrap_or(0);
    rig.kill_sandbox(&before["s07"]);
    wait_until("the session of the killed sandbox to end", || {
        (!listed(&rig).contains(&"s07".to_string())).then_some(())
    });
    let after = rig.task("session-cleanup")["cycles"].as_u64().unwrap_or(0);
    assert!(after <= cycles + 2, "took {} cycles", after - cycles);
    assert_eq!(listed(&rig).len(), 19);
    rig.finish();
}

pub fn stop_keep_sandboxes_hands_them_to_the_next_daemon(backend: &Backend) {
    let mut rig = Rig::start(backend, &[]);
    let ids: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    for id in &ids {
        rig.json(&["sessions", "create", "--id", id]);
    }
    rig.json(&["sessions", "busy", "b"]);
    let before = sandboxes(&rig, &ids);
    let run = rig.ctl(&["--json", "stop", "--keep-sandboxes"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(report["kept"], 3, "{report}");
    assert_eq!(report["outcome"], "clean");
    assert_eq!(rig.wait_exit(), 0);
    assert!(
        before.values().all(|sandbox| rig.alive(sandbox)),
        "the sandboxes kept running"
    );

    // One sandbox dies while no daemon runs: its session is stopped at start-up.
    rig.kill_sandbox(&before["c"]);
    wait_until("c's sandbox to die", || {
        (!rig.alive(&before["c"])).then_some(())
    });

    rig.restart(&[]);
    let kept = &ids[..2];
    assert_eq!(listed(&rig), kept);
    for id in kept {
        assert_eq!(rig.sandbox(id), before[id], "{id} keeps its sandbox");
    }
    let sessions = rig.status()["sessions"].clone();
    assert_eq!(sessions["adopted"], 2, "{sessions}");
    assert_eq!(sessions["lost_at_start"], 1, "{sessions}");
    assert!(rig.log().contains("ended while msbd was down"));
    assert_eq!(
        rig.json(&["sessions", "show", "b"])["status"],
        "processing",
        "status changes are kept"
    );
    rig.finish();
}
