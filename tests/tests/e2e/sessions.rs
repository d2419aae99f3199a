//! Sessions: create, list, touch, stop, and expiry by `session-cleanup`.

use msb_tests::{procfs, wait_until, Daemon};

#[test]
fn create_list_show_touch_and_stop_a_session() {
    let daemon = Daemon::start(&[]);
    let created = daemon.json(&["sessions", "create", "--id", "job-1", "--flavor", "medium"]);
    assert_eq!(created["id"], "job-1");
    assert_eq!(created["template"], "default");
    assert_eq!(created["flavor"], "medium");
    assert_eq!(created["status"], "ready");
    let sandbox = created["sandbox"]
        .as_str()
        .expect("sandbox name")
        .to_string();
    let pids = daemon.session_pids("job-1");
    assert!(!pids.is_empty(), "the sandbox runs");

    let list = daemon.json(&["sessions", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    for field in [
        "id",
        "template",
        "flavor",
        "status",
        "sandbox",
        "created_at",
        "last_accessed",
    ] {
        assert!(
            !list[0][field].is_null(),
            "list entry lacks {field}: {list}"
        );
    }
    assert_eq!(
        daemon.json(&["sessions", "show", "job-1"])["sandbox"],
        sandbox.as_str()
    );
    assert_eq!(daemon.json(&["sessions", "touch", "job-1"])["id"], "job-1");
    assert_eq!(daemon.status()["sessions"]["active"], 1);

    let workdir = daemon.state.join("work").join(&sandbox);
    assert!(workdir.is_dir(), "a private working directory");
    let stopped = daemon.json(&["sessions", "stop", "job-1"]);
    assert!(!workdir.exists(), "removed with the sandbox");
    assert_eq!(stopped["status"], "stopped");
    assert!(
        pids.iter().all(|pid| !procfs::alive(*pid)),
        "the sandbox process is gone once stop returns"
    );
    assert_eq!(daemon.json(&["sessions", "list"]), serde_json::json!([]));
    daemon.finish();
}

#[test]
fn bad_session_requests_get_clear_errors() {
    let daemon = Daemon::start(&["--max-sessions", "1", "--enable-lru-eviction", "false"]);
    let unknown = daemon.ctl(&["--json", "sessions", "show", "nope"]);
    assert_eq!(unknown.code, 1);
    assert_eq!(unknown.json()["error"]["code"], "unknown_session");
    let template = daemon.ctl(&["sessions", "create", "--template", "python"]);
    assert_eq!(template.code, 1);
    assert!(
        template.stderr.contains("'python'") && template.stderr.contains("default"),
        "{template:?}"
    );
    let id = daemon.ctl(&["sessions", "create", "--id", "../etc"]);
    assert!(id.code == 1 && id.stderr.contains("not allowed"), "{id:?}");
    daemon.json(&["sessions", "create", "--id", "one"]);
    let full = daemon.ctl(&["--json", "sessions", "create"]);
    assert_eq!(full.code, 1);
    let error = full.json();
    assert_eq!(error["error"]["code"], "limit_reached");
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("1 of 1") && message.contains("eviction is off"),
        "{error}"
    );
    let mark = daemon.ctl(&["sessions", "busy", "nope"]);
    assert_eq!(mark.code, 1, "{mark:?}");
    assert_eq!(daemon.status()["sessions"]["active"], 1);
    daemon.finish();
}

#[test]
fn create_with_a_live_id_returns_that_session_and_an_expired_one_is_replaced() {
    let daemon = Daemon::start(&["--session-timeout", "2s", "--cleanup-interval", "1h"]);
    let first = daemon.json(&["sessions", "create", "--id", "job"]);
    let again = daemon.json(&["sessions", "create", "--id", "job", "--flavor", "large"]);
    assert_eq!(
        again["sandbox"], first["sandbox"],
        "the same session, not a new one"
    );
    assert_eq!(again["flavor"], "small");
    let pids = daemon.session_pids("job");
    // Past its timeout (cleanup runs hourly here, so it is still registered).
    wait_until("the session to pass its timeout", || {
        let list = daemon.json(&["sessions", "list", "--idle-longer-than", "2s"]);
        (list.as_array().map(Vec::len) == Some(1)).then_some(())
    });
    let fresh = daemon.json(&["sessions", "create", "--id", "job"]);
    assert_ne!(
        fresh["sandbox"], first["sandbox"],
        "an expired session is replaced"
    );
    assert!(
        pids.iter().all(|pid| !procfs::alive(*pid)),
        "the old sandbox is stopped"
    );
    assert!(!daemon.session_pids("job").is_empty());
    daemon.finish();
}

#[test]
fn list_filters_and_sorts_by_last_access() {
    let daemon = Daemon::start(&["--template", "other=sleep 300"]);
    daemon.json(&["sessions", "create", "--id", "a"]);
    daemon.json(&["sessions", "create", "--id", "b", "--template", "other"]);
    daemon.json(&["sessions", "create", "--id", "c"]);
    wait_until("a second to pass", || {
        let list = daemon.json(&["sessions", "list", "--idle-longer-than", "1s"]);
        (list.as_array().map(Vec::len) == Some(3)).then_some(())
    });
    daemon.json(&["sessions", "touch", "a"]);
    daemon.json(&["sessions", "busy", "c"]);
    let ids = |filters: &[&str]| daemon.session_ids(filters);
    assert_eq!(
        ids(&[]),
        ["b", "c", "a"],
        "least recently accessed first; a busy mark is no access"
    );
    assert_eq!(ids(&["--template", "other"]), ["b"]);
    assert_eq!(ids(&["--status", "processing"]), ["c"]);
    assert_eq!(ids(&["--idle-longer-than", "1s"]), ["b", "c"]);
    let shown = daemon.json(&["sessions", "show", "b"]);
    let details = &shown["details"];
    assert_eq!(details["running"], true, "{shown}");
    let pid = details["pid"].as_u64().map(|p| p as u32).expect("a pid");
    assert!(daemon.session_pids("b").contains(&pid), "{shown}");
    assert!(
        details["workdir"]
            .as_str()
            .is_some_and(|d| d.ends_with(shown["sandbox"].as_str().unwrap_or("?"))),
        "{shown}"
    );
    daemon.finish();
}

#[test]
fn an_idle_session_expires_and_a_touched_one_survives() {
    let daemon = Daemon::start(&["--session-timeout", "2s", "--cleanup-interval", "500ms"]);
    daemon.json(&["sessions", "create", "--id", "idle"]);
    daemon.json(&["sessions", "create", "--id", "busy"]);
    let idle_pids = daemon.session_pids("idle");
    assert!(!idle_pids.is_empty());
    wait_until("the idle session to expire", || {
        daemon.json(&["sessions", "touch", "busy"]);
        let ids = daemon.session_ids(&[]);
        (!ids.contains(&"idle".to_string())).then_some(ids)
    });
    assert!(
        idle_pids.iter().all(|pid| !procfs::alive(*pid)),
        "the expired session's sandbox is gone"
    );
    let list = daemon.json(&["sessions", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["id"], "busy");
    assert!(!daemon.session_pids("busy").is_empty());
    // The stop is booked when its cycle ends.
    daemon.wait_task("session-cleanup", "the expiry to be counted", |t| {
        t["processed_total"] == 1
    });
    daemon.finish();
}

#[test]
fn a_sandbox_that_exits_by_itself_ends_its_session() {
    let daemon = Daemon::start(&["--template", "short=sleep 1"]);
    daemon.json(&["sessions", "create", "--id", "brief", "--template", "short"]);
    daemon.json(&["sessions", "create", "--id", "lasting"]);
    wait_until("the brief session to end", || {
        let list = daemon.json(&["sessions", "list"]);
        (list.as_array().map(Vec::len) == Some(1)).then_some(list)
    });
    assert_eq!(daemon.json(&["sessions", "list"])[0]["id"], "lasting");
    assert!(
        daemon.log().contains("ended on its own"),
        "{}",
        daemon.log()
    );
    daemon.finish();
}
