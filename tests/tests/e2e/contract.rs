//! The CLI contract for scripts: `--json` holds for every outcome, a count or field a
//! document promises is always there, output that cannot be written ends msbctl quietly,
//! and a pause lease cannot be longer than msbd can keep.

use msb_proto::{Client, ClientError, ErrorCode, PauseRequest, TaskSelection};
use msb_tests::{bin, msbctl, Daemon, Run};
use std::collections::BTreeSet;
use std::process::{Command, Stdio};

const FAULTS: &str = "--enable-fault-injection";

/// The keys of a cycle report's `counts`.
fn keys(report: &serde_json::Value) -> BTreeSet<String> {
    report["counts"]
        .as_object()
        .unwrap_or_else(|| panic!("no counts in {report}"))
        .keys()
        .cloned()
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Runs `command` with its stdout on `stdout`, and returns how it ended.
fn run_into(mut command: Command, stdout: impl Into<Stdio>) -> Run {
    let output = command
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("run msbctl");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The write end of a pipe whose read end is already closed: every write fails with EPIPE.
fn closed_pipe() -> std::os::fd::OwnedFd {
    let (read, write) = nix::unistd::pipe().expect("pipe");
    drop(read);
    write
}

fn full_disk() -> std::fs::File {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full")
}

#[test]
fn usage_errors_and_an_unreachable_version_are_one_json_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("nobody.sock");
    for args in [
        &["--json", "frobnicate"][..],
        &["pause", "no-such-task", "--json"],
        &["--json", "pause", "--for", "soon"],
    ] {
        let run = msbctl(&socket, args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        let error = &run.json()["error"];
        assert_eq!(error["code"], "usage", "{args:?}: {run:?}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{run:?}"
        );
        assert!(!run.stderr.is_empty(), "people read it on stderr: {run:?}");
    }
    // A `--json` that belongs to the command run under a pause is not msbctl's.
    let run = msbctl(&socket, &["pause", "no-such-task", "--", "x", "--json"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");

    let version = msbctl(&socket, &["--json", "version"]);
    assert_eq!(version.code, 3, "{version:?}");
    let document = version.json();
    assert_eq!(document["client"], env!("CARGO_PKG_VERSION"), "{document}");
    assert_eq!(document["daemon"], serde_json::Value::Null, "{document}");
    assert_eq!(document["error"]["code"], "unreachable", "{document}");
}

#[test]
fn version_debug_fault_and_cp_answer_in_json_with_a_daemon() {
    let daemon = Daemon::start(&[FAULTS]);
    let version = daemon.json(&["version"]);
    assert_eq!(version["error"], serde_json::Value::Null, "{version}");
    assert_eq!(version["daemon"]["pid"], daemon.pid(), "{version}");

    let fault = daemon.json(&["debug", "fault", "orphan-cleanup", "error"]);
    assert_eq!(fault["task"], "orphan-cleanup", "{fault}");
    assert_eq!(fault["fault"], "error", "{fault}");
    assert!(fault["message"].as_str().is_some(), "{fault}");
    daemon.json(&["debug", "fault", "orphan-cleanup", "clear"]);

    let cp = daemon.ctl(&["--json", "sessions", "cp", "a", "b"]);
    assert_eq!(cp.code, 2, "{cp:?}");
    assert_eq!(cp.json()["error"]["code"], "usage", "{cp:?}");
    daemon.finish();
}

#[test]
fn cycle_reports_name_every_count_even_at_zero() {
    let daemon = Daemon::start(&[FAULTS]);
    let session_cleanup = names(&[
        "expired",
        "stopped",
        "released",
        "skipped",
        "failed",
        "forgotten",
    ]);
    let orphan_cleanup = names(&["found", "suspected", "stopped", "failed", "debris"]);
    let status = daemon.wait_status("both tasks to have run a cycle", |s| {
        s["tasks"]
            .as_array()
            .is_some_and(|t| t.iter().all(|t| !t["last_cycle"].is_null()))
    });
    for (task, expected) in [
        (&status["tasks"][0], &session_cleanup),
        (&status["tasks"][1], &orphan_cleanup),
    ] {
        assert_eq!(&keys(&task["last_cycle"]), expected, "{task}");
    }
    // A quiet cycle and a failed one count zeros rather than leave keys out.
    let report = daemon.json(&["run", "session-cleanup"]);
    assert_eq!(keys(&report), session_cleanup, "{report}");
    assert_eq!(report["counts"]["expired"], 0, "{report}");
    daemon.json(&["debug", "fault", "orphan-cleanup", "error"]);
    let failed = daemon.ctl(&["--json", "run", "orphan-cleanup"]);
    assert_eq!(failed.code, 1, "{failed:?}");
    assert_eq!(failed.json()["outcome"], "failed", "{failed:?}");
    assert_eq!(keys(&failed.json()), orphan_cleanup, "{failed:?}");
    daemon.json(&["debug", "fault", "orphan-cleanup", "clear"]);
    daemon.finish();
}

#[test]
fn a_stopped_session_has_no_expiry() {
    let daemon = Daemon::start(&[]);
    let created = daemon.json(&["sessions", "create", "--id", "brief"]);
    assert!(
        created["expires_in_secs"]
            .as_u64()
            .is_some_and(|s| s <= 1800),
        "{created}"
    );
    let stopped = daemon.json(&["sessions", "stop", "brief"]);
    assert_eq!(stopped["status"], "stopped", "{stopped}");
    assert_eq!(
        stopped["expires_in_secs"],
        serde_json::Value::Null,
        "{stopped}"
    );
    daemon.json(&["sessions", "create", "--id", "again"]);
    let table = daemon.ctl(&["sessions", "stop", "again"]);
    assert_eq!(table.code, 0, "{table:?}");
    assert!(
        table.stdout.lines().any(|l| l == "expires in:  -"),
        "{table:?}"
    );
    daemon.finish();
}

#[test]
fn output_nobody_reads_ends_quietly_and_a_full_disk_in_one_line() {
    let daemon = Daemon::start(&[]);
    let commands: [&[&str]; 5] = [
        &["completions", "bash"],
        &["status"],
        &["--json", "status"],
        &["sessions", "list"],
        &["version"],
    ];
    for args in commands {
        let closed = run_into(daemon.ctl_command(args), closed_pipe());
        assert_eq!(closed.code, 0, "{args:?} into a closed pipe: {closed:?}");
        assert_eq!(closed.stderr, "", "{args:?} into a closed pipe: {closed:?}");
        let full = run_into(daemon.ctl_command(args), full_disk());
        assert_eq!(full.code, 1, "{args:?} onto a full disk: {full:?}");
        assert_eq!(
            full.stderr, "msbctl: cannot write output: No space left on device\n",
            "{args:?} onto a full disk"
        );
    }
    // As a shell runs it, with the pipe's own status.
    let head = Command::new("bash")
        .args(["-c", "set -o pipefail; \"$0\" completions bash | head -1"])
        .arg(bin("msbctl"))
        .output()
        .expect("run bash");
    assert!(head.status.success(), "{head:?}");
    assert_eq!(String::from_utf8_lossy(&head.stdout), "_msbctl() {\n");
    assert!(head.stderr.is_empty(), "{head:?}");
    daemon.finish();
}

#[test]
fn a_pause_longer_than_a_year_is_refused_by_msbctl_and_by_msbd() {
    let daemon = Daemon::start(&[]);
    let run = daemon.ctl(&["pause", "--for", "1000000000y"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("--for") && run.stderr.contains("365 days"),
        "names the setting and the maximum: {run:?}"
    );
    assert_eq!(
        daemon.json(&["pause", "--for", "365d"])[0]["result"],
        "paused"
    );
    daemon.json(&["resume"]);

    // Another client asking msbd directly gets the same answer, not a wrapped deadline.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let refused = runtime.block_on(async {
        let mut client = Client::connect(&daemon.socket, "contract-test")
            .await
            .expect("connect");
        client
            .pause(PauseRequest {
                tasks: TaskSelection::All,
                for_ms: Some(u64::MAX),
                reason: None,
            })
            .await
    });
    match refused {
        Err(ClientError::Daemon(body)) => {
            assert_eq!(body.code, ErrorCode::InvalidArgument, "{body:?}");
            assert!(body.message.contains("365 days"), "{body:?}");
        }
        other => panic!("a pause of u64::MAX ms was not refused: {other:?}"),
    }
    for task in ["session-cleanup", "orphan-cleanup"] {
        assert_eq!(daemon.task(task)["state"], "running");
    }
    daemon.finish();
}

#[test]
fn tables_are_coloured_when_asked_or_on_a_terminal_and_never_with_no_color() {
    let daemon = Daemon::start(&[]);
    daemon.json(&["sessions", "create", "--id", "tinted"]);
    let with = |env: &[(&str, &str)], args: &[&str]| {
        let mut command = daemon.ctl_command(args);
        command.env_remove("NO_COLOR").env_remove("MSB_COLOR");
        command.envs(env.iter().copied());
        let output = command.output().expect("run msbctl");
        assert!(output.status.success(), "{args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    const GREEN: &str = "\x1b[32m";
    let forced = with(&[], &["--color", "always", "status"]);
    assert!(forced.contains(&format!("{GREEN}healthy")), "{forced:?}");
    assert!(forced.contains(&format!("{GREEN}running")), "{forced:?}");
    let sessions = with(
        &[("NO_COLOR", "1")],
        &["--color", "always", "sessions", "list"],
    );
    assert!(sessions.contains(&format!("{GREEN}ready")), "{sessions:?}");
    assert!(with(&[("MSB_COLOR", "always")], &["health"]).contains(GREEN));
    for (env, args) in [
        (&[][..], &["status"][..]),
        (&[("NO_COLOR", "1")], &["--color", "auto", "status"]),
        (&[], &["--color", "never", "sessions", "list"]),
        (&[], &["--color", "always", "--json", "status"]),
    ] {
        let plain = with(env, args);
        assert!(!plain.contains('\x1b'), "{env:?} {args:?}: {plain:?}");
    }
    // On a terminal (script(1) gives msbctl one), auto colours unless NO_COLOR is set.
    let on_terminal = |no_color: bool| {
        let line = format!(
            "{} --socket {} status",
            bin("msbctl").display(),
            daemon.socket.display()
        );
        let mut command = Command::new("script");
        command.args(["-qec", &line, "/dev/null"]);
        command.env_remove("NO_COLOR").env_remove("MSB_COLOR");
        if no_color {
            command.env("NO_COLOR", "1");
        }
        command.output().ok().filter(|o| o.status.success())
    };
    match (on_terminal(false), on_terminal(true)) {
        (Some(coloured), Some(plain)) => {
            assert!(String::from_utf8_lossy(&coloured.stdout).contains(GREEN));
            assert!(!String::from_utf8_lossy(&plain.stdout).contains('\x1b'));
        }
        _ => eprintln!("skipped the terminal case: script(1) cannot give msbctl a terminal here"),
    }
    daemon.finish();
}
