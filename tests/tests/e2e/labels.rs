//! Session labels: set by whoever creates a session (`create`, `exec`/`run --create`), shown
//! by every answer about it, matched by `sessions list --label`, kept across a daemon crash,
//! and refused, before anything is made, when they break the rules.

use msb_tests::{msbctl, msbctl_with_input, wait_until, Daemon};
use serde_json::{json, Value};
use std::path::Path;

/// Ends by itself a second after it starts, leaving an `ended` session.
const ENDS: &str = "ends=sleep 1";

/// Sorted ids from `sessions list ARGS`.
fn ids(daemon: &Daemon, args: &[&str]) -> Vec<String> {
    let mut ids = daemon.session_ids(args);
    ids.sort();
    ids
}

/// The `--json` error of a run that failed with `code`.
fn refused(daemon: &Daemon, args: &[&str], code: i32) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let run = daemon.ctl(&all);
    assert_eq!(run.code, code, "{args:?}: {run:?}");
    run.json()["error"].clone()
}

#[test]
fn labels_are_shown_and_matched_all_at_once() {
    let daemon = Daemon::start(&["--template", ENDS]);
    let a = daemon.json(&[
        "sessions",
        "create",
        "--id",
        "a",
        "--label",
        "team=red",
        "--label",
        "tier=gold",
    ]);
    assert_eq!(a["labels"], json!({ "team": "red", "tier": "gold" }));
    daemon.json(&["sessions", "create", "--id", "b", "--label", "team=red"]);
    let c = daemon.json(&["sessions", "create", "--id", "c"]);
    assert_eq!(c["labels"], json!({}), "an object even when empty");

    for entry in daemon
        .json(&["sessions", "list"])
        .as_array()
        .expect("a list")
    {
        assert!(entry["labels"].is_object(), "{entry}");
    }
    assert_eq!(
        daemon.json(&["sessions", "show", "a"])["labels"],
        a["labels"]
    );
    let shown = daemon.ctl(&["sessions", "show", "a"]);
    assert!(
        shown
            .stdout
            .contains("\nlabels:      team=red, tier=gold\n"),
        "{shown:?}"
    );
    let shown = daemon.ctl(&["sessions", "show", "c"]);
    assert!(shown.stdout.contains("\nlabels:      -\n"), "{shown:?}");
    let table = daemon.ctl(&["sessions", "list"]).stdout;
    assert!(
        !table.contains("LABELS") && !table.contains("team"),
        "the table stays as it was: {table}"
    );

    assert_eq!(ids(&daemon, &["--label", "team=red"]), ["a", "b"]);
    assert_eq!(
        ids(&daemon, &["--label", "team=red", "--label", "tier=gold"]),
        ["a"]
    );
    assert_eq!(
        ids(&daemon, &["--label", "team=red", "--label", "tier=silver"]),
        Vec::<String>::new(),
        "every label must match"
    );
    assert_eq!(
        ids(&daemon, &["--label", "team=blue"]),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&daemon, &["--label", "team=red", "--status", "ready"]),
        ["a", "b"],
        "with the other filters"
    );

    // The answer to a stop carries them.
    let stopped = daemon.json(&["sessions", "stop", "a"]);
    assert_eq!(stopped["status"], "stopped");
    assert_eq!(stopped["labels"], a["labels"]);

    // So does a session whose sandbox ended by itself.
    daemon.json(&[
        "sessions",
        "create",
        "--template",
        "ends",
        "--id",
        "e",
        "--label",
        "team=red",
    ]);
    let ended = wait_until("e to be ended", || {
        daemon
            .json(&["sessions", "list", "--ended", "--label", "team=red"])
            .as_array()
            .and_then(|list| list.iter().find(|s| s["id"] == "e").cloned())
            .filter(|s| s["status"] == "ended")
    });
    assert_eq!(ended["labels"], json!({ "team": "red" }));
    assert_eq!(
        daemon.json(&["sessions", "show", "e"])["labels"],
        json!({ "team": "red" })
    );
    daemon.finish();
}

#[test]
fn exec_and_run_label_the_session_they_create() {
    let daemon = Daemon::start(&[]);
    let made = daemon.json(&[
        "sessions", "exec", "--create", "--label", "via=exec", "--", "true",
    ]);
    assert_eq!(made["session_created"], true, "{made}");
    let id = made["session_id"].as_str().expect("an id").to_string();
    assert_eq!(
        daemon.json(&["sessions", "show", &id])["labels"],
        json!({ "via": "exec" })
    );

    // An existing session keeps its own labels: they are those of a session the call makes.
    let again = daemon.json(&[
        "sessions",
        "exec",
        &id,
        "--create",
        "--label",
        "via=other",
        "--",
        "true",
    ]);
    assert_eq!(again["session_created"], false, "{again}");
    assert_eq!(
        daemon.json(&["sessions", "show", &id])["labels"],
        json!({ "via": "exec" })
    );

    let run = msbctl_with_input(
        &daemon.socket,
        &[
            "--json",
            "sessions",
            "run",
            "--create",
            "--label",
            "via=run",
            "--language",
            "shell",
        ],
        Some(b"echo ran"),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let ran = run.json();
    assert_eq!(ran["stdout"], "ran\n", "{ran}");
    let ran_in = ran["session_id"].as_str().expect("an id");
    assert_eq!(ids(&daemon, &["--label", "via=run"]), [ran_in]);
    assert_eq!(ids(&daemon, &["--label", "via=exec"]), [id]);
    daemon.finish();
}

#[test]
fn bad_labels_are_refused_by_name_and_nothing_is_made() {
    let daemon = Daemon::start(&[]);
    let key = refused(
        &daemon,
        &["sessions", "create", "--id", "x", "--label", "Team=red"],
        1,
    );
    assert_eq!(key["code"], "invalid_argument");
    let message = key["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("'Team'") && message.contains("a-z"),
        "names the key and what is allowed: {key}"
    );

    let value = refused(
        &daemon,
        &["sessions", "create", "--label", "note=line\nbreak"],
        1,
    );
    let message = value["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("label 'note'")
            && message.contains(r"line\nbreak")
            && message.contains("control characters"),
        "names the key and the value: {value}"
    );
    let long = format!("note={}", "x".repeat(256));
    let value = refused(&daemon, &["sessions", "create", "--label", &long], 1);
    let message = value["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("label 'note'") && message.contains("255 bytes"),
        "{value}"
    );

    let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
    let mut args = vec!["sessions", "create"];
    for label in &many {
        args.extend(["--label", label.as_str()]);
    }
    let too_many = refused(&daemon, &args, 1);
    assert_eq!(too_many["code"], "invalid_argument");
    assert!(
        too_many["message"]
            .as_str()
            .is_some_and(|m| m.contains("at most 32") && m.contains("33")),
        "{too_many}"
    );
    args.truncate(args.len() - 2);
    assert_eq!(
        daemon.json(&args)["labels"].as_object().map(|l| l.len()),
        Some(32),
        "32 are fine"
    );
    let kept = ids(&daemon, &[]);
    assert_eq!(kept.len(), 1);

    // exec --create checks them before it makes a session or runs anything.
    let exec = refused(
        &daemon,
        &[
            "sessions", "exec", "--create", "--label", "Bad=1", "--", "true",
        ],
        1,
    );
    assert_eq!(exec["code"], "invalid_argument", "{exec}");
    assert!(exec["message"]
        .as_str()
        .is_some_and(|m| m.contains("'Bad'")));

    assert_eq!(ids(&daemon, &[]), kept, "no session was made");
    assert_eq!(daemon.state_entries("work").len(), 1, "no sandbox was made");
    daemon.finish();
}

#[test]
fn a_malformed_or_repeated_label_is_a_usage_error() {
    let socket = Path::new("/nonexistent/msbd.sock");
    for (args, says) in [
        (
            &["sessions", "create", "--label", "team"][..],
            "is not KEY=VALUE",
        ),
        (
            &["sessions", "create", "--label", "=red"],
            "is not KEY=VALUE",
        ),
        (&["sessions", "list", "--label", "team"], "is not KEY=VALUE"),
        (
            &["sessions", "create", "--label", "a=1", "--label", "a=2"],
            "--label a is given twice ('1' and '2')",
        ),
        (
            &["sessions", "list", "--label", "a=1", "--label", "a=1"],
            "given twice",
        ),
        (
            &[
                "sessions", "exec", "--create", "--label", "a=1", "--label", "a=2", "--", "true",
            ],
            "given twice",
        ),
        (
            &[
                "sessions", "run", "--create", "-l", "shell", "--label", "a=1", "--label", "a=2",
            ],
            "given twice",
        ),
        (
            &["sessions", "exec", "x", "--label", "a=1", "--", "true"],
            "--create",
        ),
    ] {
        let run = msbctl(socket, args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(says), "{args:?}: {run:?}");
    }
    let mut args = vec!["--json"];
    args.extend(["sessions", "create", "--label", "a=1", "--label", "a=2"]);
    let run = msbctl(socket, &args);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.json()["error"]["code"], "usage", "{run:?}");
}

#[test]
fn labels_survive_a_crash_of_the_daemon() {
    let mut daemon = Daemon::start(&[]);
    daemon.json(&[
        "sessions",
        "create",
        "--id",
        "kept",
        "--label",
        "mcp.client=agent 7",
        "--label",
        "example.com/owner=ops",
    ]);
    daemon.json(&["sessions", "create", "--id", "plain"]);
    let before = daemon.sandbox_group("kept");

    daemon.kill();
    daemon.spawn(&[]);
    assert_eq!(daemon.status()["sessions"]["adopted"], 2);
    assert_eq!(
        daemon.sandbox_group("kept"),
        before,
        "the very same sandbox"
    );
    assert_eq!(
        daemon.json(&["sessions", "show", "kept"])["labels"],
        json!({ "mcp.client": "agent 7", "example.com/owner": "ops" })
    );
    assert_eq!(
        daemon.json(&["sessions", "show", "plain"])["labels"],
        json!({})
    );
    assert_eq!(ids(&daemon, &["--label", "mcp.client=agent 7"]), ["kept"]);
    daemon.finish();
}
