//! msbd under a service manager, with the test in the service manager's place: sd_notify
//! messages reach a datagram socket of the test's own (READY, STATUS, STOPPING, WATCHDOG),
//! and a listening socket passed as fd 3 (socket activation) is the one msbd serves on.
//! The units, tmpfiles and sysusers snippets in contrib/systemd pass systemd's own tools
//! where they are installed.

use msb_tests::{bin, Daemon, DEADLINE};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use tempfile::TempDir;

/// The service manager's end of `NOTIFY_SOCKET`: every datagram msbd sends, read at once
/// by a thread of its own so that msbd never waits on a full queue.
struct Manager {
    _dir: TempDir,
    path: PathBuf,
    messages: mpsc::Receiver<String>,
}

impl Manager {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                if tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
                {
                    return;
                }
            }
        });
        Self {
            _dir: dir,
            path,
            messages,
        }
    }

    /// The messages up to and including the first that has the line `line`.
    fn until(&self, line: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let message = self
                .messages
                .recv_timeout(DEADLINE)
                .unwrap_or_else(|_| panic!("no {line} within {DEADLINE:?}; got {seen:?}"));
            let found = has(&message, line);
            seen.push(message);
            if found {
                return seen;
            }
        }
    }
}

fn has(message: &str, line: &str) -> bool {
    message.lines().any(|l| l == line)
}

#[test]
fn ready_once_it_serves_then_stopping_on_stop() {
    let manager = Manager::new();
    let mut daemon = Daemon::unstarted();
    let mut cmd = daemon.command(&[]);
    cmd.env("NOTIFY_SOCKET", &manager.path)
        .env_remove("WATCHDOG_USEC");
    daemon.launch_unwaited(cmd);
    let ready = manager.until("READY=1");
    // READY=1 comes only once the socket listens: msbctl is answered at once.
    let status = daemon.ctl(&["status"]);
    assert_eq!(status.code, 0, "READY=1 before msbd serves: {status:?}");
    let last = ready.last().expect("the READY message");
    assert!(
        has(last, "STATUS=serving, 0 sessions, healthy"),
        "a status line with READY: {ready:?}"
    );
    let stop = daemon.ctl(&["stop", "--timeout", "5s"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    let stopping = manager.until("STOPPING=1");
    assert!(has(stopping.last().expect("STOPPING"), "STATUS=stopping"));
    assert!(
        !ready.iter().chain(&stopping).any(|m| has(m, "WATCHDOG=1")),
        "no watchdog pings without WATCHDOG_USEC: {ready:?} {stopping:?}"
    );
    assert_eq!(daemon.wait_exit(), 0);
    daemon.assert_no_sandboxes();
}

#[test]
fn watchdog_pings_stop_while_a_task_is_stalled() {
    let manager = Manager::new();
    let daemon = Daemon::start_with(
        &[
            "--enable-fault-injection",
            "--cleanup-interval",
            "500ms",
            "--stall-after",
            "1s",
        ],
        |_| {},
        |cmd| {
            // Pings every 100 ms.
            cmd.env("NOTIFY_SOCKET", &manager.path)
                .env("WATCHDOG_USEC", "200000");
        },
    );
    manager.until("WATCHDOG=1");
    daemon.json(&["debug", "fault", "session-cleanup", "hang"]);
    daemon.wait_task("session-cleanup", "stalled", |t| t["state"] == "stalled");
    // Every beat says how msbd is; from the first that reports the stall, several pass with
    // no ping.
    let mut stalled_beats = 0;
    while stalled_beats < 5 {
        let message = manager
            .messages
            .recv_timeout(DEADLINE)
            .expect("status lines keep coming while stalled");
        let stalled = has(
            &message,
            "STATUS=serving, 0 sessions, unhealthy: stalled session-cleanup",
        );
        if stalled || stalled_beats > 0 {
            assert!(stalled, "the stall lasts until restarted: {message}");
            assert!(
                !has(&message, "WATCHDOG=1"),
                "a ping while stalled: {message}"
            );
            stalled_beats += 1;
        }
    }
    let restarted = daemon.json(&["restart", "session-cleanup"]);
    assert_eq!(restarted[0]["result"], "restarted", "{restarted}");
    manager.until("WATCHDOG=1");
    daemon.finish();
}

#[test]
fn a_socket_passed_as_fd_3_is_served_and_left_in_place() {
    let mut daemon = Daemon::unstarted();
    let dir = daemon.socket.parent().expect("socket dir").to_path_buf();
    std::fs::create_dir_all(&dir).expect("socket dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let listener = UnixListener::bind(&daemon.socket).expect("bind the passed socket");
    let fd = listener.as_raw_fd();
    // As systemd does: the socket at fd 3, LISTEN_FDS=1 and LISTEN_PID naming msbd itself
    // (the shell's pid, which exec keeps).
    let mut cmd = daemon.command_via(
        &[
            "sh",
            "-c",
            r#"export LISTEN_PID=$$ LISTEN_FDS=1; exec "$0" "$@""#,
        ],
        &[],
    );
    // SAFETY: between fork and exec only async-signal-safe calls (dup2, fcntl) are made.
    unsafe {
        cmd.pre_exec(move || {
            let done = if fd == 3 {
                nix::libc::fcntl(3, nix::libc::F_SETFD, 0)
            } else {
                nix::libc::dup2(fd, 3)
            };
            if done < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // Had msbd bound a socket of its own, it would have found this one answering and exited.
    daemon.launch(cmd);
    drop(listener);
    let status = daemon.status();
    assert_eq!(
        status["daemon"]["socket"],
        daemon.socket.display().to_string(),
        "{status}"
    );
    let created = daemon.json(&["sessions", "create", "--id", "via-fd"]);
    assert_eq!(created["id"], "via-fd");
    let stop = daemon.ctl(&["stop", "--timeout", "5s"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    assert_eq!(daemon.wait_exit(), 0);
    assert!(
        daemon.socket.exists(),
        "the service manager's socket file is left in place"
    );
    daemon.assert_no_sandboxes();
}

fn contrib() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/systemd")
}

/// True when `tool` runs here; says why what needs it is skipped otherwise.
fn have(tool: &str) -> bool {
    let there = Command::new(tool).arg("--version").output().is_ok();
    if !there {
        eprintln!("skipped: {tool} is not installed on this host");
    }
    there
}

#[test]
fn the_units_pass_systemd_analyze_verify() {
    if !have("systemd-analyze") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = std::fs::read_to_string(contrib().join("msbd.service")).expect("msbd.service");
    assert!(
        unit.contains("\nExecStart=/usr/local/bin/msbd\n"),
        "the line install.sh rewrites"
    );
    // verify checks that ExecStart= can be run: point it at the msbd just built.
    let unit = unit.replace(
        "ExecStart=/usr/local/bin/msbd",
        &format!("ExecStart={}", bin("msbd").display()),
    );
    std::fs::write(dir.path().join("msbd.service"), unit).expect("write the unit");
    std::fs::copy(
        contrib().join("msbd.socket"),
        dir.path().join("msbd.socket"),
    )
    .expect("copy the socket unit");
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.path().join("msbd.service"))
        .arg(dir.path().join("msbd.socket"))
        .output()
        .expect("run systemd-analyze");
    // Unknown keys and bad values are only warnings to systemd: any line about ours fails.
    let said = String::from_utf8_lossy(&output.stderr);
    let ours: Vec<&str> = said.lines().filter(|l| l.contains("msbd")).collect();
    assert!(
        output.status.success() && ours.is_empty(),
        "systemd-analyze verify: {said}"
    );
}

#[test]
fn sysusers_and_tmpfiles_make_the_group_and_the_socket_dir() {
    if !have("systemd-sysusers") || !have("systemd-tmpfiles") {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: systemd-tmpfiles needs root to give /run/msbd its group");
        return;
    }
    // An empty root of the test's own, so the host's users and /run stay untouched.
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(root.path().join("etc")).expect("etc");
    let made = Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.path().display()))
        .arg(contrib().join("msbd.sysusers"))
        .output()
        .expect("run systemd-sysusers");
    assert!(made.status.success(), "{made:?}");
    let groups = std::fs::read_to_string(root.path().join("etc/group")).expect("etc/group");
    let gid: u32 = groups
        .lines()
        .find_map(|l| l.strip_prefix("msbd:x:"))
        .and_then(|rest| rest.split(':').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no group msbd: {groups}"));
    let made = Command::new("systemd-tmpfiles")
        .arg(format!("--root={}", root.path().display()))
        .arg("--create")
        .arg(contrib().join("msbd.tmpfiles"))
        .output()
        .expect("run systemd-tmpfiles");
    assert!(made.status.success(), "{made:?}");
    use std::os::unix::fs::MetadataExt;
    let run = std::fs::metadata(root.path().join("run/msbd")).expect("/run/msbd");
    assert_eq!(
        (run.mode() & 0o7777, run.uid(), run.gid()),
        (0o750, 0, gid),
        "/run/msbd: 0750, root, group msbd"
    );
}
