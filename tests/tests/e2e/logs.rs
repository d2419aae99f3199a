//! A sandbox's own log: kept bounded, read and followed with `sessions logs`; a command that
//! cannot start fails its create and leaves nothing; a sandbox that ends by itself leaves an
//! `ended` session with its exit and last lines.

use msb_tests::{wait_until, Daemon, Lines};
use serde_json::Value;

const BAD: &str = "bad=no-such-command-xyz";
const FAILS: &str = "fails=echo oops >&2; sleep 1; exit 3";
/// Writes over 2 MiB, then a last line.
const BIG: &str = "big=head -c 3000000 /dev/zero | tr '\\0' x; echo; echo end-of-big; sleep 300";
/// Says `before`, waits for a file `go` in its working directory, says `after` and ends.
const WAITS: &str =
    "waits=echo before; while [ ! -e go ]; do sleep 0.05; done; echo after; sleep 0.5";
/// A pipe whose reader leaves early ends its writer quietly (SIGPIPE is not ignored).
const PIPE: &str = "pipe=yes | head -1; grep SigIgn /proc/self/status; sleep 300";

/// The session `id` as `sessions list --ended` shows it, if it does.
fn listed(daemon: &Daemon, id: &str) -> Option<Value> {
    daemon
        .json(&["sessions", "list", "--ended"])
        .as_array()?
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
}

fn logs(daemon: &Daemon, args: &[&str]) -> String {
    let mut all = vec!["sessions", "logs"];
    all.extend_from_slice(args);
    let run = daemon.ctl(&all);
    assert_eq!(run.code, 0, "{run:?}");
    run.stdout
}

#[test]
fn a_command_that_cannot_start_fails_the_create_and_leaves_nothing() {
    let daemon = Daemon::start(&["--template", BAD]);
    let run = daemon.ctl(&[
        "--json",
        "sessions",
        "create",
        "--template",
        "bad",
        "--id",
        "b",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("cannot run no-such-command-xyz: No such file or directory"),
        "the message names the command and why: {run:?}"
    );
    assert_eq!(run.json()["error"]["code"], "backend");
    assert_eq!(
        listed(&daemon, "b"),
        None,
        "no session, not even an ended one"
    );
    assert!(daemon.sandbox_pids().is_empty(), "no sandbox process");
    for dir in ["work", "sandboxes", "logs"] {
        assert!(
            daemon.state_entries(dir).is_empty(),
            "nothing in {dir}: {:?}",
            daemon.state_entries(dir)
        );
    }
    assert!(daemon.sandbox_cgroups().is_empty(), "no cgroup");
    daemon.finish();
}

#[test]
fn a_sandbox_that_ends_by_itself_leaves_an_ended_session_with_its_exit_and_log() {
    let daemon = Daemon::start(&["--template", FAILS]);
    let created = daemon.json(&["sessions", "create", "--template", "fails", "--id", "f"]);
    assert_eq!(created["status"], "ready");
    let ended = wait_until("the session to be ended", || {
        listed(&daemon, "f").filter(|s| s["status"] == "ended")
    });
    assert_eq!(ended["exit"]["code"], 3, "{ended}");
    assert!(
        daemon.session_ids(&[]).is_empty(),
        "only listed with --ended"
    );
    assert_eq!(daemon.session_ids(&["--status", "ended"]), ["f"]);
    assert_eq!(
        daemon.status()["sessions"]["active"],
        0,
        "counts for nothing"
    );

    let shown = daemon.json(&["sessions", "show", "f"]);
    assert_eq!(shown["status"], "ended");
    assert_eq!(shown["exit"]["code"], 3);
    assert!(shown["exit"]["signal"].is_null());
    assert_eq!(shown["exit"]["log_tail"], serde_json::json!(["oops"]));
    let human = daemon.ctl(&["sessions", "show", "f"]).stdout;
    assert!(
        human.contains("ended") && human.contains("code 3"),
        "{human}"
    );
    assert!(human.contains("oops"), "{human}");

    assert_eq!(logs(&daemon, &["f"]), "oops\n");
    assert_eq!(
        logs(&daemon, &["f", "--follow"]),
        "oops\n",
        "ended: at once"
    );
    let document = daemon.json(&["sessions", "logs", "f"]);
    assert_eq!(
        document,
        serde_json::json!({ "session_id": "f", "lines": ["oops"], "ended": true })
    );
    let log = daemon.log();
    assert!(
        log.contains("session ended") && log.contains("exit 3") && log.contains("oops"),
        "msbd's log tells the end: {log}"
    );
    assert!(daemon.state_entries("work").is_empty(), "released");
    assert!(!daemon.state_entries("logs").is_empty(), "but its log kept");

    // Its id can be used again: the ended session is replaced, its log forgotten.
    let again = daemon.json(&["sessions", "create", "--id", "f"]);
    assert_eq!(again["status"], "ready");
    assert_eq!(logs(&daemon, &["f"]), "");
    assert_eq!(daemon.session_ids(&["--ended"]), ["f"]);
    daemon.finish();
}

#[test]
fn only_the_last_mebibyte_of_a_log_is_kept() {
    let daemon = Daemon::start(&["--template", BIG]);
    daemon.json(&["sessions", "create", "--template", "big", "--id", "big"]);
    wait_until("the last line to be written", || {
        (logs(&daemon, &["big", "--tail", "1"]) == "end-of-big\n").then_some(())
    });
    let all = logs(&daemon, &["big"]);
    assert_eq!(all.len(), 1024 * 1024, "the last 1 MiB, no more, no less");
    assert!(all.ends_with("x\nend-of-big\n"));
    let on_disk: u64 = daemon
        .state_entries("logs")
        .iter()
        .map(|f| {
            std::fs::metadata(daemon.state.join("logs").join(f))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .sum();
    assert!(on_disk <= 2 * 1024 * 1024 + 64 * 1024, "{on_disk} bytes");
    assert_eq!(
        logs(&daemon, &["big", "--tail", "2"]),
        all,
        "the first line kept is the end of a longer one"
    );
    daemon.finish();
}

#[test]
fn a_follower_sees_what_is_written_after_it_started_and_ends_with_the_sandbox() {
    let daemon = Daemon::start(&["--template", WAITS]);
    let created = daemon.json(&["sessions", "create", "--template", "waits", "--id", "w"]);
    let workdir = daemon
        .state
        .join("work")
        .join(created["sandbox"].as_str().expect("sandbox"));
    let mut follower = Lines::spawn(daemon.ctl_command(&["sessions", "logs", "w", "--follow"]));
    assert_eq!(follower.next(), "before");
    std::fs::write(workdir.join("go"), "").expect("tell the sandbox to go on");
    assert_eq!(follower.next(), "after");
    let status = follower.wait_exit();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        listed(&daemon, "w").map(|s| s["status"].clone()),
        Some("ended".into())
    );
    daemon.finish();
}

#[test]
fn a_sandbox_does_not_inherit_an_ignored_sigpipe() {
    let daemon = Daemon::start(&["--template", PIPE]);
    daemon.json(&["sessions", "create", "--template", "pipe", "--id", "p"]);
    let log = wait_until("the sandbox to report its signals", || {
        Some(logs(&daemon, &["p"])).filter(|log| log.contains("SigIgn"))
    });
    assert_eq!(log, "y\nSigIgn:\t0000000000000000\n");
    daemon.finish();
}
