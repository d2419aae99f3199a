//! msbctl on its own: an unreachable daemon, usage errors, and completion scripts.

use msb_tests::{bin, msbctl};
use std::path::Path;

#[test]
fn without_a_daemon_status_and_health_exit_3_and_say_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("nobody.sock");
    for command in ["status", "health"] {
        let run = msbctl(&socket, &[command]);
        assert_eq!(run.code, 3, "{command}: {run:?}");
        assert!(
            run.stderr.contains(&socket.display().to_string()),
            "{command} names the socket: {run:?}"
        );
        assert!(
            run.stderr.contains("msbd --socket"),
            "{command} says how to start msbd: {run:?}"
        );
    }
    let json = msbctl(&socket, &["--json", "status"]);
    assert_eq!(json.code, 3);
    assert_eq!(json.json()["error"]["code"], "unreachable");
    let version = msbctl(&socket, &["version"]);
    assert_eq!(version.code, 3);
    assert!(version.stdout.starts_with("msbctl "), "{version:?}");
}

#[test]
fn usage_errors_exit_2() {
    let socket = Path::new("/nonexistent/msbd.sock");
    let run = msbctl(socket, &["pause", "no-such-task"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("session-cleanup"),
        "lists the allowed tasks: {run:?}"
    );
    assert_eq!(msbctl(socket, &["stop", "--timeout", "soon"]).code, 2);
    assert_eq!(msbctl(socket, &["frobnicate"]).code, 2);
}

#[test]
fn completion_scripts_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("completions");
    for (shell, file) in [
        ("bash", "msbctl.bash"),
        ("zsh", "_msbctl"),
        ("fish", "msbctl.fish"),
    ] {
        let output = std::process::Command::new(bin("msbctl"))
            .args(["completions", shell])
            .output()
            .expect("run msbctl completions");
        assert!(output.status.success());
        assert!(!output.stdout.is_empty());
        let committed = std::fs::read(root.join(file)).unwrap_or_default();
        assert!(
            committed == output.stdout,
            "completions/{file} is stale: regenerate with `msbctl completions {shell} > completions/{file}`"
        );
    }
}
