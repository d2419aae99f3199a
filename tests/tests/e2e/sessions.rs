//! Sessions: refused requests, list filters, order and pages, a sandbox that ends by itself. A
//! session's life and its expiry are in the suite (`suite/create.rs`, `suite/expiry.rs`).

use msb_tests::{wait_until, Daemon};

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
fn list_pages_in_creation_order_and_gives_ids_alone() {
    let daemon = Daemon::start(&[]);
    for id in ["c", "a", "d", "b"] {
        daemon.json(&["sessions", "create", "--id", id]);
    }
    daemon.json(&["sessions", "touch", "c"]);
    let ids = |filters: &[&str]| daemon.session_ids(filters);
    assert_eq!(
        ids(&[]),
        ["a", "d", "b", "c"],
        "least recently accessed first"
    );
    // Pages follow creation, which a touch does not change.
    assert_eq!(ids(&["--limit", "2"]), ["c", "a"]);
    assert_eq!(ids(&["--limit", "2", "--offset", "2"]), ["d", "b"]);
    assert_eq!(ids(&["--offset", "3"]), ["b"]);
    assert!(ids(&["--offset", "4"]).is_empty());
    assert!(ids(&["--limit", "0"]).is_empty());
    daemon.json(&["sessions", "touch", "a"]);
    assert_eq!(ids(&["--limit", "2", "--offset", "2"]), ["d", "b"]);

    let text = daemon.ctl(&["sessions", "list", "--ids", "--limit", "3"]);
    assert_eq!(
        (text.code, text.stdout.as_str()),
        (0, "c\na\nd\n"),
        "{text:?}"
    );
    let quiet = daemon.ctl(&["sessions", "list", "-q"]);
    assert_eq!(quiet.stdout, "d\nb\nc\na\n", "{quiet:?}");
    assert_eq!(
        daemon.json(&["sessions", "list", "--ids", "--offset", "1", "--limit", "2"]),
        serde_json::json!(["a", "d"])
    );
    let none = daemon.ctl(&["sessions", "list", "--ids", "--template", "nope"]);
    assert_eq!((none.code, none.stdout.as_str()), (0, ""), "{none:?}");
    assert_eq!(
        daemon.json(&["sessions", "list", "--ids", "--template", "nope"]),
        serde_json::json!([])
    );
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

#[test]
fn one_cycle_stops_every_expired_session_among_many_and_leaves_the_rest() {
    let daemon = Daemon::start(&[
        "--session-timeout",
        "2s",
        "--cleanup-interval",
        "1h",
        "--max-total-memory-mb",
        "0",
    ]);
    let ids: Vec<String> = (0..50).map(|n| format!("s{n}")).collect();
    let created = daemon.ctl_parallel(4, &["sessions", "create", "--id", "{}"], &ids);
    assert!(created.iter().all(|run| run.code == 0), "every create");
    // Busy sessions never expire: all but five stay.
    let (idle, busy) = ids.split_at(5);
    for run in daemon.ctl_parallel(4, &["sessions", "busy", "{}"], busy) {
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let idle_pids: Vec<u32> = idle.iter().flat_map(|id| daemon.session_pids(id)).collect();
    assert!(!idle_pids.is_empty());
    wait_until("every session to pass its timeout", || {
        let past = daemon.json(&["sessions", "list", "--idle-longer-than", "2s"]);
        (past.as_array().map(Vec::len) == Some(ids.len())).then_some(())
    });
    let report = daemon.json(&["run", "session-cleanup"]);
    let counts = &report["counts"];
    assert_eq!(
        (&counts["expired"], &counts["stopped"], &counts["failed"]),
        (&5.into(), &5.into(), &0.into()),
        "{report}"
    );
    assert!(
        idle_pids.iter().all(|pid| !msb_tests::procfs::alive(*pid)),
        "every expired sandbox is stopped"
    );
    let mut left = daemon.session_ids(&[]);
    left.sort();
    let mut busy = busy.to_vec();
    busy.sort();
    assert_eq!(left, busy, "the busy sessions stay");
    daemon.finish();
}
