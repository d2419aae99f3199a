//! A sandbox is a jail: attacks from inside with `sessions exec`, each checked to fail and
//! to leave the host as it was.

use msb_tests::{Daemon, Run};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The size of a sandbox's /tmp, in MiB.
const TMP_LIMIT_MB: u64 = 64;
/// The uid range the tests give msbd.
const UID_RANGE: &str = "200000:1000";
const UIDS: std::ops::Range<u32> = 200_000..201_000;

/// msbd with its sandboxes' uids from `UID_RANGE`.
fn daemon() -> Daemon {
    Daemon::start(&["--uid-range", UID_RANGE])
}

/// The host uid a path belongs to.
pub(crate) fn owner(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .uid()
}

pub(crate) fn sh(daemon: &Daemon, id: &str, script: &str) -> Run {
    daemon.ctl(&["sessions", "exec", id, "--", "sh", "-c", script])
}

/// The host working directory of session `id`.
pub(crate) fn workdir(daemon: &Daemon, id: &str) -> PathBuf {
    let shown = daemon.json(&["sessions", "show", id]);
    PathBuf::from(shown["details"]["workdir"].as_str().expect("workdir"))
}

/// What `ls /` shows in a sandbox on this host: its own directories, and the host's system
/// directories that exist here.
fn expected_root() -> Vec<String> {
    let mut names: Vec<String> = ["usr", "bin", "sbin", "lib", "lib64", "lib32", "opt"]
        .into_iter()
        .filter(|name| {
            std::fs::symlink_metadata(Path::new("/").join(name))
                .is_ok_and(|m| m.is_dir() || m.file_type().is_symlink())
        })
        .chain(["dev", "etc", "proc", "tmp", "work"])
        .map(String::from)
        .collect();
    names.sort();
    names
}

#[test]
fn a_sandbox_sees_its_own_root_and_nothing_of_the_hosts() {
    let daemon = daemon();
    if !daemon.jailed() {
        daemon.finish();
        return;
    }
    for id in ["j1", "j2"] {
        let created = daemon.ctl(&["sessions", "create", "--id", id]);
        assert_eq!(created.code, 0, "{created:?}");
    }
    let other = workdir(&daemon, "j2");
    std::fs::write(other.join("secret"), b"j2's").expect("write");
    let (one, two) = (owner(&workdir(&daemon, "j1")), owner(&other));
    assert!(
        UIDS.contains(&one) && UIDS.contains(&two) && one != two,
        "each sandbox's user is a uid of its own from the range: {one}, {two}"
    );

    let listed = sh(&daemon, "j1", "ls -A /");
    assert_eq!(listed.code, 0, "{listed:?}");
    let mut seen: Vec<String> = listed.stdout.lines().map(String::from).collect();
    seen.sort();
    assert_eq!(seen, expected_root(), "{listed:?}");

    let absent = [
        PathBuf::from("/etc/shadow"),
        PathBuf::from("/etc/ssh"),
        PathBuf::from("/root"),
        PathBuf::from("/home"),
        daemon.state.clone(),
        daemon.socket.clone(),
        other.clone(),
        other.join("secret"),
    ];
    for path in &absent {
        let probe = sh(&daemon, "j1", &format!("test -e '{}'", path.display()));
        assert_eq!(probe.code, 1, "{} exists inside: {probe:?}", path.display());
    }
    let read = sh(&daemon, "j1", "cat /etc/shadow");
    assert_ne!(read.code, 0, "{read:?}");
    assert!(read.stdout.is_empty(), "{read:?}");
    let sibling = sh(&daemon, "j1", "cat ../*/secret /work/../*/secret");
    assert_ne!(sibling.code, 0, "{sibling:?}");
    assert!(!sibling.stdout.contains("j2's"), "{sibling:?}");
    daemon.finish();
}

#[test]
fn a_sandbox_cannot_change_the_hosts_files() {
    let daemon = daemon();
    if !daemon.jailed() {
        daemon.finish();
        return;
    }
    let created = daemon.ctl(&["sessions", "create", "--id", "w"]);
    assert_eq!(created.code, 0, "{created:?}");
    let passwd = std::fs::read("/etc/passwd").expect("read /etc/passwd");
    let planted = format!("/usr/bin/msb-jail-{}", std::process::id());
    let attacks = [
        format!("echo x > {planted}"),
        "echo 'evil:x:0:0::/:/bin/sh' >> /etc/passwd".to_string(),
        "echo x > /etc/msb-jail".to_string(),
        "mkdir /msb-jail".to_string(),
    ];
    for attack in &attacks {
        let run = sh(&daemon, "w", attack);
        assert_ne!(run.code, 0, "{attack} succeeded: {run:?}");
    }
    assert!(!Path::new(&planted).exists(), "{planted} on the host");
    assert_eq!(
        std::fs::read("/etc/passwd").expect("read /etc/passwd"),
        passwd,
        "the host's /etc/passwd changed"
    );
    daemon.finish();
}

#[test]
fn work_is_the_working_directory_and_tmp_is_a_bounded_tmpfs() {
    let daemon = daemon();
    if !daemon.jailed() {
        daemon.finish();
        return;
    }
    let created = daemon.ctl(&["sessions", "create", "--id", "t"]);
    assert_eq!(created.code, 0, "{created:?}");
    let here = sh(&daemon, "t", "pwd; echo $HOME; echo made > made");
    assert_eq!(
        (here.code, here.stdout.as_str()),
        (0, "/work\n/work\n"),
        "{here:?}"
    );
    let host = workdir(&daemon, "t").join("made");
    assert_eq!(std::fs::read_to_string(&host).expect("read"), "made\n");
    let uid = owner(&host);
    assert!(UIDS.contains(&uid), "made by uid {uid}");
    assert_eq!(
        uid,
        owner(&workdir(&daemon, "t")),
        "the sandbox user's own uid"
    );
    let who = sh(&daemon, "t", "id -u; cat /proc/self/uid_map");
    let map: Vec<String> = who.stdout.split_whitespace().map(String::from).collect();
    let root = (uid - 1).to_string();
    assert_eq!(
        map,
        ["1000", "0", &root, "1", "1000", &uid.to_string(), "1"],
        "the command is the sandbox's user; it and root are those uids and nothing else: {who:?}"
    );

    let kind = sh(&daemon, "t", "stat -f -c %T /tmp; stat -c %a /tmp");
    assert_eq!(kind.stdout, "tmpfs\n1777\n", "{kind:?}");
    let filled = sh(
        &daemon,
        "t",
        &format!(
            "dd if=/dev/zero of=/tmp/fill bs=1M count={} 2>/dev/null; echo $?; stat -c %s /tmp/fill",
            TMP_LIMIT_MB * 2
        ),
    );
    let mut lines = filled.stdout.lines();
    assert_ne!(
        lines.next(),
        Some("0"),
        "dd filled twice the limit: {filled:?}"
    );
    let size: u64 = lines.next().and_then(|s| s.parse().ok()).expect("size");
    assert!(
        size <= (TMP_LIMIT_MB + 1) * 1024 * 1024,
        "/tmp took {size} bytes: {filled:?}"
    );
    daemon.finish();
}

#[test]
fn a_sandboxs_uid_is_freed_with_it_and_kept_across_a_restart() {
    // Two uids a sandbox: room for two sandboxes.
    let mut daemon = Daemon::start(&["--uid-range", "300000:4"]);
    if !daemon.jailed() {
        daemon.finish();
        return;
    }
    for id in ["u1", "u2"] {
        let created = daemon.ctl(&["sessions", "create", "--id", id]);
        assert_eq!(created.code, 0, "{created:?}");
    }
    let full = daemon.ctl(&["sessions", "create", "--id", "u3"]);
    assert_ne!(
        full.code, 0,
        "a third sandbox in a range of two pairs: {full:?}"
    );
    assert!(full.stderr.contains("--uid-range"), "{full:?}");
    let first = owner(&workdir(&daemon, "u1"));
    // Adopted sandboxes keep their uids: a restarted msbd gives the next one another.
    let stopped = daemon.ctl(&["stop", "--keep-sandboxes"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    daemon.wait_exit();
    daemon.spawn(&["--uid-range", "300000:4"]);
    let stopped = daemon.ctl(&["sessions", "stop", "u1"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let created = daemon.ctl(&["sessions", "create", "--id", "u3"]);
    assert_eq!(created.code, 0, "{created:?}");
    assert_eq!(owner(&workdir(&daemon, "u3")), first, "u1's uids, freed");
    daemon.finish();
}

#[test]
fn copies_see_the_sandboxs_own_world() {
    let daemon = daemon();
    if !daemon.jailed() {
        daemon.finish();
        return;
    }
    let created = daemon.ctl(&["sessions", "create", "--id", "c"]);
    assert_eq!(created.code, 0, "{created:?}");
    let local = daemon.dir.path().join("local");
    std::fs::create_dir_all(&local).expect("mkdir");
    std::fs::write(local.join("in.txt"), b"in").expect("write");
    let path = |p: &str| local.join(p).display().to_string();
    let cp = |from: &str, to: &str| daemon.ctl(&["sessions", "cp", from, to]);

    // Absolute paths are the sandbox's, relative ones start at /work.
    for (to, inside) in [("c:/work/a.txt", "a.txt"), ("c:b.txt", "/work/b.txt")] {
        let run = cp(&path("in.txt"), to);
        assert_eq!(run.code, 0, "{run:?}");
        let read = sh(&daemon, "c", &format!("cat {inside}"));
        assert_eq!(read.stdout, "in", "{to}: {read:?}");
    }
    let written = sh(&daemon, "c", "echo only-in-tmp > /tmp/t");
    assert_eq!(written.code, 0, "{written:?}");
    let run = cp("c:/tmp/t", &path("t"));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        std::fs::read_to_string(local.join("t")).expect("read"),
        "only-in-tmp\n"
    );
    let run = cp("c:/etc/hostname", &path("hostname"));
    assert_eq!(run.code, 0, "{run:?}");
    let hostname = std::fs::read_to_string(local.join("hostname")).expect("read");
    assert!(
        hostname.starts_with("msb-c-"),
        "the sandbox's own /etc: {hostname}"
    );

    let planted = format!("msb-jail-cp-{}", std::process::id());
    let run = cp(&path("in.txt"), &format!("c:/usr/bin/{planted}"));
    assert_ne!(run.code, 0, "{run:?}");
    assert!(!Path::new("/usr/bin").join(&planted).exists());
    let run = cp("c:/etc/shadow", &path("shadow"));
    assert_ne!(run.code, 0, "{run:?}");
    assert!(!local.join("shadow").exists());
    daemon.finish();
}
