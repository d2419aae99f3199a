//! Eviction under concurrent creates. The limits and eviction every backend shares are in the
//! suite (`suite/eviction.rs`).

use msb_tests::{Daemon, STUBBORN};

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
