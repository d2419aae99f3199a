//! The store under faults: a full disk, a store file deleted or replaced under msbd, and a
//! second daemon on the same state dir. msbd keeps serving, reports nothing done that was
//! not stored, says the store is degraded, and recovers by itself.

use msb_tests::{procfs, wait_until, Daemon, Run};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A 1 MiB tmpfs mounted for the test's life.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (with the reason printed) where this host does not let us mount one.
    fn mount(at: &Path) -> Option<Self> {
        std::fs::create_dir_all(at).expect("mount point");
        match mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("size=1m,mode=0700"),
        ) {
            Ok(()) => Some(Self(at.to_path_buf())),
            Err(err) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs here ({err}); the full-disk test needs one"
                );
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = umount2(&self.0, MntFlags::MNT_DETACH);
    }
}

/// Fills the file system `file` is on until it has no room left.
fn fill(file: &Path) {
    let mut filler = std::fs::File::create(file).expect("filler");
    let block = [0u8; 4096];
    loop {
        match filler.write_all(&block) {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(nix::libc::ENOSPC) => break,
            Err(err) => panic!("filling the disk: {err}"),
        }
    }
    let _ = filler.sync_all();
}

fn error_of(run: &Run) -> (String, String) {
    assert_eq!(run.code, 1, "{run:?}");
    let error = &run.json()["error"];
    (
        error["code"].as_str().unwrap_or_default().to_string(),
        error["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn a_full_disk_fails_what_must_be_stored_degrades_health_and_recovers_by_itself() {
    // Mounted outside the fixture's directory and unmounted after the daemon is gone.
    let place = tempfile::tempdir().expect("tempdir");
    let Some(mounted) = Tmpfs::mount(&place.path().join("state")) else {
        return;
    };
    let daemon = Daemon::start_with(
        &["--max-total-memory-mb", "0"],
        |daemon| daemon.state = mounted.0.clone(),
        |_| {},
    );
    daemon.json(&["sessions", "create", "--id", "before"]);
    let filler = daemon.state.join("filler");
    fill(&filler);

    let (code, message) = error_of(&daemon.ctl(&["--json", "sessions", "create", "--id", "after"]));
    assert_eq!(code, "store", "{message}");
    assert!(
        message.contains("sessions.db") && message.contains("No space left on device"),
        "names the file and ENOSPC: {message}"
    );
    let (code, _) = error_of(&daemon.ctl(&["--json", "sessions", "busy", "before"]));
    assert_eq!(code, "store");
    assert_eq!(
        daemon.json(&["sessions", "show", "before"])["status"],
        "ready",
        "a busy mark that could not be stored is not taken"
    );
    let (code, message) = error_of(&daemon.ctl(&["--json", "pause", "orphan-cleanup"]));
    assert_eq!(code, "store", "{message}");
    assert_eq!(
        daemon.task("orphan-cleanup")["state"],
        "running",
        "a pause that could not be stored is not taken"
    );
    assert_eq!(daemon.session_ids(&[]), ["before"], "nothing half-made");

    let health = daemon.ctl(&["health"]);
    assert_eq!(health.code, 1, "degraded: {health:?}");
    assert!(health.stdout.contains("store:"), "{health:?}");
    let store = daemon.status()["store"].clone();
    assert_eq!(store["health"], "degraded", "{store}");
    assert!(
        store["error"]
            .as_str()
            .is_some_and(|e| e.contains("No space left")),
        "{store}"
    );

    std::fs::remove_file(&filler).expect("free the space");
    wait_until("the store to recover by itself", || {
        (daemon.ctl(&["health"]).code == 0).then_some(())
    });
    assert_eq!(daemon.status()["store"]["error"], serde_json::Value::Null);
    daemon.json(&["sessions", "create", "--id", "after"]);
    assert_eq!(
        daemon.json(&["sessions", "busy", "before"])["status"],
        "processing"
    );
    let mut ids = daemon.session_ids(&[]);
    ids.sort();
    assert_eq!(ids, ["after", "before"]);
    assert!(
        !daemon.log().contains("panic"),
        "msbd never faulted: {}",
        daemon.log()
    );
    daemon.finish();
}

#[test]
fn a_store_deleted_or_replaced_under_msbd_is_rewritten_and_every_session_survives_a_restart() {
    let mut daemon = Daemon::start(&[]);
    let ids = ["a", "b", "c"];
    for id in ids {
        daemon.json(&["sessions", "create", "--id", id]);
    }
    daemon.json(&["sessions", "busy", "b"]);
    let groups: Vec<u32> = ids.iter().map(|id| daemon.sandbox_group(id)).collect();
    let store = daemon.state.join("sessions.db");
    let rewrites = |daemon: &Daemon| {
        daemon
            .log()
            .matches("the session store was written again from memory")
            .count()
    };

    std::fs::remove_file(&store).expect("delete the store");
    wait_until("the deleted store to be written again", || {
        (rewrites(&daemon) == 1 && store.exists()).then_some(())
    });
    let garbage = daemon.state.join("garbage");
    std::fs::write(&garbage, b"somebody else's file").expect("garbage");
    std::fs::rename(&garbage, &store).expect("replace the store");
    wait_until("the replaced store to be written again", || {
        (rewrites(&daemon) == 2).then_some(())
    });
    assert!(
        std::fs::read(&store).is_ok_and(|bytes| bytes.starts_with(b"SQLite format 3")),
        "a database again"
    );
    assert!(
        daemon.log().contains("deleted or replaced"),
        "{}",
        daemon.log()
    );
    assert_eq!(daemon.status()["store"]["health"], "healthy");

    let run = daemon.ctl(&["stop", "--keep-sandboxes"]);
    assert_eq!(run.code, 0, "{run:?}");
    daemon.wait_exit();
    daemon.spawn(&[]);
    assert_eq!(daemon.status()["sessions"]["adopted"], 3);
    for (id, group) in ids.iter().zip(&groups) {
        assert_eq!(daemon.sandbox_group(id), *group, "{id} kept its sandbox");
        assert!(procfs::alive(*group));
    }
    assert_eq!(
        daemon.json(&["sessions", "show", "b"])["status"],
        "processing"
    );
    daemon.finish();
}

#[test]
fn a_second_daemon_on_the_same_state_dir_is_refused_even_without_its_lock_file() {
    let daemon = Daemon::start(&[]);
    daemon.json(&["sessions", "create", "--id", "mine"]);
    for file in ["msbd.pid", "msbd.lock"] {
        let _ = std::fs::remove_file(daemon.state.join(file));
    }
    let output = std::process::Command::new(msb_tests::bin("msbd"))
        .arg("--socket")
        .arg(daemon.dir.path().join("other.sock"))
        .arg("--state-dir")
        .arg(&daemon.state)
        .env("MSB_ORPHAN_CLEANUP_INTERVAL", "100ms")
        .output()
        .expect("run a second msbd");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("already holds the state dir"), "{stderr}");
    assert!(
        !daemon.session_pids("mine").is_empty(),
        "the first daemon's sandbox is untouched"
    );
    assert_eq!(daemon.session_ids(&[]), ["mine"]);
    daemon.finish();
}
