//! The msb backend's paths that need a microVM that boots, against the test double of `msb`
//! (`tests/msb/shim/msb`): it records the arguments msbd passes and answers as the real one
//! does (outputs of the real one in `tests/msb/fixtures`), running commands on this host. The
//! tests check what msbd asks of msb and what it makes of the answers.

use msb_tests::{procfs, wait_until, Daemon, Lines, Msb};
use std::fs;
use std::io::Write;

const IMAGE: &str = "default=image:alpine:3.20";

/// msbd on the test double with `args`, and a session `s1` made there; returns its sandbox.
fn with_session(msb: &Msb, args: &[&str]) -> (Daemon, String) {
    let mut all = vec!["--template", IMAGE];
    all.extend_from_slice(args);
    let daemon = msb.daemon(&all);
    let created = daemon.json(&["sessions", "create", "--id", "s1"]);
    let sandbox = created["sandbox"].as_str().expect("a sandbox").to_string();
    (daemon, sandbox)
}

/// Steers the test double (see its header).
fn steer(msb: &Msb, file: &str) {
    fs::write(msb.home.path().join(file), "").expect("steer the test double");
}

fn call(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// The calls after the first that starts with `start`.
fn calls_after(msb: &Msb, start: &[&str]) -> Vec<Vec<String>> {
    let calls = msb.calls();
    let at = calls
        .iter()
        .position(|c| c.len() >= start.len() && c[..start.len()] == *start)
        .unwrap_or_else(|| panic!("no msb {start:?} in {calls:?}"));
    calls[at + 1..].to_vec()
}

#[test]
fn a_session_is_a_microvm_made_with_its_labels_and_flavor_and_stopped_politely() {
    let msb = Msb::shim();
    let daemon = msb.daemon(&["--template", IMAGE, "--template", "py=image:python:3.12"]);
    let created = daemon.json(&[
        "sessions",
        "create",
        "--id",
        "s1",
        "--template",
        "py",
        "--flavor",
        "medium",
    ]);
    assert_eq!(created["status"], "ready", "{created}");
    let sandbox = created["sandbox"].as_str().expect("a sandbox");
    let instance = daemon.instance();
    // Twice the session (30m) and busy (1h) timeouts: msbd expires it long before.
    let create = msb.wait_call(&["create"]);
    assert_eq!(
        create,
        call(&[
            "create",
            "python:3.12",
            "-n",
            sandbox,
            "--label",
            &format!("msbd.instance={instance}"),
            "--label",
            "msbd.session=s1",
            "-c",
            "2",
            "-m",
            "2048M",
            "--idle-timeout",
            "10800s",
            "-q",
        ])
    );
    let shown = daemon.json(&["sessions", "show", "s1"]);
    assert_eq!(shown["details"]["running"], true, "{shown}");
    assert_eq!(shown["details"]["isolation"], "microVM", "{shown}");
    let stopped = daemon.json(&["sessions", "stop", "s1"]);
    assert_eq!(stopped["fate"], "stopped", "{stopped}");
    let after = calls_after(&msb, &["create"]);
    let stop_and_rm: Vec<&Vec<String>> = after
        .iter()
        .filter(|c| c[0] == "stop" || c[0] == "rm")
        .collect();
    assert_eq!(
        stop_and_rm,
        [
            &call(&["stop", "-t", "10", sandbox]),
            &call(&["rm", sandbox])
        ],
        "{after:?}"
    );
    assert!(msb.sandboxes().is_empty());
    daemon.finish();
}

#[test]
fn a_stop_past_its_grace_is_forced_then_removed() {
    let msb = Msb::shim();
    let (daemon, sandbox) = with_session(&msb, &["--stop-grace", "1s"]);
    steer(&msb, "stubborn");
    let stopped = daemon.json(&["sessions", "stop", "s1"]);
    assert_eq!(stopped["fate"], "killed", "{stopped}");
    let sequence: Vec<Vec<String>> = calls_after(&msb, &["create"])
        .into_iter()
        .filter(|c| c[0] == "stop" || c[0] == "rm")
        .collect();
    assert_eq!(
        sequence,
        [
            call(&["stop", "-t", "1", &sandbox]),
            call(&["stop", "-f", &sandbox]),
            call(&["rm", &sandbox])
        ]
    );
    assert!(msb.sandboxes().is_empty());
    daemon.finish();
}

#[test]
fn a_failed_create_names_msbs_command_exit_and_stderr_and_leaves_nothing() {
    let msb = Msb::shim();
    let daemon = msb.daemon(&["--template", IMAGE]);
    steer(&msb, "fail-create");
    let run = daemon.ctl(&["sessions", "create", "--id", "s1"]);
    assert_eq!(run.code, 1, "{run:?}");
    let create = msb.wait_call(&["create"]);
    let sandbox = &create[3];
    assert!(
        run.stderr
            .contains(&format!("msb create alpine:3.20 -n {sandbox} --label"))
            && run.stderr.contains("exited 1")
            && run
                .stderr
                .contains(&format!("error: failed to start \"{sandbox}\"")),
        "{run:?}"
    );
    assert_eq!(
        calls_after(&msb, &["create"])
            .into_iter()
            .find(|c| c[0] == "rm"),
        Some(call(&["rm", "-f", sandbox]))
    );
    assert!(msb.sandboxes().is_empty(), "{:?}", msb.sandboxes());
    assert!(daemon.session_ids(&["--ended"]).is_empty());
    daemon.finish();
}

#[test]
fn commands_stream_through_msb_exec_with_their_status_stdin_env_and_workdir() {
    let msb = Msb::shim();
    let (daemon, sandbox) = with_session(&msb, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let go = dir.path().join("go");
    // The second line waits for the test, which waits for the first: streamed, not collected.
    let script = format!(
        "echo first; while [ ! -e {0} ]; do sleep 0.05; done; echo second",
        go.display()
    );
    let follow =
        Lines::spawn(daemon.ctl_command(&["sessions", "exec", "s1", "--", "sh", "-c", &script]));
    assert_eq!(follow.next(), "first");
    fs::write(&go, "").expect("let it go on");
    assert_eq!(follow.next(), "second");

    let workdir = dir.path().display().to_string();
    let run = daemon.ctl(&[
        "sessions",
        "exec",
        "s1",
        "-e",
        "GREETING=hi",
        "-w",
        &workdir,
        "--",
        "sh",
        "-c",
        "echo $GREETING in $(pwd); echo err >&2; exit 7",
    ]);
    assert_eq!(run.code, 7, "{run:?}");
    assert_eq!(run.stdout, format!("hi in {workdir}\n"));
    assert_eq!(run.stderr, "err\n");
    let exec = msb.wait_call(&["exec", &sandbox, "--stream", "--no-stdin", "-e"]);
    assert_eq!(
        exec[..9],
        call(&[
            "exec",
            &sandbox,
            "--stream",
            "--no-stdin",
            "-e",
            "GREETING=hi",
            "-w",
            &workdir,
            "--"
        ])
    );

    let run = msb_tests::msbctl_with_input(
        &daemon.socket,
        &["sessions", "exec", "-i", "s1", "--", "cat"],
        Some(b"from the client\n"),
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "from the client\n"),
        "{run:?}"
    );
    msb.wait_call(&["exec", &sandbox, "--stream", "--", "cat"]);

    // A timeout kills `msb exec`, whose going kills the command in the guest.
    let run = daemon.ctl(&[
        "sessions",
        "exec",
        "s1",
        "--timeout",
        "1s",
        "--",
        "sleep",
        "60",
    ]);
    assert_eq!(run.code, 124, "{run:?}");
    let pids = fs::read_to_string(msb.home.path().join("pids")).expect("pids");
    let pid: u32 = pids
        .lines()
        .rfind(|line| line.ends_with(" exec"))
        .and_then(|line| line.split(' ').next()?.parse().ok())
        .expect("the last exec's pid");
    wait_until("msb exec to be gone", || {
        (!procfs::alive(pid)).then_some(())
    });
    daemon.finish();
}

#[test]
fn files_are_copied_in_and_out_through_msb_copy() {
    let msb = Msb::shim();
    let (daemon, sandbox) = with_session(&msb, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("tree");
    fs::create_dir_all(tree.join("deep")).expect("mkdir");
    fs::write(tree.join("a.txt"), "alpha").expect("write");
    fs::write(tree.join("deep/b.bin"), [0u8, 1, 255]).expect("write");
    let local = tree.display().to_string();
    let copied = daemon.json(&["sessions", "cp", &local, "s1:inputs"]);
    assert!(copied["bytes"].as_u64().is_some_and(|b| b > 0), "{copied}");
    let copy_in = msb.wait_call(&["copy"]);
    assert!(
        copy_in[1].ends_with("/tree") && copy_in[2] == format!("{sandbox}:/inputs"),
        "{copy_in:?}"
    );
    let inside = msb.home.path().join("root").join(&sandbox).join("inputs");
    assert_eq!(fs::read(inside.join("a.txt")).expect("copied in"), b"alpha");

    let back = dir.path().join("back");
    let back_path = back.display().to_string();
    daemon.json(&["sessions", "cp", "s1:/inputs", &back_path]);
    assert_eq!(
        fs::read(back.join("deep/b.bin")).expect("copied out"),
        [0, 1, 255]
    );
    let copy_out = msb.wait_call(&["copy", &format!("{sandbox}:/inputs")]);
    assert!(copy_out[2].ends_with("/inputs"), "{copy_out:?}");

    let run = daemon.ctl(&["sessions", "cp", "s1:/nothing-there", &back_path]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("msb copy") && run.stderr.contains("exited 1"),
        "{run:?}"
    );
    let staging = daemon.state.join("msb").join("staging");
    wait_until("staged copies to go", || {
        fs::read_dir(&staging)
            .map(|entries| entries.count() == 0)
            .unwrap_or(false)
            .then_some(())
    });
    daemon.finish();
}

#[test]
fn touches_are_passed_on_to_msb_touch() {
    let msb = Msb::shim();
    let (daemon, sandbox) = with_session(&msb, &[]);
    daemon.json(&["sessions", "touch", "s1"]);
    msb.wait_call(&["touch", &sandbox]);
    daemon.finish();
}

#[test]
fn logs_come_from_msb_logs_and_are_followed() {
    let msb = Msb::shim();
    let (daemon, sandbox) = with_session(&msb, &[]);
    let logs = msb.home.path().join("logs");
    fs::create_dir_all(&logs).expect("mkdir");
    let log = logs.join(format!("{sandbox}.jsonl"));
    let recorded = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/msb/fixtures/logs-output.jsonl"
    );
    fs::copy(recorded, &log).expect("the recorded entries");
    let run = daemon.ctl(&["sessions", "logs", "s1"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "first line\nto stderr\nnot UTF-8: \u{fffd}\n");
    // Lines are read as text: the follower gets a log without the bytes that are not.
    let text: String = fs::read_to_string(&log)
        .expect("read")
        .lines()
        .filter(|line| !line.contains(r#""e":"b64""#))
        .map(|line| format!("{line}\n"))
        .collect();
    fs::write(&log, text).expect("write");
    let follow = Lines::spawn(daemon.ctl_command(&["sessions", "logs", "s1", "--follow"]));
    follow.until("the last line kept", |line| line == "to stderr");
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open");
    writeln!(
        file,
        r#"{{"d":"written later\n","e":null,"id":3,"s":"stdout","t":"2026-11-24T22:01:01.000Z"}}"#
    )
    .expect("append");
    assert_eq!(follow.next(), "written later");
    daemon.finish();
}

#[test]
fn a_hung_msb_is_killed_at_msb_timeout_and_the_failure_says_which_call() {
    let msb = Msb::shim();
    let daemon = msb.daemon(&["--msb-timeout", "1s"]);
    steer(&msb, "hang-ls");
    let run = daemon.ctl(&["run", "orphan-cleanup"]);
    assert_eq!(run.code, 1, "{run:?}");
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains("ls --label msbd.instance=")
            && said.contains("ran past 1s (--msb-timeout) and was killed"),
        "{said}"
    );
    let pids = fs::read_to_string(msb.home.path().join("pids")).expect("pids");
    let hung: Vec<u32> = pids
        .lines()
        .filter(|line| line.ends_with(" ls"))
        .filter_map(|line| line.split(' ').next()?.parse().ok())
        .collect();
    wait_until("the hung msb to be gone", || {
        hung.iter().all(|pid| !procfs::alive(*pid)).then_some(())
    });
    fs::remove_file(msb.home.path().join("hang-ls")).expect("unsteer");
    daemon.finish();
}

#[test]
fn a_microvm_that_ends_by_itself_ends_its_session_with_its_log() {
    let msb = Msb::shim();
    let (daemon, sandbox) = with_session(&msb, &[]);
    let logs = msb.home.path().join("logs");
    fs::create_dir_all(&logs).expect("mkdir");
    let recorded = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/msb/fixtures/logs-output.jsonl"
    );
    fs::copy(recorded, logs.join(format!("{sandbox}.jsonl"))).expect("the recorded entries");
    let status = msb.home.path().join("sb").join(&sandbox).join("status");
    fs::write(status, "Crashed\n").expect("crash it");
    let ended = wait_until("the session to end", || {
        let shown = daemon.ctl(&["--json", "sessions", "show", "s1"]);
        (shown.code == 0 && shown.json()["status"] == "ended").then(|| shown.json())
    });
    assert_eq!(
        ended["exit"]["log_tail"],
        serde_json::json!(["first line", "to stderr", "not UTF-8: \u{fffd}"]),
        "{ended}"
    );
    msb.wait_call(&["rm", "-f", &sandbox]);
    assert!(msb.sandboxes().is_empty());
    let run = daemon.ctl(&["sessions", "logs", "s1"]);
    assert_eq!(
        run.stdout, "first line\nto stderr\nnot UTF-8: \u{fffd}\n",
        "{run:?}"
    );
    daemon.finish();
}

#[test]
fn sessions_and_their_microvms_are_adopted_by_the_next_msbd() {
    let msb = Msb::shim();
    let (mut daemon, sandbox) = with_session(&msb, &[]);
    daemon.kill();
    let cmd = msb.daemon_command(&daemon, &["--template", IMAGE]);
    daemon.launch(cmd);
    let status = daemon.status();
    assert_eq!(status["sessions"]["adopted"], 1, "{status}");
    // Its session comes from its labels.
    msb.wait_call(&["inspect", &sandbox, "--format", "json"]);
    let run = daemon.ctl(&["sessions", "exec", "s1", "--", "echo", "still here"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "still here\n"),
        "{run:?}"
    );
    daemon.finish();
    assert!(
        msb.sandboxes().is_empty(),
        "a shutdown stops and removes it"
    );
}

#[test]
fn only_this_instances_labelled_sandboxes_are_orphans_and_only_they_are_touched() {
    let msb = Msb::shim();
    let daemon = msb.daemon(&["--template", IMAGE]);
    let instance = daemon.instance();
    let make = |name: &str, status: &str, labels: &[String]| {
        let dir = msb.home.path().join("sb").join(name);
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join("status"), format!("{status}\n")).expect("status");
        fs::write(dir.join("image"), "alpine:3.20\n").expect("image");
        let labels: String = labels.iter().map(|l| format!("{l}\n")).collect();
        fs::write(dir.join("labels"), labels).expect("labels");
    };
    let ours = |session: &str| {
        vec![
            format!("msbd.instance={instance}"),
            format!("msbd.session={session}"),
        ]
    };
    make("ours-running", "Running", &ours("gone-1"));
    make("ours-stopped", "Stopped", &ours("gone-2"));
    make("unlabelled", "Running", &[]);
    make(
        "theirs",
        "Crashed",
        &[
            "msbd.instance=0123456789abcdef0123456789abcdef".into(),
            "msbd.session=gone-3".into(),
        ],
    );
    let orphans = daemon.json(&["orphans"]);
    let mut listed: Vec<&str> = orphans
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["sandbox"].as_str())
        .collect();
    listed.sort();
    assert_eq!(listed, ["ours-running", "ours-stopped"], "{orphans}");
    let report = daemon.json(&["run", "orphan-cleanup"]);
    assert_eq!(report["outcome"], "ok", "{report}");
    assert_eq!(
        msb.names(),
        ["theirs", "unlabelled"].map(String::from).into()
    );
    let stopped: Vec<Vec<String>> = calls_after(&msb, &["ls"])
        .into_iter()
        .filter(|c| c[0] == "stop" || c[0] == "rm")
        .collect();
    assert!(
        stopped.contains(&call(&["stop", "-t", "10", "ours-running"]))
            && stopped.contains(&call(&["rm", "ours-stopped"])),
        "{stopped:?}"
    );
    for call in msb.calls() {
        assert!(
            !call
                .iter()
                .any(|arg| arg == "unlabelled" || arg == "theirs"),
            "msbd touched a sandbox not its own: {call:?}"
        );
    }
    daemon.finish();
}
