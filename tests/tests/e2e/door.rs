//! The control socket as a locked door: who is admitted (SO_PEERCRED), how many connections
//! a uid may hold, and that idle or half-sent connections cannot lock operators out.

use msb_proto::frame::{decode, encode};
use msb_proto::{Client, HandshakeReply, Hello, PROTOCOL};
use msb_tests::{bin, wait_until, Daemon, Run};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The unprivileged user and group every Linux host has.
const NOBODY: u32 = 65534;

/// A copy of msbctl that any user may run, whatever the permissions of the build tree.
fn public_msbctl(daemon: &Daemon) -> PathBuf {
    let path = daemon.dir.path().join("msbctl-public");
    std::fs::copy(bin("msbctl"), &path).expect("copy msbctl");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// Runs `msbctl ARGS` as `uid`:`gid`.
fn msbctl_as(msbctl: &Path, socket: &Path, uid: u32, gid: u32, args: &[&str]) -> Run {
    let output = std::process::Command::new(msbctl)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .uid(uid)
        .gid(gid)
        .output()
        .expect("run msbctl");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Lets every user reach the socket through the fixture's directories, so that the
/// credential check is what decides.
fn open_the_way(daemon: &Daemon, socket_mode: u32) {
    for dir in [
        daemon.dir.path(),
        daemon.socket.parent().expect("socket dir"),
    ] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    std::fs::set_permissions(&daemon.socket, std::fs::Permissions::from_mode(socket_mode))
        .expect("chmod socket");
}

#[test]
fn only_root_msbds_uid_and_the_socket_group_are_admitted() {
    let daemon = Daemon::start(&["--socket-group", &NOBODY.to_string()]);
    let msbctl = public_msbctl(&daemon);
    let socket = &daemon.socket;
    let meta = std::fs::metadata(socket).expect("socket");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (meta.mode() & 0o777, meta.gid()),
        (0o660, NOBODY),
        "socket 0660 of the group"
    );
    // The group's members pass the door; the fixture's own directory must let them in.
    std::fs::set_permissions(daemon.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let member = msbctl_as(&msbctl, socket, NOBODY, NOBODY, &["health"]);
    assert_eq!(member.code, 0, "a member of the socket group: {member:?}");
    // Someone else who reaches the socket anyway (a careless chmod) is refused by the kernel's
    // word on who they are.
    open_the_way(&daemon, 0o666);
    let stranger = msbctl_as(&msbctl, socket, NOBODY, 1, &["health"]);
    assert_eq!(stranger.code, 3, "{stranger:?}");
    assert!(
        stranger.stderr.contains("permission denied")
            && stranger.stderr.contains(&format!("uid {NOBODY}"))
            && stranger.stderr.contains("--socket-group"),
        "{stranger:?}"
    );
    assert!(!stranger.stderr.contains("is msbd running"), "{stranger:?}");
    let json = msbctl_as(&msbctl, socket, NOBODY, 1, &["--json", "status"]);
    assert!(json.stdout.contains("\"permission_denied\""), "{json:?}");
    assert_eq!(daemon.ctl(&["health"]).code, 0, "root is served");
    daemon.finish();
}

#[test]
fn without_a_socket_group_other_users_are_refused() {
    let daemon = Daemon::start(&[]);
    let msbctl = public_msbctl(&daemon);
    let meta = std::fs::metadata(&daemon.socket).expect("socket");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    std::fs::set_permissions(daemon.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let blocked = msbctl_as(&msbctl, &daemon.socket, NOBODY, NOBODY, &["health"]);
    assert_eq!(blocked.code, 3, "{blocked:?}");
    assert!(blocked.stderr.contains("permission denied"), "{blocked:?}");
    open_the_way(&daemon, 0o666);
    let refused = msbctl_as(&msbctl, &daemon.socket, NOBODY, NOBODY, &["health"]);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains(&format!("uid {NOBODY} may not use msbd")),
        "{refused:?}"
    );
    daemon.finish();
}

/// Connects and shakes hands as the calling thread's credentials; returns the connection
/// and whether msbd welcomed it.
fn handshake(socket: &Path) -> (UnixStream, bool) {
    let mut stream = UnixStream::connect(socket).expect("connect");
    let hello = Hello {
        protocol: PROTOCOL,
        client: "door-test".into(),
    };
    stream
        .write_all(&encode(&hello).expect("encode"))
        .expect("send hello");
    let mut len = [0u8; 4];
    if stream.read_exact(&mut len).is_err() {
        return (stream, false);
    }
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).expect("the handshake reply");
    let welcomed = matches!(decode(&body), Ok(HandshakeReply::Welcome(_)));
    (stream, welcomed)
}

#[test]
fn idle_connections_of_one_uid_do_not_lock_out_another() {
    let daemon = Daemon::start(&["--socket-group", &NOBODY.to_string()]);
    std::fs::set_permissions(daemon.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let socket = daemon.socket.clone();
    // 300 connections that shake hands and then say nothing, from the group's member.
    let held = std::thread::spawn(move || {
        // Only this thread takes the other identity (the raw calls, unlike libc's, change
        // one thread), so connect() carries its credentials.
        // SAFETY: setresgid/setresuid take plain ids and change this thread's credentials.
        unsafe {
            assert_eq!(
                nix::libc::syscall(nix::libc::SYS_setgroups, 0, std::ptr::null::<u32>()),
                0
            );
            assert_eq!(
                nix::libc::syscall(nix::libc::SYS_setresgid, NOBODY, NOBODY, NOBODY),
                0
            );
            assert_eq!(
                nix::libc::syscall(nix::libc::SYS_setresuid, NOBODY, NOBODY, NOBODY),
                0
            );
        }
        (0..300).map(|_| handshake(&socket)).collect::<Vec<_>>()
    })
    .join()
    .expect("the idle clients");
    let welcomed = held.iter().filter(|(_, welcomed)| *welcomed).count();
    assert_eq!(
        welcomed, 64,
        "one uid holds at most --max-connections-per-uid connections"
    );
    let started = Instant::now();
    let health = daemon.ctl(&["health"]);
    let took = started.elapsed();
    eprintln!("health answered in {took:?} beside 300 idle connections of another uid");
    assert_eq!(health.code, 0, "{health:?}");
    assert!(took < Duration::from_secs(5), "health took {took:?}");
    drop(held);
    daemon.finish();
}

#[test]
fn idle_and_half_sent_connections_are_closed_and_the_client_reconnects() {
    let daemon = Daemon::start(&["--idle-timeout", "1s"]);
    // A client that shakes hands and idles is closed by msbd.
    let (mut idle, welcomed) = handshake(&daemon.socket);
    assert!(welcomed);
    idle.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    assert_eq!(
        idle.read(&mut byte).expect("closed, not timed out"),
        0,
        "closed by msbd"
    );
    // A frame begun and never finished does not hold a reader forever, however long the
    // idle timeout.
    let patient = Daemon::start(&[]);
    let (mut half, welcomed) = handshake(&patient.socket);
    assert!(welcomed);
    let started = Instant::now();
    half.write_all(&[0, 0]).expect("half a length");
    half.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    assert_eq!(half.read(&mut byte).expect("closed, not timed out"), 0);
    eprintln!(
        "a half-sent frame was dropped after {:?}",
        started.elapsed()
    );
    patient.finish();
    // The async client replaces a connection msbd closed as idle, without the caller noticing.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut client = Client::connect(&daemon.socket, "door-test")
            .await
            .expect("connect");
        client.health().await.expect("health");
        let log_closed = || daemon.log().matches("idle connection closed").count();
        let before = log_closed();
        wait_until("msbd to close the idle client", || {
            (log_closed() > before).then_some(())
        });
        client
            .health()
            .await
            .expect("health after msbd closed the idle connection");
    });
    daemon.finish();
}

#[test]
fn a_session_is_used_only_by_its_owner_root_and_msbd() {
    let daemon = Daemon::start(&["--socket-group", &NOBODY.to_string()]);
    std::fs::set_permissions(daemon.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let msbctl = public_msbctl(&daemon);
    let as_member = |args: &[&str]| msbctl_as(&msbctl, &daemon.socket, NOBODY, NOBODY, args);
    assert_eq!(daemon.ctl(&["sessions", "create", "--id", "roots"]).code, 0);
    let made = as_member(&["--json", "sessions", "create", "--id", "theirs"]);
    assert_eq!(made.code, 0, "{made:?}");
    assert_eq!(made.json()["owner"], NOBODY, "{made:?}");
    for args in [
        &["sessions", "exec", "roots", "--", "true"][..],
        &["sessions", "stop", "roots"],
        &["sessions", "busy", "roots"],
        &["sessions", "create", "--id", "roots"],
    ] {
        let refused = as_member(args);
        assert_eq!(refused.code, 1, "{args:?}: {refused:?}");
        assert!(
            refused.stderr.contains("belongs to uid 0")
                && refused.stderr.contains(&format!("uid {NOBODY}")),
            "{args:?}: {refused:?}"
        );
    }
    let json = as_member(&["--json", "sessions", "stop", "roots"]);
    assert_eq!(
        json.json()["error"]["code"],
        "permission_denied",
        "{json:?}"
    );
    let own = as_member(&["sessions", "exec", "theirs", "--", "echo", "mine"]);
    assert_eq!((own.code, own.stdout.as_str()), (0, "mine\n"), "{own:?}");
    let listed = as_member(&["--json", "sessions", "list"]);
    assert_eq!(
        listed.json().as_array().map(Vec::len),
        Some(2),
        "everyone may list"
    );
    let by_root = daemon.ctl(&["sessions", "exec", "theirs", "--", "true"]);
    assert_eq!(by_root.code, 0, "root may use any session: {by_root:?}");
    assert_eq!(
        daemon.json(&["sessions", "show", "roots"])["status"],
        "ready",
        "untouched"
    );
    daemon.finish();
}
