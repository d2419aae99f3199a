//! A sandbox's end is noticed when it happens, whoever ended it and whether msbd started or
//! adopted it; and a stop is honoured from a sandbox's first instant.

use msb_tests::{bin, procfs, wait_until, Daemon};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

/// With the cleanup cycle hourly, only the sandbox's own exit can end its session.
const NO_CLEANUP: [&str; 4] = [
    "--cleanup-interval",
    "1h",
    "--orphan-cleanup-interval",
    "1h",
];

/// How soon a killed sandbox's session must be gone.
const NOTICED_WITHIN: Duration = Duration::from_secs(2);

/// Signals the sandbox of `id` from outside msbd and returns how long its session took to
/// leave the list.
fn kill_and_time(daemon: &Daemon, id: &str, signal: Signal) -> Duration {
    let group = daemon.sandbox_group(id);
    let pids = daemon.session_pids(id);
    let killed = Instant::now();
    killpg(Pid::from_raw(group as i32), signal).expect("signal the sandbox's group");
    let took = wait_until(&format!("session {id} to end after {signal}"), || {
        (!daemon.session_ids(&[]).contains(&id.to_string())).then(|| killed.elapsed())
    });
    assert!(
        pids.iter().all(|pid| !procfs::alive(*pid)),
        "every process of {id}'s sandbox is gone"
    );
    took
}

#[test]
fn a_sandbox_killed_from_outside_ends_its_session_at_once_created_or_adopted() {
    let mut daemon = Daemon::start(&NO_CLEANUP);
    for id in ["term", "kill", "adopted-term", "adopted-kill", "bystander"] {
        daemon.json(&["sessions", "create", "--id", id]);
    }
    for (id, signal) in [("term", Signal::SIGTERM), ("kill", Signal::SIGKILL)] {
        let took = kill_and_time(&daemon, id, signal);
        eprintln!("{id}: session ended {took:?} after {signal}");
        assert!(took < NOTICED_WITHIN, "{id} took {took:?}");
    }
    let workdirs = daemon.state_entries("work");
    assert_eq!(workdirs.len(), 3, "released with its session: {workdirs:?}");

    // A new daemon adopts the rest, and watches their ends just the same.
    daemon.kill();
    daemon.spawn(&NO_CLEANUP);
    assert_eq!(daemon.status()["sessions"]["adopted"], 3);
    for (id, signal) in [
        ("adopted-term", Signal::SIGTERM),
        ("adopted-kill", Signal::SIGKILL),
    ] {
        let took = kill_and_time(&daemon, id, signal);
        eprintln!("{id}: session ended {took:?} after {signal}");
        assert!(took < NOTICED_WITHIN, "{id} took {took:?}");
    }
    assert_eq!(daemon.session_ids(&[]), ["bystander"]);
    assert!(!daemon.session_pids("bystander").is_empty());
    assert!(daemon.log().contains("ended by itself"), "{}", daemon.log());
    daemon.finish();
}

#[test]
fn a_session_stopped_right_after_its_create_stops_without_being_killed() {
    let daemon = Daemon::start(&["--stop-grace", "10s"]);
    for i in 0..30 {
        let id = format!("brief-{i}");
        daemon.json(&["sessions", "create", "--id", &id]);
        let asked = Instant::now();
        let stopped = daemon.json(&["sessions", "stop", &id]);
        let took = asked.elapsed();
        assert_eq!(stopped["fate"], "stopped", "{id}: {stopped}");
        assert!(
            took < Duration::from_secs(5),
            "{id}: a stop in its first instant took {took:?} of the 10 s grace"
        );
    }
    assert!(daemon.session_ids(&[]).is_empty());
    daemon.finish();
}

/// A keeper started directly, in a process group of its own as msbd starts it; killed with
/// its group if the test fails.
struct Keeper(std::process::Child);

impl Keeper {
    fn start(args: &[&str]) -> Self {
        let mut cmd = std::process::Command::new(bin("msbd"));
        cmd.arg("keeper").args(args);
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid()
                    .map(drop)
                    .map_err(std::io::Error::from)
            });
        }
        Self(cmd.spawn().expect("spawn a keeper"))
    }

    fn group(&self) -> Pid {
        Pid::from_raw(self.0.id() as i32)
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        let _ = killpg(self.group(), Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

#[test]
fn a_keeper_stopped_before_its_command_exists_ends_at_once() {
    let isolated = Keeper::start(&["--isolate", "--probe"])
        .0
        .wait()
        .expect("probe")
        .success();
    for mode in [&["--isolate"][..], &[]] {
        if mode.contains(&"--isolate") && !isolated {
            eprintln!("skipped the namespace case: this host cannot make namespaces");
            continue;
        }
        for round in 0..20 {
            let mut args = mode.to_vec();
            args.extend(["--", "/bin/sleep", "300"]);
            let mut keeper = Keeper::start(&args);
            // At once: before the keeper can have set anything up, let alone started sleep.
            killpg(keeper.group(), Signal::SIGTERM).expect("SIGTERM");
            let status = wait_until(
                &format!("the keeper {mode:?} to end (round {round})"),
                || keeper.0.try_wait().ok().flatten(),
            );
            use std::os::unix::process::ExitStatusExt;
            let by_term = status.signal() == Some(Signal::SIGTERM as i32)
                || status.code() == Some(128 + Signal::SIGTERM as i32);
            assert!(
                by_term,
                "{mode:?}: ended by SIGTERM, not otherwise: {status:?}"
            );
        }
    }
}
