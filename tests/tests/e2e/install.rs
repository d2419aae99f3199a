//! Install and first run: contrib/install.sh puts the binaries, completions, man pages,
//! units and sample config where the system expects them; the installed msbd and msbctl
//! work in a clean shell with nothing else on PATH; `msbctl wait` tells a script when msbd
//! is ready.

use msb_tests::{bin, Daemon};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs contrib/install.sh with `args` into `destdir`; returns what it printed.
fn install(destdir: &Path, args: &[&str]) -> String {
    let output = Command::new("sh")
        .arg(repo().join("contrib/install.sh"))
        .args(args)
        .env("DESTDIR", destdir)
        .output()
        .expect("run install.sh");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "install.sh {args:?}: {printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    printed
}

/// Asserts `path` under `root` is a copy of the repository's `source`.
fn installed(root: &Path, path: &str, source: &Path) {
    let copy = std::fs::read(root.join(path.trim_start_matches('/')))
        .unwrap_or_else(|e| panic!("{path} is not installed: {e}"));
    let original = std::fs::read(source).expect("the original");
    assert!(copy == original, "{path} differs from {}", source.display());
}

#[test]
fn installed_msbd_and_msbctl_work_in_a_clean_shell() {
    let dest = tempfile::tempdir().expect("tempdir");
    let root = dest.path().join("root");
    let built = bin("msbd").parent().expect("target dir").to_path_buf();
    install(
        &root,
        &[
            "--prefix",
            "/usr/local",
            "--bindir-from",
            &built.to_string_lossy(),
        ],
    );

    let prefix = root.join("usr/local");
    for name in ["msbd", "msbctl"] {
        installed(&root, &format!("/usr/local/bin/{name}"), &bin(name));
        let mode = std::fs::metadata(prefix.join("bin").join(name))
            .expect("binary")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "{name}");
    }
    let repo = repo();
    for (path, source) in [
        (
            "/usr/local/share/bash-completion/completions/msbctl",
            "completions/msbctl.bash",
        ),
        (
            "/usr/local/share/zsh/site-functions/_msbctl",
            "completions/_msbctl",
        ),
        (
            "/usr/local/share/fish/vendor_completions.d/msbctl.fish",
            "completions/msbctl.fish",
        ),
        (
            "/usr/local/lib/systemd/system/msbd.service",
            "contrib/systemd/msbd.service",
        ),
        (
            "/usr/local/lib/systemd/system/msbd.socket",
            "contrib/systemd/msbd.socket",
        ),
        (
            "/usr/local/lib/tmpfiles.d/msbd.conf",
            "contrib/systemd/msbd.tmpfiles",
        ),
        (
            "/usr/local/lib/sysusers.d/msbd.conf",
            "contrib/systemd/msbd.sysusers",
        ),
    ] {
        installed(&root, path, &repo.join(source));
    }
    // Every man page there is (NAME.1 to NAME.8), in its section.
    for page in std::fs::read_dir(repo.join("man"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = page.file_name().to_string_lossy().into_owned();
        let section = name.rsplit_once('.').map(|(_, s)| s).unwrap_or_default();
        if matches!(section, "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8") {
            installed(
                &root,
                &format!("/usr/local/share/man/man{section}/{name}"),
                &page.path(),
            );
        }
    }
    let sample = repo.join("contrib/msbd.toml");
    if sample.exists() {
        installed(&root, "/etc/msbd/msbd.toml", &sample);
    }

    // Another prefix: the unit names the msbd installed there; an operator's config stays.
    let config = root.join("etc/msbd/msbd.toml");
    std::fs::create_dir_all(config.parent().expect("etc/msbd")).expect("etc/msbd");
    std::fs::write(&config, "# the operator's own\n").expect("config");
    install(&root, &["--prefix=/opt/msb"]);
    let unit = std::fs::read_to_string(root.join("opt/msb/lib/systemd/system/msbd.service"))
        .expect("unit");
    assert!(unit.contains("\nExecStart=/opt/msb/bin/msbd\n"), "{unit}");
    assert_eq!(
        std::fs::read_to_string(&config).expect("config"),
        "# the operator's own\n"
    );

    // The first run of the README, in a shell that has only the installed binaries.
    let tour = dest.path().join("tour");
    let script = r#"
        export MSB_SOCKET="$1/msbd.sock"
        msbd --state-dir "$1/state" 2>"$1/msbd.log" &
        pid=$!
        msbctl wait && msbctl status
        rc=$?
        msbctl stop >/dev/null 2>&1 || kill "$pid"
        wait "$pid"
        exit "$rc"
    "#;
    std::fs::create_dir_all(&tour).expect("tour dir");
    let output = Command::new("/bin/sh")
        .args(["-c", script, "sh"])
        .arg(&tour)
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", prefix.join("bin").display()),
        )
        .output()
        .expect("run the first steps");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("session-cleanup"),
        "msbctl wait && msbctl status: {stdout}{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(tour.join("msbd.log")).unwrap_or_default()
    );
}

#[test]
fn wait_returns_once_each_task_has_run_and_3_at_the_deadline() {
    let mut daemon = Daemon::unstarted();
    let early = daemon.ctl(&["--json", "wait", "--timeout", "300ms"]);
    assert_eq!(early.code, 3, "{early:?}");
    let error = early.json();
    assert_eq!(error["error"]["code"], "not_ready");
    assert_eq!(
        error["error"]["socket"],
        daemon.socket.display().to_string(),
        "names the socket"
    );

    let cmd = daemon.command(&[]);
    daemon.launch_unwaited(cmd);
    let ready = daemon.ctl(&["--json", "wait", "--timeout", "30s"]);
    assert_eq!(ready.code, 0, "{ready:?}");
    assert_eq!(ready.json()["daemon"]["pid"], daemon.pid());
    // Ready means every task's first cycle has run.
    let status = daemon.status();
    for task in status["tasks"].as_array().expect("tasks") {
        assert!(!task["last_cycle"].is_null(), "{task}");
    }
    daemon.finish();
}
