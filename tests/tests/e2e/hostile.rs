//! Hostile code inside a sandbox: calls into the kernel that a jail refuses, a fork bomb and
//! a memory bomb, each of which must end inside its sandbox while msbd and other sessions
//! carry on.

use msb_tests::{wait_until, Daemon, Run};
use nix::libc;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn exec(daemon: &Daemon, id: &str, script: &str) -> Run {
    daemon.ctl(&["sessions", "exec", id, "--", "sh", "-c", script])
}

fn with_sessions(ids: &[&str]) -> Daemon {
    let daemon = Daemon::start(&[]);
    for id in ids {
        let created = daemon.ctl(&["sessions", "create", "--id", id]);
        assert_eq!(created.code, 0, "{created:?}");
    }
    daemon
}

/// A field of /proc/self/status as the sandboxed command sees it.
fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {name} in {status}"))
        .trim()
}

#[test]
fn a_sandboxed_command_cannot_reach_the_kernels_dangerous_parts() {
    let daemon = with_sessions(&["h1"]);
    let isolation = daemon.isolation();
    assert!(
        isolation.contains("no_new_privs, capabilities dropped"),
        "{isolation}"
    );
    let run = exec(&daemon, "h1", "cat /proc/self/status");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(field(&run.stdout, "NoNewPrivs"), "1", "{run:?}");
    let bounding = u64::from_str_radix(field(&run.stdout, "CapBnd"), 16).expect("CapBnd");
    for (cap, name) in [
        (21, "SYS_ADMIN"),
        (16, "SYS_MODULE"),
        (19, "SYS_PTRACE"),
        (12, "NET_ADMIN"),
    ] {
        assert_eq!(bounding & (1 << cap), 0, "{name} is dropped: {bounding:x}");
    }
    assert_eq!(field(&run.stdout, "CapInh"), "0000000000000000");
    assert_eq!(field(&run.stdout, "CapAmb"), "0000000000000000");

    // Tools that make namespaces, mounts, device nodes and roots all fail.
    for script in [
        "unshare -U true",
        "unshare -m true",
        "unshare -n true",
        "mkdir -p m && mount -t tmpfs none m",
        "mount --bind / /mnt",
        "chroot / true",
        "mknod null c 1 3",
    ] {
        let run = exec(&daemon, "h1", script);
        assert_ne!(run.code, 0, "{script} must fail: {run:?}");
    }
    // Ordinary work still runs: pipes, forks, and threads (glibc falls back from clone3).
    let run = exec(
        &daemon,
        "h1",
        "seq 200000 | sort -n --parallel=4 -S 1M | tail -1",
    );
    assert_eq!((run.code, run.stdout.as_str()), (0, "200000\n"), "{run:?}");

    if !isolation.contains("seccomp") {
        eprintln!("skipped the system-call checks: this host has no seccomp ({isolation})");
        daemon.finish();
        return;
    }
    assert_eq!(
        field(
            &exec(&daemon, "h1", "cat /proc/self/status").stdout,
            "Seccomp"
        ),
        "2"
    );
    let perl = exec(&daemon, "h1", "command -v perl");
    if perl.code != 0 {
        eprintln!("skipped the raw system-call checks: no perl on this host");
        daemon.finish();
        return;
    }
    // Raw calls, each printing its errno: refused with EPERM, clone3 with ENOSYS.
    let calls = [
        ("ptrace(TRACEME)", libc::SYS_ptrace, "0, 0, 0, 0"),
        ("unshare(NEWUSER)", libc::SYS_unshare, "0x10000000"),
        ("setns", libc::SYS_setns, "0, 0"),
        ("keyctl", libc::SYS_keyctl, "0, 0"),
        ("bpf", libc::SYS_bpf, "0, 0, 0"),
        (
            "perf_event_open",
            libc::SYS_perf_event_open,
            "0, 0, 0, 0, 0",
        ),
        ("userfaultfd", libc::SYS_userfaultfd, "0"),
        ("init_module", libc::SYS_init_module, "0, 0, 0"),
        ("kexec_load", libc::SYS_kexec_load, "0, 0, 0, 0"),
        ("reboot", libc::SYS_reboot, "0, 0, 0, 0"),
        ("personality(odd)", libc::SYS_personality, "0x0400000"),
        // CLONE_NEWUSER | SIGCHLD; a child, should one come, leaves at once.
        ("clone(NEWUSER)", libc::SYS_clone, "0x10000011, 0, 0, 0, 0"),
    ];
    let mut script = String::new();
    for (name, number, args) in calls {
        script.push_str(&format!(
            "$r = syscall({number}, {args}); POSIX::_exit(0) if $r == 0 && \"{name}\" =~ /clone/; \
             print \"{name}=\", ($r == -1 ? $!+0 : \"ok\"), \"\\n\";\n"
        ));
    }
    script.push_str(&format!(
        "$r = syscall({}, 0, 0); print \"clone3=\", ($r == -1 ? $!+0 : \"ok\"), \"\\n\";\n",
        libc::SYS_clone3
    ));
    let run = daemon.ctl(&[
        "sessions", "exec", "h1", "--", "perl", "-MPOSIX", "-e", &script,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    for (name, _, _) in calls {
        assert!(
            run.stdout.contains(&format!("{name}={}\n", libc::EPERM)),
            "{name} is refused with EPERM: {run:?}"
        );
    }
    assert!(
        run.stdout.contains(&format!("clone3={}\n", libc::ENOSYS)),
        "{run:?}"
    );
    // A harmless persona query and an ordinary clone (fork) are allowed.
    let run = daemon.ctl(&[
        "sessions",
        "exec",
        "h1",
        "--",
        "perl",
        "-e",
        &format!(
            "print syscall({}, 0xffffffff) == -1 ? \"refused\" : \"ok\"; my $p = fork; exit 0 if $p == 0; waitpid($p, 0); print \" forked\"",
            libc::SYS_personality
        ),
    ]);
    assert_eq!(run.stdout, "ok forked", "{run:?}");
    daemon.finish();
}

/// The number of processes in a sandbox's pids cgroup.
fn processes(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("pids.current"))
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// A fork bomb in the background: every copy forks copies of itself for ever, so the bomb
/// never dies out by itself, and it leaves the command's output alone.
const BOMB: &str = "b() { while :; do b & done; }; b >/dev/null 2>&1 &";

#[test]
fn a_fork_bomb_ends_inside_its_sandbox() {
    let daemon = with_sessions(&["calm"]);
    if !daemon.isolation().contains("pids limits") {
        eprintln!("skipped: this host offers no pids cgroup to msbd");
        daemon.finish();
        return;
    }
    let created = daemon.json(&["sessions", "create", "--id", "bomb"]);
    let sandbox = created["sandbox"].as_str().unwrap_or_default().to_string();
    let pids = daemon
        .cgroup_dirs()
        .into_iter()
        .find(|dir| dir.ends_with(&sandbox) && dir.join("pids.current").exists())
        .expect("the sandbox's pids cgroup");
    // The command itself lives on without forking (`exec`), until its timeout.
    let mut bomb = daemon
        .ctl_command(&["sessions", "exec", "bomb", "--timeout", "8s", "--"])
        .args(["sh", "-c", &format!("{BOMB} exec sleep 60")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("msbctl");
    // The bomb fills its sandbox up to the limit (256 for a small flavor), never past it.
    wait_until("the bomb to fill its sandbox", || {
        (processes(&pids) >= 250).then_some(())
    });
    for _ in 0..3 {
        assert!(processes(&pids) <= 256, "{} processes", processes(&pids));
        let asked = Instant::now();
        let health = daemon.ctl(&["health"]);
        assert!(health.code <= 1, "{health:?}");
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "health took {:?}",
            asked.elapsed()
        );
        let run = exec(&daemon, "calm", "echo calm");
        assert_eq!((run.code, run.stdout.as_str()), (0, "calm\n"), "{run:?}");
    }
    let status = bomb.wait().expect("msbctl");
    assert_eq!(status.code(), Some(124), "the bomb times out");
    // Its whole tree goes with it; the sandbox's keeper, pid 1 and idle command stay.
    wait_until("the bomb's processes to go", || {
        (processes(&pids) <= 3).then_some(())
    });
    let run = exec(&daemon, "bomb", "echo after");
    assert_eq!((run.code, run.stdout.as_str()), (0, "after\n"), "{run:?}");
    // A bomb left behind by a command that ended goes with its session.
    let run = exec(&daemon, "bomb", BOMB);
    assert_eq!(run.code, 0, "{run:?}");
    wait_until("the second bomb to fill its sandbox", || {
        (processes(&pids) >= 250).then_some(())
    });
    let stopped = daemon.ctl(&["sessions", "stop", "bomb"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    wait_until("the bomb's cgroup to go", || (!pids.exists()).then_some(()));
    daemon.finish();
}

#[test]
fn a_memory_bomb_dies_inside_its_sandbox() {
    let daemon = with_sessions(&["calm2"]);
    let created = daemon.json(&["sessions", "create", "--id", "hog"]);
    let sandbox = created["sandbox"].as_str().unwrap_or_default().to_string();
    // Four processes of up to 512 MiB each: every one stays under the address-space
    // rlimit (the flavor's 1 GiB), so only the cgroup can stop them together.
    let run = exec(
        &daemon,
        "hog",
        "for i in 1 2 3 4; do head -c 400m /dev/zero | tail >/dev/null & done; wait; \
         head -c 3000m /dev/zero | tail >/dev/null; echo status=$?",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.ends_with("status=1\n") || run.stdout.ends_with("status=137\n"),
        "the big one dies: {run:?}"
    );
    if daemon.isolation().contains("cgroup v1") {
        let dir = daemon
            .cgroup_dirs()
            .into_iter()
            .find(|dir| dir.ends_with(&sandbox) && dir.join("memory.failcnt").exists())
            .expect("the sandbox's memory cgroup");
        let failures = std::fs::read_to_string(dir.join("memory.failcnt")).unwrap_or_default();
        assert!(
            failures.trim().parse::<u64>().is_ok_and(|n| n > 0),
            "the cgroup's limit was reached: {failures:?}"
        );
    }
    let run = exec(&daemon, "calm2", "echo calm");
    assert_eq!((run.code, run.stdout.as_str()), (0, "calm\n"), "{run:?}");
    let run = exec(&daemon, "hog", "echo alive");
    assert_eq!((run.code, run.stdout.as_str()), (0, "alive\n"), "{run:?}");
    assert_eq!(daemon.ctl(&["health"]).code, 0);
    daemon.finish();
}

#[test]
fn a_sandbox_can_neither_see_nor_signal_host_processes() {
    let daemon = with_sessions(&["seer"]);
    if !daemon.jailed() {
        daemon.finish();
        return;
    }
    let msbd = daemon.pid();
    // A host process that must survive whatever the sandbox tries.
    let mut victim = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .expect("a host process");
    let script = format!(
        "kill -9 {msbd} {victim}; echo kill=$?; test -e /proc/{msbd} && echo sees-msbd; \
         ls /proc | grep -c '^[0-9]'",
        victim = victim.id()
    );
    let run = exec(&daemon, "seer", &script);
    assert!(run.stdout.contains("kill=1"), "{run:?}");
    assert!(!run.stdout.contains("sees-msbd"), "{run:?}");
    let visible: u32 = run
        .stdout
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(u32::MAX);
    assert!(
        visible < 20,
        "only the sandbox's own processes are visible: {run:?}"
    );
    assert!(
        victim.try_wait().expect("wait").is_none(),
        "the host process was killed"
    );
    assert_eq!(daemon.ctl(&["health"]).code, 0, "msbd lives");
    let _ = victim.kill();
    let _ = victim.wait();
    daemon.finish();
}

#[test]
fn a_setuid_binary_gives_no_privileges() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let suid = dir.path().join("suid-id");
    std::fs::copy("/usr/bin/id", &suid).expect("copy id");
    // Owned by the host's root and setuid, as an attacker would wish to find one.
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mount = format!("default:mount={}:/opt-suid", dir.path().display());
    let daemon = Daemon::start(&["--template-option", &mount]);
    if !daemon.jailed() {
        daemon.finish();
        return;
    }
    assert_eq!(daemon.ctl(&["sessions", "create", "--id", "suid"]).code, 0);
    let run = exec(
        &daemon,
        "suid",
        "ls -l /opt-suid/suid-id; /opt-suid/suid-id -u; id -u",
    );
    assert_eq!(run.code, 0, "{run:?}");
    let ids: Vec<&str> = run.stdout.lines().skip(1).collect();
    assert_eq!(
        ids,
        ["1000", "1000"],
        "the setuid bit raised nothing: {run:?}"
    );
    // Nor can the sandbox make one of its own that works: the user owns what it makes.
    let own = exec(
        &daemon,
        "suid",
        "cp /usr/bin/id /work/myid && chmod u+s /work/myid && /work/myid -u",
    );
    assert_eq!(own.stdout.trim(), "1000", "{own:?}");
    daemon.finish();
}
