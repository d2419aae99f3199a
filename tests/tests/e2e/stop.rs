//! Graceful stop with stubborn sandboxes: killed at the deadline. Clean stops are in the
//! suite (`suite/stop.rs`).

use msb_tests::{Daemon, STUBBORN};

#[test]
fn stop_kills_stubborn_sandboxes_at_the_deadline() {
    let mut daemon = Daemon::start(&["--template", STUBBORN]);
    daemon.json(&[
        "sessions",
        "create",
        "--id",
        "stubborn-1",
        "--template",
        "stubborn",
    ]);
    daemon.json(&[
        "sessions",
        "create",
        "--id",
        "stubborn-2",
        "--template",
        "stubborn",
    ]);
    daemon.json(&["sessions", "create", "--id", "polite"]);
    for id in ["stubborn-1", "stubborn-2", "polite"] {
        assert!(
            !daemon.session_pids(id).is_empty(),
            "{id} has no sandbox process"
        );
    }

    let run = daemon.ctl(&["--json", "stop", "--timeout", "2s"]);
    assert_eq!(run.code, 1, "a forced stop exits 1: {run:?}");
    // msbctl returns only once the daemon has exited.
    assert!(
        !daemon.running(),
        "msbd still runs after msbctl stop returned"
    );
    let report = run.json();
    assert_eq!(report["outcome"], "forced");
    assert_eq!(report["sessions_total"], 3);
    assert_eq!(report["killed"], 2);
    assert_eq!(report["stopped"], 1);
    assert_eq!(report["failed"], 0);
    let ms = report["duration_ms"].as_u64().expect("duration");
    assert!(ms >= 1500, "killed before the deadline: {ms} ms");
    let fates: Vec<(String, String)> = report["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or("").into(),
                s["fate"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        fates,
        [
            ("polite".to_string(), "stopped".to_string()),
            ("stubborn-1".into(), "killed".into()),
            ("stubborn-2".into(), "killed".into())
        ]
    );
    daemon.wait_exit();
    daemon.assert_no_sandboxes();
    assert!(!daemon.socket.exists(), "the socket is removed on exit");
}
