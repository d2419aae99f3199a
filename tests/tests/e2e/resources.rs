//! Limits and eviction: the least recently used idle session makes room; busy ones never.

use msb_tests::{procfs, wait_until, Daemon, STUBBORN};

#[test]
fn a_create_over_max_sessions_evicts_the_least_recently_used_idle_session() {
    let daemon = Daemon::start(&["--max-sessions", "3"]);
    for id in ["a", "b", "c"] {
        daemon.json(&["sessions", "create", "--id", id]);
    }
    daemon.json(&["sessions", "touch", "a"]);
    let lru = daemon.session_pids("b");
    daemon.json(&["sessions", "create", "--id", "d"]);
    let mut left = daemon.session_ids(&[]);
    left.sort();
    assert_eq!(left, ["a", "c", "d"], "b was the least recently used");
    assert!(
        lru.iter().all(|pid| !procfs::alive(*pid)),
        "the evicted sandbox is stopped"
    );
    let resources = &daemon.status()["resources"];
    assert_eq!(resources["evictions"], 1, "{resources}");
    assert_eq!(resources["sessions"]["used"], 3);
    assert!(daemon.log().contains("evicted"), "evictions are logged");

    for id in ["a", "c", "d"] {
        daemon.json(&["sessions", "busy", id]);
    }
    let refused = daemon.ctl(&["--json", "sessions", "create", "--id", "e"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    let error = refused.json();
    assert_eq!(error["error"]["code"], "limit_reached");
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("max_sessions") && message.contains("3 of 3"),
        "{message}"
    );
    assert_eq!(
        daemon.session_ids(&[]).len(),
        3,
        "no busy session was evicted"
    );
    daemon.finish();
}

#[test]
fn memory_limit_counts_flavors_and_evicts_to_fit() {
    let daemon = Daemon::start(&["--max-total-memory-mb", "3100"]);
    daemon.json(&["sessions", "create", "--id", "m1", "--flavor", "medium"]);
    daemon.json(&["sessions", "create", "--id", "s1", "--flavor", "small"]);
    let resources = daemon.status()["resources"].clone();
    assert_eq!(resources["memory_mb"]["used"], 3072);
    assert_eq!(resources["memory_mb"]["max"], 3100);
    daemon.json(&["sessions", "create", "--id", "m2", "--flavor", "medium"]);
    let mut left = daemon.session_ids(&[]);
    left.sort();
    assert_eq!(
        left,
        ["m2", "s1"],
        "the first medium was the least recently used"
    );
    let resources = daemon.status()["resources"].clone();
    assert_eq!(resources["memory_mb"]["used"], 3072, "{resources}");
    assert_eq!(resources["cpus"]["used"], 3);
    assert_eq!(resources["by_flavor"]["medium"], 1);
    assert_eq!(resources["by_flavor"]["small"], 1);
    assert_eq!(resources["by_flavor"]["large"], 0);
    assert_eq!(resources["evictions"], 1);
    let large = daemon.ctl(&["sessions", "create", "--flavor", "large"]);
    assert_eq!(
        large.code, 1,
        "4096 MB cannot fit under 3100 MB at all: {large:?}"
    );
    assert!(large.stderr.contains("asks for 4096 MB"), "{large:?}");
    assert_eq!(
        daemon.session_ids(&[]).len(),
        2,
        "a hopeless create evicts nothing"
    );
    daemon.finish();
}

#[test]
fn a_busy_session_is_not_expired_until_marked_idle() {
    let daemon = Daemon::start(&["--session-timeout", "1s", "--cleanup-interval", "300ms"]);
    daemon.json(&["sessions", "create", "--id", "work"]);
    let busy = daemon.json(&["sessions", "busy", "work"]);
    assert_eq!(busy["status"], "processing");
    wait_until("the session to pass its timeout", || {
        let list = daemon.json(&["sessions", "list", "--idle-longer-than", "1s"]);
        (list.as_array().map(Vec::len) == Some(1)).then_some(())
    });
    // Several cycles after its timeout, it is still there.
    let seen = daemon.task("session-cleanup")["cycles"]
        .as_u64()
        .unwrap_or(0);
    daemon.wait_task("session-cleanup", "three more cycles", |t| {
        t["cycles"].as_u64() >= Some(seen + 3)
    });
    assert_eq!(
        daemon.json(&["sessions", "show", "work"])["status"],
        "processing"
    );
    assert!(!daemon.session_pids("work").is_empty());

    daemon.json(&["sessions", "idle", "work"]);
    wait_until("the idle session to expire", || {
        daemon.session_ids(&[]).is_empty().then_some(())
    });
    daemon.finish();
}

#[test]
fn a_busy_mark_left_behind_lapses() {
    let daemon = Daemon::start(&[
        "--session-timeout",
        "1s",
        "--busy-timeout",
        "2s",
        "--cleanup-interval",
        "300ms",
    ]);
    daemon.json(&["sessions", "create", "--id", "crashed-client"]);
    daemon.json(&["sessions", "busy", "crashed-client"]);
    wait_until("the busy mark to lapse and the session to expire", || {
        daemon.session_ids(&[]).is_empty().then_some(())
    });
    assert!(
        daemon.log().contains("busy mark lapsed"),
        "{}",
        daemon.log()
    );
    daemon.finish();
}

#[test]
fn concurrent_creates_into_a_full_registry_evict_exactly_one_session_each() {
    let daemon = Daemon::start(&[
        "--max-sessions",
        "20",
        "--max-total-memory-mb",
        "0",
        "--template",
        STUBBORN,
        "--stop-grace",
        "2s",
    ]);
    // The least recently used session ignores SIGTERM: its eviction takes the whole grace,
    // while the other creates plan theirs.
    daemon.json(&[
        "sessions",
        "create",
        "--id",
        "lru",
        "--template",
        "stubborn",
    ]);
    for i in 1..20 {
        daemon.json(&["sessions", "create", "--id", &format!("s{i:02}")]);
    }
    let new: Vec<String> = (0..6).map(|i| format!("new-{i}")).collect();
    let runs = daemon.ctl_parallel(6, &["sessions", "create", "--id", "{}"], &new);
    for run in &runs {
        assert_eq!(run.code, 0, "{run:?}");
    }
    let resources = daemon.status()["resources"].clone();
    assert_eq!(resources["evictions"], 6, "{resources}");
    let mut left = daemon.session_ids(&[]);
    left.sort();
    let mut expected: Vec<String> = (6..20).map(|i| format!("s{i:02}")).collect();
    expected.extend(new);
    expected.sort();
    assert_eq!(left, expected, "the six least recently used went, no more");
    daemon.finish();
}
