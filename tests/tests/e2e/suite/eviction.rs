//! Limits and eviction: the least recently used idle session makes room; busy ones never.

use super::{Backend, Rig};

pub fn a_create_over_max_sessions_evicts_the_least_recently_used_idle_session(backend: &Backend) {
    let rig = Rig::start(backend, &["--max-sessions", "3"]);
    for id in ["a", "b", "c"] {
        rig.json(&["sessions", "create", "--id", id]);
    }
    rig.json(&["sessions", "touch", "a"]);
    let lru = rig.sandbox("b");
    rig.json(&["sessions", "create", "--id", "d"]);
    let mut left = rig.session_ids(&[]);
    left.sort();
    assert_eq!(left, ["a", "c", "d"], "b was the least recently used");
    assert!(!rig.alive(&lru), "the evicted sandbox is stopped");
    let resources = &rig.status()["resources"];
    assert_eq!(resources["evictions"], 1, "{resources}");
    assert_eq!(resources["sessions"]["used"], 3);
    assert!(rig.log().contains("evicted"), "evictions are logged");

    for id in ["a", "c", "d"] {
        rig.json(&["sessions", "busy", id]);
    }
    let refused = rig.ctl(&["--json", "sessions", "create", "--id", "e"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    let error = refused.json();
    assert_eq!(error["error"]["code"], "limit_reached");
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("max_sessions") && message.contains("3 of 3"),
        "{message}"
    );
    assert_eq!(rig.session_ids(&[]).len(), 3, "no busy session was evicted");
    rig.finish();
}

pub fn memory_limit_counts_flavors_and_evicts_to_fit(backend: &Backend) {
    let rig = Rig::start(backend, &["--max-total-memory-mb", "3100"]);
    rig.json(&["sessions", "create", "--id", "m1", "--flavor", "medium"]);
    rig.json(&["sessions", "create", "--id", "s1", "--flavor", "small"]);
    let resources = rig.status()["resources"].clone();
    assert_eq!(resources["memory_mb"]["used"], 3072);
    assert_eq!(resources["memory_mb"]["max"], 3100);
    rig.json(&["sessions", "create", "--id", "m2", "--flavor", "medium"]);
    let mut left = rig.session_ids(&[]);
    left.sort();
    assert_eq!(
        left,
        ["m2", "s1"],
        "the first medium was the least recently used"
    );
    let resources = rig.status()["resources"].clone();
    assert_eq!(resources["memory_mb"]["used"], 3072, "{resources}");
    assert_eq!(resources["cpus"]["used"], 3);
    assert_eq!(resources["by_flavor"]["medium"], 1);
    assert_eq!(resources["by_flavor"]["small"], 1);
    assert_eq!(resources["by_flavor"]["large"], 0);
    assert_eq!(resources["evictions"], 1);
    let large = rig.ctl(&["sessions", "create", "--flavor", "large"]);
    assert_eq!(
        large.code, 1,
        "4096 MB cannot fit under 3100 MB at all: {large:?}"
    );
    assert!(large.stderr.contains("asks for 4096 MB"), "{large:?}");
    assert_eq!(
        rig.session_ids(&[]).len(),
        2,
        "a hopeless create evicts nothing"
    );
    rig.finish();
}
