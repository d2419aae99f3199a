//! Expiry by `session-cleanup`: an idle session goes with its sandbox; one in use, touched,
//! running a command or marked busy stays.

use super::{Backend, Rig};
use msb_tests::wait_until;

pub fn an_idle_session_expires_and_a_touched_one_survives(backend: &Backend) {
    let rig = Rig::start(
        backend,
        &["--session-timeout", "2s", "--cleanup-interval", "500ms"],
    );
    rig.json(&["sessions", "create", "--id", "idle"]);
    rig.json(&["sessions", "create", "--id", "busy"]);
    let idle = rig.sandbox("idle");
    assert!(rig.alive(&idle));
    wait_until("the idle session to expire", || {
        rig.json(&["sessions", "touch", "busy"]);
        let ids = rig.session_ids(&[]);
        (!ids.contains(&"idle".to_string())).then_some(ids)
    });
    assert!(!rig.alive(&idle), "the expired session's sandbox is gone");
    let list = rig.json(&["sessions", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["id"], "busy");
    assert!(rig.has_sandbox("busy"));
    // The stop is booked when its cycle ends.
    rig.wait_task("session-cleanup", "the expiry to be counted", |t| {
        t["processed_total"] == 1
    });
    rig.finish();
}

pub fn create_with_a_live_id_returns_that_session_and_an_expired_one_is_replaced(
    backend: &Backend,
) {
    let rig = Rig::start(
        backend,
        &["--session-timeout", "2s", "--cleanup-interval", "1h"],
    );
    let first = rig.json(&["sessions", "create", "--id", "job"]);
    let again = rig.json(&["sessions", "create", "--id", "job", "--flavor", "large"]);
    assert_eq!(
        again["sandbox"], first["sandbox"],
        "the same session, not a new one"
    );
    assert_eq!(again["flavor"], "small");
    let old = rig.sandbox("job");
    // Past its timeout (cleanup runs hourly here, so it is still registered).
    wait_until("the session to pass its timeout", || {
        let list = rig.json(&["sessions", "list", "--idle-longer-than", "2s"]);
        (list.as_array().map(Vec::len) == Some(1)).then_some(())
    });
    let fresh = rig.json(&["sessions", "create", "--id", "job"]);
    assert_ne!(
        fresh["sandbox"], first["sandbox"],
        "an expired session is replaced"
    );
    assert!(!rig.alive(&old), "the old sandbox is stopped");
    assert!(rig.has_sandbox("job"));
    rig.finish();
}

pub fn a_running_command_keeps_its_session_from_expiring(backend: &Backend) {
    let rig = Rig::with_session(
        backend,
        &["--session-timeout", "2s", "--cleanup-interval", "200ms"],
        "w4",
    );
    let mut child = rig
        .ctl_command(&["sessions", "exec", "w4", "--", "sleep", "4"])
        .spawn()
        .expect("run msbctl");
    wait_until("the session to be processing", || {
        (rig.json(&["sessions", "show", "w4"])["status"] == "processing").then_some(())
    });
    let status = child.wait().expect("exec ends");
    assert!(status.success(), "{status:?}");
    let shown = rig.ctl(&["--json", "sessions", "show", "w4"]);
    assert_eq!(shown.code, 0, "expired while its command ran: {shown:?}");
    assert_eq!(shown.json()["status"], "ready");
    wait_until("the idle session to expire", || {
        (rig.ctl(&["sessions", "show", "w4"]).code == 1).then_some(())
    });
    rig.finish();
}

pub fn a_busy_session_is_not_expired_until_marked_idle(backend: &Backend) {
    let rig = Rig::start(
        backend,
        &["--session-timeout", "1s", "--cleanup-interval", "300ms"],
    );
    rig.json(&["sessions", "create", "--id", "work"]);
    let busy = rig.json(&["sessions", "busy", "work"]);
    assert_eq!(busy["status"], "processing");
    wait_until("the session to pass its timeout", || {
        let list = rig.json(&["sessions", "list", "--idle-longer-than", "1s"]);
        (list.as_array().map(Vec::len) == Some(1)).then_some(())
    });
    // Several cycles after its timeout, it is still there.
    let seen = rig.task("session-cleanup")["cycles"].as_u64().unwrap_or(0);
    rig.wait_task("session-cleanup", "three more cycles", |t| {
        t["cycles"].as_u64() >= Some(seen + 3)
    });
    assert_eq!(
        rig.json(&["sessions", "show", "work"])["status"],
        "processing"
    );
    assert!(rig.has_sandbox("work"));

    rig.json(&["sessions", "idle", "work"]);
    wait_until("the idle session to expire", || {
        rig.session_ids(&[]).is_empty().then_some(())
    });
    rig.finish();
}

pub fn a_busy_mark_left_behind_lapses(backend: &Backend) {
    let rig = Rig::start(
        backend,
        &[
            "--session-timeout",
            "1s",
            "--busy-timeout",
            "2s",
            "--cleanup-interval",
            "300ms",
        ],
    );
    rig.json(&["sessions", "create", "--id", "crashed-client"]);
    rig.json(&["sessions", "busy", "crashed-client"]);
    wait_until("the busy mark to lapse and the session to expire", || {
        rig.session_ids(&[]).is_empty().then_some(())
    });
    assert!(rig.log().contains("busy mark lapsed"), "{}", rig.log());
    rig.finish();
}
