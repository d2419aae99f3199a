//! `msbctl pause … -- CMD` as cron and service managers run it: signals sent to msbctl reach
//! CMD and the pause is lifted after it, CMD runs even when msbd is down (unless the pause is
//! required), and a CMD that cannot run exits as a shell says, after the resume.

use msb_tests::{msbctl, wait_until, Daemon};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;

/// A command that says it started, then waits; `trap` decides how it takes SIGNAL.
fn waiting_command(dir: &Path, trap: &str) -> String {
    format!(
        "{trap} echo started > '{ready}'; while :; do sleep 0.1; done",
        ready = dir.join("ready").display()
    )
}

/// Runs `pause session-cleanup -- sh -c SCRIPT`, sends `signal` to msbctl once the command
/// has started, and returns msbctl's exit code.
fn pause_and_signal(daemon: &Daemon, script: &str, signal: Signal) -> i32 {
    let ready = daemon.dir.path().join("ready");
    let _ = std::fs::remove_file(&ready);
    let child = daemon
        .ctl_command(&["pause", "session-cleanup", "--", "sh", "-c", script])
        .stdin(Stdio::null())
        // A group of its own, so a terminal this test may run on plays no part.
        .process_group(0)
        .spawn()
        .expect("run msbctl pause");
    let mut group = Group(child);
    wait_until("the command to start", || ready.exists().then_some(()));
    assert_eq!(daemon.task("session-cleanup")["state"], "paused");
    kill(Pid::from_raw(group.0.id() as i32), signal).expect("signal msbctl");
    let status = wait_until("msbctl to exit", || group.0.try_wait().ok().flatten());
    status.code().unwrap_or(-1)
}

/// msbctl in a process group of its own with its command: whatever a failed test leaves of
/// the group is killed.
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        // Only while msbctl is unreaped is its pid surely still its group's.
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = nix::sys::signal::killpg(Pid::from_raw(self.0.id() as i32), Signal::SIGKILL);
            let _ = self.0.wait();
        }
    }
}

#[test]
fn a_signal_to_msbctl_reaches_the_command_and_the_pause_is_lifted_after_it() {
    let daemon = Daemon::start(&[]);
    let marker = daemon.dir.path().join("marker");
    for (signal, name) in [
        (Signal::SIGTERM, "TERM"),
        (Signal::SIGHUP, "HUP"),
        (Signal::SIGINT, "INT"),
    ] {
        let trap = format!(
            "trap 'echo {name} > \"{}\"; exit 9' {name};",
            marker.display()
        );
        let code = pause_and_signal(&daemon, &waiting_command(daemon.dir.path(), &trap), signal);
        assert_eq!(code, 9, "msbctl exits as the command did after {name}");
        let got = std::fs::read_to_string(&marker).unwrap_or_default();
        assert_eq!(got.trim(), name, "the command got {name}");
        assert_eq!(daemon.task("session-cleanup")["state"], "running");
    }
    // A command the signal kills: 128 + N, as a shell reports it.
    let code = pause_and_signal(
        &daemon,
        &waiting_command(daemon.dir.path(), ""),
        Signal::SIGTERM,
    );
    assert_eq!(code, 128 + Signal::SIGTERM as i32);
    assert_eq!(daemon.task("session-cleanup")["state"], "running");
    assert_eq!(daemon.status()["overall"], "healthy");
    daemon.finish();
}

#[test]
fn without_msbd_the_command_runs_unless_the_pause_is_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("nobody.sock");
    let ran = dir.path().join("ran");
    let script = format!("echo yes > '{}'; exit 4", ran.display());
    let run = msbctl(&socket, &["pause", "--", "sh", "-c", &script]);
    assert_eq!(run.code, 4, "exits as the command did: {run:?}");
    assert!(ran.exists(), "the command ran: {run:?}");
    assert!(
        run.stderr.contains("without the pause") && run.stderr.contains("cannot reach msbd"),
        "warns why: {run:?}"
    );
    std::fs::remove_file(&ran).expect("remove marker");
    let required = msbctl(
        &socket,
        &["pause", "--require-pause", "--", "sh", "-c", &script],
    );
    assert_eq!(required.code, 3, "{required:?}");
    assert!(!ran.exists(), "the command did not run: {required:?}");
}

#[test]
fn a_command_that_cannot_run_exits_127_or_126_after_the_resume() {
    let daemon = Daemon::start(&[]);
    let missing = daemon.ctl(&["pause", "session-cleanup", "--", "/nonexistent/backup"]);
    assert_eq!(missing.code, 127, "{missing:?}");
    assert!(
        missing.stderr.contains("cannot run /nonexistent/backup"),
        "{missing:?}"
    );
    assert!(missing.stderr.contains("resumed"), "{missing:?}");
    assert_eq!(daemon.task("session-cleanup")["state"], "running");

    let plain = daemon.dir.path().join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let path = plain.to_str().expect("utf-8 path");
    let refused = daemon.ctl(&["pause", "session-cleanup", "--", path]);
    assert_eq!(refused.code, 126, "{refused:?}");
    assert_eq!(daemon.task("session-cleanup")["state"], "running");
    daemon.finish();
}
