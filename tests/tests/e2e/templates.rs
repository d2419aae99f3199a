//! Who runs inside, and what a template opens on purpose: commands run as the sandbox's
//! ordinary user with no capability, unless a template's options ask for root, the host's
//! network or a bind mount; each option opens only what it names, and msbd's own socket,
//! bound in on purpose, still refuses the sandbox by its credentials.

use crate::jail::{owner, sh, workdir};
use msb_tests::Daemon;
use std::cell::RefCell;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// The uid range these tests give msbd, apart from the other tests'.
const UID_RANGE: &str = "210000:1000";
const UIDS: std::ops::Range<u32> = 210_000..211_000;
/// A template whose command keeps running, so the sandbox has one of its own.
const SLEEPER: &str = "sleeper=sleep 600";

fn create(daemon: &Daemon, id: &str, template: &str) {
    let created = daemon.ctl(&["sessions", "create", "--id", id, "--template", template]);
    assert_eq!(created.code, 0, "{created:?}");
}

/// The interfaces listed in a /proc/net/dev.
fn interfaces(dev: &str) -> Vec<String> {
    dev.lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|name| name.trim().to_string())
        .collect()
}

#[test]
fn commands_run_as_an_ordinary_user_without_capabilities() {
    let daemon = Daemon::start(&["--uid-range", UID_RANGE, "--template", SLEEPER]);
    if !daemon.jailed() {
        daemon.finish();
        return;
    }
    create(&daemon, "u", "sleeper");
    let who = sh(
        &daemon,
        "u",
        "id -u; id -g; id -un; whoami; grep -E '^Cap(Inh|Prm|Eff|Amb)' /proc/self/status; \
         awk '/^Uid/ {print \"own=\" $2}' /proc/2/status",
    );
    assert_eq!(who.code, 0, "{who:?}");
    let lines: Vec<&str> = who.stdout.lines().collect();
    assert_eq!(
        lines[..4],
        ["1000", "1000", "sandbox", "sandbox"],
        "{who:?}"
    );
    for cap in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert!(
            lines.contains(&format!("{cap}:\t0000000000000000").as_str()),
            "{cap} is empty: {who:?}"
        );
    }
    assert!(
        lines.contains(&"own=1000"),
        "the template's own command is the user too: {who:?}"
    );

    let home = workdir(&daemon, "u");
    let user = owner(&home);
    assert!(UIDS.contains(&user), "/work belongs to {user}");
    let written = sh(&daemon, "u", "echo mine > mine");
    assert_eq!(written.code, 0, "{written:?}");
    assert_eq!(owner(&home.join("mine")), user, "written as the user");
    let local = daemon.dir.path().join("in.txt");
    std::fs::write(&local, b"in").expect("write");
    let copied = daemon.ctl(&["sessions", "cp", &local.display().to_string(), "u:copied"]);
    assert_eq!(copied.code, 0, "{copied:?}");
    assert_eq!(owner(&home.join("copied")), user, "copied in as the user");
    daemon.finish();
}

/// A daemon whose `sleeper` template has `option`, where sandboxes are jailed; `None` (the
/// skip said) where they are not.
fn sleeper_with(option: &str) -> Option<Daemon> {
    let daemon = Daemon::start(&[
        "--uid-range",
        UID_RANGE,
        "--template",
        SLEEPER,
        "--template-option",
        option,
    ]);
    if daemon.jailed() {
        Some(daemon)
    } else {
        daemon.finish();
        None
    }
}

#[test]
fn a_root_template_runs_as_root_inside_with_the_bounded_capabilities() {
    let Some(daemon) = sleeper_with("sleeper:user=root") else {
        return;
    };
    create(&daemon, "r", "sleeper");
    let who = sh(
        &daemon,
        "r",
        "id -u; awk '/^Uid/ {print $2}' /proc/2/status; grep ^CapBnd /proc/self/status; \
         echo root > mine",
    );
    assert_eq!(who.code, 0, "{who:?}");
    let lines: Vec<&str> = who.stdout.lines().collect();
    assert_eq!(lines[..2], ["0", "0"], "{who:?}");
    let bounding = lines
        .get(2)
        .and_then(|l| l.strip_prefix("CapBnd:\t"))
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .expect("CapBnd");
    assert_eq!(bounding & (1 << 21), 0, "no SYS_ADMIN: {bounding:x}");
    // Root's own host uid: the one before the user's, who owns /work.
    let home = workdir(&daemon, "r");
    assert_eq!(owner(&home.join("mine")), owner(&home) - 1);
    daemon.finish();
}

#[test]
fn a_host_network_template_shares_the_hosts_interfaces() {
    let host = interfaces(&std::fs::read_to_string("/proc/net/dev").expect("/proc/net/dev"));
    if host.iter().all(|name| name == "lo") {
        eprintln!("skipped: this host has no interface but lo ({host:?})");
        return;
    }
    let Some(daemon) = sleeper_with("sleeper:network=host") else {
        return;
    };
    create(&daemon, "n", "sleeper");
    create(&daemon, "d", "default");
    let seen = |id: &str| {
        let run = sh(&daemon, id, "cat /proc/net/dev; id -u");
        assert_eq!(run.code, 0, "{run:?}");
        run.stdout
    };
    let shared = seen("n");
    let mut inside = interfaces(&shared);
    assert_eq!(
        inside.pop().as_deref(),
        Some("1000"),
        "still the user: {shared}"
    );
    assert!(
        inside.iter().any(|name| name != "lo"),
        "the host's interfaces: {shared}"
    );
    let own = interfaces(&seen("d"));
    assert_eq!(own, ["lo", "1000"], "the default keeps its own network");
    let isolation = |id: &str| {
        daemon.json(&["sessions", "show", id])["details"]["isolation"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        isolation("n").contains("host network"),
        "{}",
        isolation("n")
    );
    assert!(
        !isolation("d").contains("host network"),
        "{}",
        isolation("d")
    );
    let status = daemon.isolation();
    assert!(status.contains("host network for sleeper"), "{status}");
    daemon.finish();
}

#[test]
fn a_mounted_directory_is_readable_and_read_only() {
    let shared = tempfile::tempdir().expect("tempdir");
    let dir = shared.path().join("data");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("file"), b"shared\n").expect("write");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let option = format!("sleeper:mount={}:/data", dir.display());
    let Some(daemon) = sleeper_with(&option) else {
        return;
    };
    create(&daemon, "m", "sleeper");
    let read = sh(&daemon, "m", "cat /data/file");
    assert_eq!(
        (read.code, read.stdout.as_str()),
        (0, "shared\n"),
        "{read:?}"
    );
    for attack in [
        "echo x > /data/new",
        "echo x >> /data/file",
        "rm /data/file",
    ] {
        let run = sh(&daemon, "m", attack);
        assert_ne!(run.code, 0, "{attack} succeeded: {run:?}");
    }
    assert!(!dir.join("new").exists());
    assert_eq!(std::fs::read(dir.join("file")).expect("read"), b"shared\n");
    // Another template's sandboxes do not see it.
    create(&daemon, "d", "default");
    let absent = sh(&daemon, "d", "test -e /data");
    assert_eq!(absent.code, 1, "{absent:?}");
    daemon.finish();
}

#[test]
fn msbds_socket_bound_in_on_purpose_refuses_the_sandbox() {
    let socket = RefCell::new(PathBuf::new());
    let daemon = Daemon::start_with(
        &["--uid-range", UID_RANGE, "--template", "door=sleep 600"],
        |daemon| *socket.borrow_mut() = daemon.socket.clone(),
        |cmd| {
            cmd.arg("--template-option").arg(format!(
                "door:mount={}:/run/msbd.sock:rw",
                socket.borrow().display()
            ));
        },
    );
    if !daemon.jailed() {
        daemon.finish();
        return;
    }
    create(&daemon, "door", "door");
    // msbctl itself, copied in: the real client, from inside.
    let client = msb_tests::bin("msbctl").display().to_string();
    let copied = daemon.ctl(&["sessions", "cp", &client, "door:msbctl"]);
    assert_eq!(copied.code, 0, "{copied:?}");
    let knock = || sh(&daemon, "door", "./msbctl --socket /run/msbd.sock status");
    // As msbd made it (0600), the socket is not even the sandbox's to connect to.
    let first = knock();
    assert_ne!(first.code, 0, "{first:?}");
    assert!(first.stderr.contains("ermission denied"), "{first:?}");
    // Opened to everyone on purpose: connected, then refused by its credentials.
    std::fs::set_permissions(&daemon.socket, std::fs::Permissions::from_mode(0o666))
        .expect("chmod the socket");
    let second = knock();
    let user = owner(&workdir(&daemon, "door")).to_string();
    assert_ne!(second.code, 0, "{second:?}");
    assert!(second.stdout.is_empty(), "{second:?}");
    assert!(
        second.stderr.contains(&user),
        "refused as uid {user}: {second:?}"
    );
    let log = daemon.log();
    assert!(
        log.lines()
            .any(|l| l.contains("connection refused") && l.contains(&user)),
        "msbd refused uid {user}: {log}"
    );
    daemon.finish();
}
