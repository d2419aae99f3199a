//! Claiming the socket: one daemon per socket, stale sockets replaced, bad settings refused.

use msb_tests::{msbctl, Daemon};

#[test]
fn a_second_daemon_on_the_same_socket_is_refused() {
    let daemon = Daemon::start(&[]);
    let other_state = daemon.dir.path().join("other-state");
    let output = std::process::Command::new(msb_tests::bin("msbd"))
        .arg("--socket")
        .arg(&daemon.socket)
        .arg("--state-dir")
        .arg(&other_state)
        .output()
        .expect("run a second msbd");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("already holds the socket") && stderr.contains(&daemon.pid().to_string()),
        "{stderr}"
    );
    assert_eq!(
        daemon.status()["daemon"]["pid"].as_u64(),
        Some(u64::from(daemon.pid()))
    );
    daemon.finish();
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("run").join("msbd.sock");
    std::fs::create_dir_all(socket.parent().expect("parent")).expect("mkdir");
    // A socket file nobody listens on any more, as a crashed daemon leaves it.
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    assert!(socket.exists());
    assert_eq!(msbctl(&socket, &["status"]).code, 3);

    let mut daemon = Daemon::start(&[]);
    daemon.kill();
    assert!(daemon.socket.exists(), "SIGKILL leaves the socket file");
    daemon.spawn(&[]);
    assert!(
        daemon.log().contains("replaced a stale socket"),
        "{}",
        daemon.log()
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&daemon.socket)
            .expect("socket")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");
    daemon.finish();
}

#[test]
fn a_bad_setting_exits_78_before_binding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("msbd.sock");
    for (args, setting) in [
        (vec!["--cleanup-interval", "often"], "--cleanup-interval"),
        (vec!["--stall-after", "1ms"], "--stall-after"),
        (vec!["--restart-policy", "sometimes"], "--restart-policy"),
        (vec!["--template", "nocommand"], "--template"),
        (vec!["--uid-range", "0:10"], "--uid-range"),
        (vec!["--uid-range", "100:1"], "--uid-range"),
        (
            vec!["--template-option", "nope:user=root"],
            "--template-option",
        ),
        (
            vec!["--template-option", "default:mount=/srv:/proc"],
            "--template-option",
        ),
    ] {
        let output = std::process::Command::new(msb_tests::bin("msbd"))
            .arg("--socket")
            .arg(&socket)
            .args(&args)
            .output()
            .expect("run msbd");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(78), "{args:?}: {stderr}");
        assert!(
            stderr.contains(setting),
            "{args:?} does not name {setting}: {stderr}"
        );
        assert!(!socket.exists(), "{args:?} bound the socket anyway");
    }
    let output = std::process::Command::new(msb_tests::bin("msbd"))
        .arg("--socket")
        .arg(&socket)
        .env("MSB_SESSION_TIMEOUT", "forever")
        .output()
        .expect("run msbd");
    assert_eq!(output.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&output.stderr).contains("forever"));
}
