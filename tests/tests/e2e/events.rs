//! `msbctl events`: what happens in msbd, live with `--follow`, one JSON object a line with
//! `--json`; a follower that falls behind is told how many events it missed.

use msb_tests::{wait_until, Daemon, Lines};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// The event's kind and its fields, from one `--json` line.
fn kind(line: &str) -> (String, Value) {
    let event = parse(line);
    let kinds = event["kind"].as_object().expect("an object kind");
    assert_eq!(kinds.len(), 1, "one kind: {line}");
    let (name, fields) = kinds.iter().next().expect("a kind");
    assert!(event["at_ms"].as_u64().is_some(), "a time: {line}");
    (name.clone(), fields.clone())
}

/// A `--json` line is the event `name` with `field` equal to `value`.
fn is(line: &str, name: &str, field: &str, value: &str) -> bool {
    let (kind, fields) = kind(line);
    kind == name && fields[field] == value
}

#[test]
fn follow_shows_a_sessions_create_and_expiry_and_a_tasks_pause_and_resume_as_they_happen() {
    let daemon = Daemon::start(&["--session-timeout", "1s", "--cleanup-interval", "200ms"]);
    let follower = Lines::spawn(daemon.ctl_command(&["--json", "events", "--follow"]));
    // The tasks' first cycles are among the recent events: once one is read, the follow is on.
    follower.until("a recent cycle", |line| kind(line).0 == "cycle");

    // Each event comes before the next step is taken: it is told as it happens. The session
    // is created while session-cleanup is paused, so it can expire only after the resume.
    daemon.json(&[
        "pause",
        "session-cleanup",
        "--reason",
        "backup",
        "--for",
        "1h",
    ]);
    let paused = follower.until("the pause", |line| {
        is(line, "task_paused", "task", "session-cleanup")
    });
    let (_, fields) = kind(paused.last().expect("the line"));
    assert_eq!(fields["reason"], "backup");
    assert!(fields["until"].as_u64().is_some(), "{fields}");
    assert!(fields["by_uid"].as_u64().is_some(), "{fields}");
    follower.until("the paused state", |line| {
        is(line, "task_state", "state", "paused")
    });

    daemon.json(&["sessions", "create", "--id", "demo", "--flavor", "medium"]);
    let created = follower.until("the session's creation", |line| {
        is(line, "session_created", "session_id", "demo")
    });
    let (_, fields) = kind(created.last().expect("the line"));
    assert_eq!(fields["template"], "default");
    assert_eq!(fields["flavor"], "medium");

    daemon.json(&["resume", "session-cleanup"]);
    let resumed = follower.until("the resume", |line| {
        is(line, "task_resumed", "task", "session-cleanup")
    });
    let (_, fields) = kind(resumed.last().expect("the line"));
    assert_eq!(fields["lease_ended"], false);
    assert!(
        !resumed
            .iter()
            .any(|l| is(l, "session_expired", "session_id", "demo")),
        "no expiry while paused: {resumed:#?}"
    );

    let expired = follower.until("the expiry", |line| {
        is(line, "session_expired", "session_id", "demo")
    });
    let (_, fields) = kind(expired.last().expect("the line"));
    assert_eq!(fields["fate"], "stopped");

    // Without --follow: the same events, in the same order, and then the end.
    let recent = daemon.ctl(&["--json", "events"]);
    assert_eq!(recent.code, 0, "{recent:?}");
    let lines: Vec<&str> = recent.stdout.lines().collect();
    let at = |name: &str, field: &str, value: &str| {
        lines
            .iter()
            .position(|l| is(l, name, field, value))
            .unwrap_or_else(|| panic!("no {name} in {lines:#?}"))
    };
    let order = [
        at("task_paused", "task", "session-cleanup"),
        at("session_created", "session_id", "demo"),
        at("task_resumed", "task", "session-cleanup"),
        at("session_expired", "session_id", "demo"),
    ];
    assert!(order.is_sorted(), "in the order they happened: {order:?}");
    let times: Vec<u64> = lines
        .iter()
        .map(|l| parse(l)["at_ms"].as_u64().expect("a time"))
        .collect();
    assert!(times.is_sorted(), "oldest first: {times:?}");

    let text = daemon.ctl(&["events"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.contains("session demo created")
            && text.stdout.contains("task session-cleanup paused by uid")
            && text.stdout.contains("session demo expired"),
        "one line per event, for people: {}",
        text.stdout
    );
    drop(follower);
    daemon.finish();
}

#[test]
fn a_follower_that_falls_behind_is_told_how_many_events_it_missed() {
    let daemon = Daemon::start(&[
        "--event-buffer",
        "8",
        "--cleanup-interval",
        "1h",
        "--orphan-cleanup-interval",
        "1h",
    ]);
    let follower = Lines::spawn(daemon.ctl_command(&["--json", "events", "--follow"]));
    follower.until("a recent cycle", |line| kind(line).0 == "cycle");
    // A follower that reads nothing at all: what msbd sends it piles up until its
    // connection is full, then msbd goes on without it and counts what it missed.
    let stopped = Pid::from_raw(follower.pid() as i32);
    kill(stopped, Signal::SIGSTOP).expect("stop the follower");
    let missed = || {
        let metrics = daemon.ctl(&["metrics"]);
        assert_eq!(metrics.code, 0, "{metrics:?}");
        metrics
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("msbd_events_missed_total "))
            .and_then(|n| n.parse::<u64>().ok())
            .expect("msbd_events_missed_total")
    };
    assert_eq!(missed(), 0);
    wait_until("the follower to fall behind", || {
        // Each round is eight events: both tasks paused and resumed, and their states.
        for _ in 0..20 {
            assert_eq!(daemon.ctl(&["pause"]).code, 0);
            assert_eq!(daemon.ctl(&["resume"]).code, 0);
        }
        (missed() > 0).then_some(())
    });
    kill(stopped, Signal::SIGCONT).expect("let the follower go on");
    let read = follower.until("the missed count", |line| parse(line)["missed"].is_u64());
    let told = parse(read.last().expect("the line"))["missed"]
        .as_u64()
        .expect("a count");
    assert!(told > 0, "{read:#?}");
    // It is told before any later event, and goes on following.
    daemon.json(&["sessions", "create", "--id", "later"]);
    follower.until("a later event", |line| {
        parse(line)["kind"].is_object() && is(line, "session_created", "session_id", "later")
    });
    drop(follower);
    daemon.finish();
}
