//! Work in a session: `sessions exec`, `run` and `cp`, through the real msbctl into real
//! sandboxes.

use msb_tests::{msbctl_with_input, processes_with_env, wait_until, Daemon, Run};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn with_session(args: &[&str], id: &str) -> Daemon {
    let daemon = Daemon::start(args);
    let created = daemon.ctl(&["sessions", "create", "--id", id]);
    assert_eq!(created.code, 0, "{created:?}");
    daemon
}

fn exec(daemon: &Daemon, id: &str, extra: &[&str], command: &[&str]) -> Run {
    let mut args = vec!["sessions", "exec", id];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(command);
    daemon.ctl(&args)
}

#[test]
fn output_streams_and_the_exit_code_come_back() {
    let daemon = with_session(&[], "w1");
    let script = "echo out; echo err >&2; exit 7";
    let run = exec(&daemon, "w1", &[], &["sh", "-c", script]);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (7, "out\n", "err\n"),
        "{run:?}"
    );
    let run = daemon.ctl(&["--json", "sessions", "exec", "w1", "--", "sh", "-c", script]);
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
    let run = exec(
        &daemon,
        "w1",
        &[],
        &["sh", "-c", "yes | head -1; grep SigIgn /proc/self/status"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "", "{run:?}");
    assert_eq!(run.stdout, "y\nSigIgn:\t0000000000000000\n", "{run:?}");
    daemon.finish();
}

#[test]
fn output_reaches_the_client_while_the_command_runs() {
    let daemon = with_session(&[], "w2");
    let start = Instant::now();
    let mut child = daemon
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
    daemon.finish();
}

#[test]
fn a_timeout_kills_the_whole_tree_but_not_the_sandbox() {
    let daemon = with_session(&[], "w3");
    let started = Instant::now();
    let run = exec(
        &daemon,
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
        processes_with_env("MSB_TEST_MARK", "w3-tree")
            .is_empty()
            .then_some(())
    });
    let shown = daemon.json(&["sessions", "show", "w3"]);
    assert_eq!(shown["details"]["running"], true, "{shown}");
    let doc = daemon
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
    daemon.finish();
}

#[test]
fn a_running_command_keeps_its_session_from_expiring() {
    let daemon = with_session(
        &["--session-timeout", "2s", "--cleanup-interval", "200ms"],
        "w4",
    );
    let mut child = daemon
        .ctl_command(&["sessions", "exec", "w4", "--", "sleep", "4"])
        .spawn()
        .expect("run msbctl");
    wait_until("the session to be processing", || {
        (daemon.json(&["sessions", "show", "w4"])["status"] == "processing").then_some(())
    });
    let status = child.wait().expect("exec ends");
    assert!(status.success(), "{status:?}");
    let shown = daemon.ctl(&["--json", "sessions", "show", "w4"]);
    assert_eq!(shown.code, 0, "expired while its command ran: {shown:?}");
    assert_eq!(shown.json()["status"], "ready");
    wait_until("the idle session to expire", || {
        (daemon.ctl(&["sessions", "show", "w4"]).code == 1).then_some(())
    });
    daemon.finish();
}

#[test]
fn code_runs_with_its_languages_interpreter() {
    let daemon = with_session(&["--language", "nosuch=no-such-interpreter-xyz"], "w5");
    let python = std::path::Path::new("/usr/bin/python3").exists()
        || std::path::Path::new("/bin/python3").exists();
    if python {
        let run = msbctl_with_input(
            &daemon.socket,
            &["sessions", "run", "w5", "--language", "python", "-"],
            Some(b"print(sum(range(10)))\n"),
        );
        assert_eq!((run.code, run.stdout.as_str()), (0, "45\n"), "{run:?}");
    } else {
        eprintln!("skipped the python run: this host has no python3");
    }
    let run = msbctl_with_input(
        &daemon.socket,
        &["sessions", "run", "w5", "--language", "shell"],
        Some(b"echo $((6 * 7))\n"),
    );
    assert_eq!((run.code, run.stdout.as_str()), (0, "42\n"), "{run:?}");
    let run = msbctl_with_input(
        &daemon.socket,
        &["sessions", "run", "w5", "--language", "nosuch"],
        Some(b"anything"),
    );
    assert_eq!(run.code, 127, "{run:?}");
    assert!(
        run.stderr.contains("no-such-interpreter-xyz") && run.stdout.is_empty(),
        "{run:?}"
    );
    let run = msbctl_with_input(
        &daemon.socket,
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
        &daemon.socket,
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
    assert_eq!(daemon.json(&["sessions", "show", &id])["status"], "ready");
    daemon.finish();
}

#[test]
fn a_command_runs_inside_the_sandbox() {
    let daemon = with_session(&[], "w6");
    let shown = daemon.json(&["sessions", "show", "w6"]);
    let workdir = shown["details"]["workdir"]
        .as_str()
        .expect("workdir")
        .to_string();
    let sandbox = shown["sandbox"].as_str().expect("sandbox").to_string();
    let facts = exec(
        &daemon,
        "w6",
        &[],
        &[
            "sh",
            "-c",
            "echo pid=$$; echo cwd=$(pwd); echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' '); \
             grep 'Max open files' /proc/self/limits; cat /proc/self/cgroup",
        ],
    );
    assert_eq!(facts.code, 0, "{facts:?}");
    let out = facts.stdout;
    let isolated = daemon.jailed();
    // With namespaces, the working directory is /work of the sandbox's own root.
    let cwd = if isolated { "/work" } else { workdir.as_str() };
    assert!(out.contains(&format!("cwd={cwd}\n")), "{out}");
    assert!(
        out.contains("Max open files            1024"),
        "the flavor's limit: {out}"
    );
    if !daemon.cgroup_dirs().is_empty() {
        assert!(out.contains(&sandbox), "in the sandbox's cgroups: {out}");
    }
    if isolated {
        let pid: u32 = out
            .lines()
            .find_map(|l| l.strip_prefix("pid="))
            .and_then(|p| p.parse().ok())
            .expect("pid line");
        assert!(pid < 100, "pid {pid} in the sandbox's pid namespace: {out}");
        let ifaces = out
            .lines()
            .find_map(|l| l.strip_prefix("ifaces="))
            .unwrap_or_default();
        assert_eq!(ifaces.trim(), "lo", "only loopback: {out}");
    }
    daemon.finish();
}

#[test]
fn files_are_copied_in_and_out_and_stay_inside_the_sandbox() {
    let daemon = with_session(&[], "w7");
    let local = daemon.dir.path().join("local");
    std::fs::create_dir_all(local.join("tree/deep")).expect("mkdir");
    let big: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(local.join("big.bin"), &big).expect("write");
    std::fs::write(local.join("tree/deep/leaf.txt"), b"leaf").expect("write");
    let path = |p: &str| local.join(p).display().to_string();
    let ok = |args: &[&str]| {
        let run = daemon.ctl(args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
    };
    ok(&["sessions", "cp", &path("big.bin"), "w7:big.bin"]);
    ok(&["sessions", "cp", "w7:big.bin", &path("back.bin")]);
    assert!(
        std::fs::read(local.join("back.bin")).expect("read") == big,
        "5 MiB round trip differs"
    );
    ok(&["sessions", "cp", &path("tree"), "w7:copied"]);
    let listed = exec(&daemon, "w7", &[], &["cat", "copied/deep/leaf.txt"]);
    assert_eq!(listed.stdout, "leaf", "{listed:?}");
    ok(&["sessions", "cp", "w7:copied", &path("tree-back")]);
    assert_eq!(
        std::fs::read(local.join("tree-back/deep/leaf.txt")).expect("read"),
        b"leaf"
    );

    // Climbing out, absolute paths and symlinks that lead out all stay inside.
    let marker = format!("msb-copy-escape-{}", std::process::id());
    let host = std::path::Path::new("/etc").join(&marker);
    let run = daemon.ctl(&[
        "sessions",
        "cp",
        &path("tree/deep/leaf.txt"),
        &format!("w7:../../etc/{marker}"),
    ]);
    eprintln!("copy to ../../etc: {run:?}");
    let run = daemon.ctl(&[
        "sessions",
        "cp",
        &path("tree/deep/leaf.txt"),
        &format!("w7:/etc/{marker}"),
    ]);
    eprintln!("copy to /etc: {run:?}");
    let linked = exec(&daemon, "w7", &[], &["ln", "-s", "/etc", "out"]);
    assert_eq!(linked.code, 0, "{linked:?}");
    let run = daemon.ctl(&[
        "sessions",
        "cp",
        &path("tree/deep/leaf.txt"),
        &format!("w7:out/{marker}"),
    ]);
    eprintln!("copy through a symlink: {run:?}");
    assert!(
        !host.exists(),
        "a copy wrote {} on the host",
        host.display()
    );
    // With namespaces /etc is the sandbox's own; without, there is none in its files.
    let run = daemon.ctl(&["sessions", "cp", "w7:/etc/passwd", &path("stolen")]);
    let host_passwd = std::fs::read(std::path::Path::new("/etc/passwd")).expect("read");
    let stolen = std::fs::read(local.join("stolen")).ok();
    assert!(
        stolen.is_none_or(|got| got != host_passwd),
        "the host's /etc/passwd was copied out: {run:?}"
    );
    let run = daemon.ctl(&["sessions", "cp", &path("big.bin"), &path("also-local")]);
    assert_eq!(run.code, 2, "{run:?}");
    daemon.finish();
}

#[test]
fn concurrent_commands_keep_their_own_output() {
    let daemon = Daemon::start(&[]);
    let ids: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    for id in &ids {
        assert_eq!(daemon.ctl(&["sessions", "create", "--id", id]).code, 0);
    }
    let runs: Vec<(usize, Run)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|n| {
                let daemon = &daemon;
                let id = ids[n % 10].clone();
                scope.spawn(move || {
                    let script = format!(
                        "for i in $(seq 1 200); do echo job{n}-$i; done; echo job{n}-err >&2; exit {}",
                        n % 7
                    );
                    let mark = format!("MSB_TEST_MARK=c-{n}");
                    (n, exec(daemon, &id, &["-e", &mark], &["sh", "-c", &script]))
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
    assert!(
        (0..50).all(|n| processes_with_env("MSB_TEST_MARK", &format!("c-{n}")).is_empty()),
        "commands left running"
    );
    daemon.finish();
}

#[test]
fn a_client_killed_midway_ends_its_command_and_limits_hold() {
    let daemon = with_session(&["--max-execs-per-session", "2"], "w10");
    let start = |mark: &str| {
        daemon
            .ctl_command(&["sessions", "exec", "w10", "-e", mark, "--", "sleep", "60"])
            .stdout(Stdio::null())
            .spawn()
            .expect("run msbctl")
    };
    let mut first = start("MSB_TEST_MARK=w10-a");
    let mut second = start("MSB_TEST_MARK=w10-b");
    wait_until("both commands to run", || {
        (!processes_with_env("MSB_TEST_MARK", "w10-a").is_empty()
            && !processes_with_env("MSB_TEST_MARK", "w10-b").is_empty())
        .then_some(())
    });
    let third = exec(&daemon, "w10", &[], &["true"]);
    assert_eq!(third.code, 1, "{third:?}");
    assert!(
        third.stderr.contains("already runs 2 commands"),
        "{third:?}"
    );
    first.kill().expect("kill msbctl");
    let _ = first.wait();
    let killed = Instant::now();
    wait_until("the command of the killed client to end", || {
        processes_with_env("MSB_TEST_MARK", "w10-a")
            .is_empty()
            .then_some(())
    });
    eprintln!(
        "the command ended {:?} after its client was killed",
        killed.elapsed()
    );
    assert!(
        !processes_with_env("MSB_TEST_MARK", "w10-b").is_empty(),
        "the other command goes on"
    );
    // The session was busy all along, and is usable again once a slot is free.
    assert_eq!(exec(&daemon, "w10", &[], &["true"]).code, 0);
    second.kill().expect("kill msbctl");
    let _ = second.wait();
    daemon.finish();
}

#[test]
fn what_a_command_leaves_in_the_background_goes_with_its_sandbox() {
    for isolation in ["auto", "none"] {
        let daemon = with_session(&["--isolation", isolation], "w12");
        let mark = format!("MSB_TEST_MARK=w12-{isolation}");
        let run = exec(
            &daemon,
            "w12",
            &["-e", &mark],
            &[
                "sh",
                "-c",
                "setsid sleep 300 > /dev/null 2>&1 < /dev/null & echo started",
            ],
        );
        assert_eq!((run.code, run.stdout.as_str()), (0, "started\n"), "{run:?}");
        let value = mark.trim_start_matches("MSB_TEST_MARK=");
        wait_until("the background process to run", || {
            (!processes_with_env("MSB_TEST_MARK", value).is_empty()).then_some(())
        });
        assert_eq!(daemon.ctl(&["sessions", "stop", "w12"]).code, 0);
        wait_until("the background process to be gone with its sandbox", || {
            processes_with_env("MSB_TEST_MARK", value)
                .is_empty()
                .then_some(())
        });
        daemon.finish();
    }
}

#[test]
fn stdin_working_directory_and_the_collect_cap() {
    let daemon = with_session(&["--collect-limit-kb", "1"], "w13");
    let run = msbctl_with_input(
        &daemon.socket,
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
    assert_eq!(exec(&daemon, "w13", &[], &["mkdir", "sub"]).code, 0);
    let run = exec(
        &daemon,
        "w13",
        &["-w", "sub", "-e", "GREETING=hi"],
        &["sh", "-c", "echo $GREETING; pwd"],
    );
    assert!(
        run.stdout.starts_with("hi\n") && run.stdout.trim_end().ends_with("/sub"),
        "{run:?}"
    );
    let doc = daemon
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
    let bad = exec(&daemon, "w13", &["-e", "MSBD_SANDBOX=other"], &["true"]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("MSBD_SANDBOX"), "{bad:?}");
    let missing = exec(&daemon, "nobody", &[], &["true"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.contains("nobody"), "{missing:?}");
    daemon.finish();
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

#[test]
fn a_client_that_does_not_read_slows_only_its_own_command() {
    let daemon = with_session(&[], "w14");
    let before = rss_kib(daemon.pid());
    // 200 MiB of output that nobody reads.
    let mut child = daemon
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
        (!processes_with_env("MSB_TEST_MARK", "w14").is_empty()).then_some(())
    });
    // Everyone else is served meanwhile, and msbd holds none of the backlog.
    for _ in 0..5 {
        assert_eq!(daemon.ctl(&["health"]).code, 0);
        assert_eq!(
            exec(&daemon, "w14", &[], &["echo", "still here"]).stdout,
            "still here\n"
        );
    }
    let grown = rss_kib(daemon.pid()).saturating_sub(before);
    eprintln!("msbd grew by {grown} KiB while 200 MiB waited to be read");
    assert!(
        grown < 64 * 1024,
        "msbd buffered the output: grew by {grown} KiB"
    );
    assert!(
        !processes_with_env("MSB_TEST_MARK", "w14").is_empty(),
        "the writer waits for its reader"
    );
    child.kill().expect("kill msbctl");
    let _ = child.wait();
    wait_until("the unread command to be cancelled", || {
        processes_with_env("MSB_TEST_MARK", "w14")
            .is_empty()
            .then_some(())
    });
    daemon.finish();
}

#[test]
fn ctrl_c_cancels_the_command_and_copies_are_bounded() {
    let daemon = with_session(&["--copy-limit-mb", "1"], "w15");
    let mut child = daemon
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
        (!processes_with_env("MSB_TEST_MARK", "w15").is_empty()).then_some(())
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT to msbctl");
    let status = child.wait().expect("msbctl exits");
    assert_eq!(status.code(), Some(130), "{status:?}");
    wait_until("the cancelled command to be gone", || {
        processes_with_env("MSB_TEST_MARK", "w15")
            .is_empty()
            .then_some(())
    });

    let big = daemon.dir.path().join("two-mib");
    std::fs::write(&big, vec![7u8; 2 * 1024 * 1024]).expect("write");
    let run = daemon.ctl(&[
        "--json",
        "sessions",
        "cp",
        &big.display().to_string(),
        "w15:big",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json()["error"]["code"], "limit_reached", "{run:?}");
    assert!(run.stderr.contains("1 MiB"), "{run:?}");
    let made = exec(
        &daemon,
        "w15",
        &[],
        &["sh", "-c", "head -c 2097152 /dev/zero > big; ls"],
    );
    assert_eq!(made.code, 0, "{made:?}");
    let out = daemon.dir.path().join("out");
    let run = daemon.ctl(&["sessions", "cp", "w15:big", &out.display().to_string()]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("limit"), "{run:?}");
    assert!(
        !out.exists(),
        "a copy over the limit left {}",
        out.display()
    );
    daemon.finish();
}
