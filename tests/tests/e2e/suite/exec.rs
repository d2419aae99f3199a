//! Work in a session: `sessions exec` and `run`, through the real msbctl into real sandboxes.

use super::{Backend, Rig};
use msb_tests::{msbctl_with_input, wait_until, Run};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub fn output_streams_and_the_exit_code_come_back(backend: &Backend) {
    let rig = Rig::with_session(backend, &[], "w1");
    let script = "echo out; echo err >&2; exit 7";
    let run = rig.exec("w1", &[], &["sh", "-c", script]);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (7, "out\n", "err\n"),
        "{run:?}"
    );
    let run = rig.ctl(&["--json", "sessions", "exec", "w1", "--", "sh", "-c", script]);
    assert_eq!(run.code, 7, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["session_id"], "w1");
    assert_eq!(doc["exit_code"], 7);
    assert_eq!(doc["stdout"], "out\n");
    assert_eq!(doc["stderr"], "err\n");
    assert_eq!(doc["success"], false);
    assert_eq!(doc["timed_out"], false);
    assert_eq!(doc["truncated"], false);
    assert_eq!(doc["session_created"], false);
    assert!(
        doc["duration_ms"].is_u64() && doc["signal"].is_null(),
        "{doc}"
    );
    // A pipeline ends quietly: the writer dies of SIGPIPE, as on any host.
    let run = rig.exec(
        "w1",
        &[],
        &["sh", "-c", "yes | head -1; grep SigIgn /proc/self/status"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "", "{run:?}");
    assert_eq!(run.stdout, "y\nSigIgn:\t0000000000000000\n", "{run:?}");
    rig.finish();
}

pub fn output_reaches_the_client_while_the_command_runs(backend: &Backend) {
    let rig = Rig::with_session(backend, &[], "w2");
    let start = Instant::now();
    let mut child = rig
        .ctl_command(&["sessions", "exec", "w2", "--", "sh", "-c"])
        .arg("for i in 1 2 3 4 5 6 7 8 9 10; do echo line $i; sleep 0.2; done")
        .stdout(Stdio::piped())
        .spawn()
        .expect("run msbctl");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("readable");
    let first_at = start.elapsed();
    assert_eq!(first, "line 1");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("msbctl exits");
    let end_at = start.elapsed();
    assert!(status.success(), "{status:?}");
    assert_eq!(rest.len(), 9, "{rest:?}");
    eprintln!("first line after {first_at:?}, end after {end_at:?}");
    assert!(
        first_at + Duration::from_millis(1000) < end_at,
        "the first line came at {first_at:?}, only just before the end at {end_at:?}"
    );
    rig.finish();
}

pub fn a_timeout_kills_the_whole_tree_but_not_the_sandbox(backend: &Backend) {
    let rig = Rig::with_session(backend, &[], "w3");
    let sandbox = rig.sandbox("w3");
    let started = Instant::now();
    let run = rig.exec(
        "w3",
        &["--timeout", "1s", "-e", "MSB_TEST_MARK=w3-tree"],
        &["sh", "-c", "sleep 30 & sleep 31"],
    );
    assert_eq!(run.code, 124, "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    wait_until("the command's tree to be gone", || {
        (!rig.marked(&sandbox, "w3-tree")).then_some(())
    });
    let shown = rig.json(&["sessions", "show", "w3"]);
    assert_eq!(shown["details"]["running"], true, "{shown}");
    let doc = rig
        .ctl(&[
            "--json",
            "sessions",
            "exec",
            "w3",
            "--timeout",
            "500ms",
            "--",
            "sleep",
            "30",
        ])
        .json();
    assert_eq!(
        (doc["timed_out"].clone(), doc["exit_code"].clone()),
        (true.into(), 124.into()),
        "{doc}"
    );
    rig.finish();
}

pub fn code_runs_with_its_languages_interpreter(backend: &Backend) {
    let rig = Rig::with_session(
        backend,
        &["--language", "nosuch=no-such-interpreter-xyz"],
        "w5",
    );
    // Whether python is there is a question for the sandbox, not the host.
    let python = rig.exec(
        "w5",
        &[],
        &[
            "sh",
            "-c",
            "test -x /usr/bin/python3 || test -x /bin/python3",
        ],
    );
    if python.code == 0 {
        let run = msbctl_with_input(
            &rig.socket,
            &["sessions", "run", "w5", "--language", "python", "-"],
            Some(b"print(sum(range(10)))\n"),
        );
        assert_eq!((run.code, run.stdout.as_str()), (0, "45\n"), "{run:?}");
    } else {
        eprintln!("skipped the python run: this sandbox has no python3 ({python:?})");
    }
    let run = msbctl_with_input(
        &rig.socket,
        &["sessions", "run", "w5", "--language", "shell"],
        Some(b"echo $((6 * 7))\n"),
    );
    assert_eq!((run.code, run.stdout.as_str()), (0, "42\n"), "{run:?}");
    let run = msbctl_with_input(
        &rig.socket,
        &["sessions", "run", "w5", "--language", "nosuch"],
        Some(b"anything"),
    );
    assert_eq!(run.code, 127, "{run:?}");
    assert!(
        run.stderr.contains("no-such-interpreter-xyz") && run.stdout.is_empty(),
        "{run:?}"
    );
    let run = msbctl_with_input(
        &rig.socket,
        &["sessions", "run", "w5", "--language", "cobol"],
        Some(b"x"),
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("cobol") && run.stderr.contains("python"),
        "{run:?}"
    );
    // Get-or-create: a new session made for the code.
    let run = msbctl_with_input(
        &rig.socket,
        &[
            "--json",
            "sessions",
            "run",
            "--create",
            "--language",
            "shell",
        ],
        Some(b"echo made"),
    );
    let doc = run.json();
    assert_eq!(
        (doc["stdout"].clone(), doc["session_created"].clone()),
        ("made\n".into(), true.into()),
        "{doc}"
    );
    let id = doc["session_id"].as_str().expect("an id").to_string();
    assert_eq!(rig.json(&["sessions", "show", &id])["status"], "ready");
    rig.finish();
}

pub fn concurrent_commands_keep_their_own_output(backend: &Backend) {
    let rig = Rig::start(backend, &[]);
    let ids: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    for id in &ids {
        assert_eq!(rig.ctl(&["sessions", "create", "--id", id]).code, 0);
    }
    let runs: Vec<(usize, Run)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|n| {
                let rig = &rig;
                let id = ids[n % 10].clone();
                scope.spawn(move || {
                    let script = format!(
                        "for i in $(seq 1 200); do echo job{n}-$i; done; echo job{n}-err >&2; exit {}",
                        n % 7
                    );
                    let mark = format!("MSB_TEST_MARK=c-{n}");
                    (n, rig.exec(&id, &["-e", &mark], &["sh", "-c", &script]))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    for (n, run) in runs {
        let expected: String = (1..=200).map(|i| format!("job{n}-{i}\n")).collect();
        assert_eq!(run.code, (n % 7) as i32, "job {n}: {run:?}");
        assert!(run.stdout == expected, "job {n} got other output: {run:?}");
        assert_eq!(run.stderr, format!("job{n}-err\n"), "job {n}");
    }
    let sandboxes: Vec<_> = ids.iter().map(|id| rig.sandbox(id)).collect();
    assert!(
        (0..50).all(|n| !rig.marked(&sandboxes[n % 10], &format!("c-{n}"))),
        "commands left running"
    );
    rig.finish();
}

pub fn a_client_killed_midway_ends_its_command_and_limits_hold(backend: &Backend) {
    let rig = Rig::with_session(backend, &["--max-execs-per-session", "2"], "w10");
    let sandbox = rig.sandbox("w10");
    let start = |mark: &str| {
        rig.ctl_command(&["sessions", "exec", "w10", "-e", mark, "--", "sleep", "60"])
            .stdout(Stdio::null())
            .spawn()
            .expect("run msbctl")
    };
    let mut first = start("MSB_TEST_MARK=w10-a");
    let mut second = start("MSB_TEST_MARK=w10-b");
    wait_until("both commands to run", || {
        (rig.marked(&sandbox, "w10-a") && rig.marked(&sandbox, "w10-b")).then_some(())
    });
    let third = rig.exec("w10", &[], &["true"]);
    assert_eq!(third.code, 1, "{third:?}");
    assert!(
        third.stderr.contains("already runs 2 commands"),
        "{third:?}"
    );
    first.kill().expect("kill msbctl");
    let _ = first.wait();
    let killed = Instant::now();
    wait_until("the command of the killed client to end", || {
        (!rig.marked(&sandbox, "w10-a")).then_some(())
    });
    eprintln!(
        "the command ended {:?} after its client was killed",
        killed.elapsed()
    );
    assert!(rig.marked(&sandbox, "w10-b"), "the other command goes on");
    // The session was busy all along, and is usable again once a slot is free.
    assert_eq!(rig.exec("w10", &[], &["true"]).code, 0);
    second.kill().expect("kill msbctl");
    let _ = second.wait();
    rig.finish();
}

pub fn stdin_working_directory_and_the_collect_cap(backend: &Backend) {
    let rig = Rig::with_session(backend, &["--collect-limit-kb", "1"], "w13");
    let run = msbctl_with_input(
        &rig.socket,
        &[
            "sessions",
            "exec",
            "-i",
            "w13",
            "--",
            "sh",
            "-c",
            "cat; echo done",
        ],
        Some(b"from stdin\n"),
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "from stdin\ndone\n"),
        "{run:?}"
    );
    assert_eq!(rig.exec("w13", &[], &["mkdir", "sub"]).code, 0);
    let run = rig.exec(
        "w13",
        &["-w", "sub", "-e", "GREETING=hi"],
        &["sh", "-c", "echo $GREETING; pwd"],
    );
    assert!(
        run.stdout.starts_with("hi\n") && run.stdout.trim_end().ends_with("/sub"),
        "{run:?}"
    );
    let doc = rig
        .ctl(&[
            "--json",
            "sessions",
            "exec",
            "w13",
            "--",
            "sh",
            "-c",
            "head -c 5000 /dev/zero | tr '\\0' x",
        ])
        .json();
    assert_eq!(doc["truncated"], true, "{doc}");
    assert_eq!(doc["stdout"].as_str().map(str::len), Some(1024), "{doc}");
    let bad = rig.exec("w13", &["-e", "MSBD_SANDBOX=other"], &["true"]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("MSBD_SANDBOX"), "{bad:?}");
    let missing = rig.exec("nobody", &[], &["true"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.contains("nobody"), "{missing:?}");
    rig.finish();
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn a_client_that_does_not_read_slows_only_its_own_command(backend: &Backend) {
    let rig = Rig::with_session(backend, &[], "w14");
    let sandbox = rig.sandbox("w14");
    let before = rss_kib(rig.pid());
    // 200 MiB of output that nobody reads.
    let mut child = rig
        .ctl_command(&[
            "sessions",
            "exec",
            "w14",
            "-e",
            "MSB_TEST_MARK=w14",
            "--",
            "sh",
            "-c",
            "head -c 209715200 /dev/zero",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run msbctl");
    wait_until("the command to run", || {
        rig.marked(&sandbox, "w14").then_some(())
    });
    // Everyone else is served meanwhile, and msbd holds none of the backlog.
    for _ in 0..5 {
        assert_eq!(rig.ctl(&["health"]).code, 0);
        assert_eq!(
            rig.exec("w14", &[], &["echo", "still here"]).stdout,
            "still here\n"
        );
    }
    let grown = rss_kib(rig.pid()).saturating_sub(before);
    eprintln!("msbd grew by {grown} KiB while 200 MiB waited to be read");
    assert!(
        grown < 64 * 1024,
        "msbd buffered the output: grew by {grown} KiB"
    );
    assert!(
        rig.marked(&sandbox, "w14"),
        "the writer waits for its reader"
    );
    child.kill().expect("kill msbctl");
    let _ = child.wait();
    wait_until("the unread command to be cancelled", || {
        (!rig.marked(&sandbox, "w14")).then_some(())
    });
    rig.finish();
}

pub fn ctrl_c_cancels_the_command_and_copies_are_bounded(backend: &Backend) {
    let rig = Rig::with_session(backend, &["--copy-limit-mb", "1"], "w15");
    let sandbox = rig.sandbox("w15");
    let mut child = rig
        .ctl_command(&[
            "sessions",
            "exec",
            "w15",
            "-e",
            "MSB_TEST_MARK=w15",
            "--",
            "sleep",
            "60",
        ])
        .spawn()
        .expect("run msbctl");
    wait_until("the command to run", || {
        rig.marked(&sandbox, "w15").then_some(())
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT to msbctl");
    let status = child.wait().expect("msbctl exits");
    assert_eq!(status.code(), Some(130), "{status:?}");
    wait_until("the cancelled command to be gone", || {
        (!rig.marked(&sandbox, "w15")).then_some(())
    });

    let big = rig.dir.path().join("two-mib");
    std::fs::write(&big, vec![7u8; 2 * 1024 * 1024]).expect("write");
    let run = rig.ctl(&[
        "--json",
        "sessions",
        "cp",
        &big.display().to_string(),
        "w15:big",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json()["error"]["code"], "limit_reached", "{run:?}");
    assert!(run.stderr.contains("1 MiB"), "{run:?}");
    let made = rig.exec(
        "w15",
        &[],
        &["sh", "-c", "head -c 2097152 /dev/zero > big; ls"],
    );
    assert_eq!(made.code, 0, "{made:?}");
    let out = rig.dir.path().join("out");
    let run = rig.ctl(&["sessions", "cp", "w15:big", &out.display().to_string()]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("limit"), "{run:?}");
    assert!(
        !out.exists(),
        "a copy over the limit left {}",
        out.display()
    );
    rig.finish();
}
