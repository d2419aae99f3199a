//! msbctl on its own: an unreachable daemon, usage errors, and completion scripts.

use msb_tests::{bin, msbctl, Daemon};
use std::path::Path;
use std::time::{Duration, Instant};

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

/// What bash's completion of msbctl offers for `words` (the last one being completed), with
/// the committed script sourced as a user's shell sources it.
fn complete(words: &[&str]) -> (Vec<String>, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../completions/msbctl.bash");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = format!(
        "source '{}'\n\
         spec=$(complete -p msbctl); fn=${{spec##*-F }}; fn=${{fn%% *}}\n\
         COMP_WORDS=({}); COMP_CWORD={}\n\
         \"$fn\" \"${{COMP_WORDS[0]}}\" \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1
    );
    let output = std::process::Command::new("bash")
        .args(["-c", &line])
        .env_remove("MSB_SOCKET")
        .output()
        .expect("run bash");
    assert!(output.status.success(), "{output:?}");
    let offered = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    (
        offered,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bash_completes_session_ids_and_task_names_from_the_running_daemon() {
    let daemon = Daemon::start(&[]);
    daemon.json(&["sessions", "create", "--id", "tab-1"]);
    daemon.json(&["sessions", "create", "--id", "tab-2"]);
    let msbctl = bin("msbctl");
    let msbctl = msbctl.to_str().expect("utf-8 path");
    let socket = daemon.socket.clone();
    let socket = socket.to_str().expect("utf-8 path");
    let (ids, _) = complete(&[msbctl, "--socket", socket, "sessions", "exec", ""]);
    assert_eq!(ids, ["tab-1", "tab-2"], "every live session");
    let (ids, _) = complete(&[msbctl, "--socket", socket, "sessions", "show", "tab-2"]);
    assert_eq!(ids, ["tab-2"], "those the word begins");
    let (ids, _) = complete(&[
        msbctl, "--socket", socket, "sessions", "logs", "--tail", "5", "t",
    ]);
    assert_eq!(ids, ["tab-1", "tab-2"], "after options and their values");
    let (after, _) = complete(&[msbctl, "--socket", socket, "sessions", "exec", "tab-1", ""]);
    assert!(!after.iter().any(|w| w.starts_with("tab-")), "{after:?}");
    let (tasks, _) = complete(&[msbctl, "--socket", socket, "pause", ""]);
    for task in ["session-cleanup", "orphan-cleanup"] {
        assert!(tasks.iter().any(|w| w == task), "{tasks:?}");
    }
    daemon.finish();

    // With msbd down: no ids, no noise, no wait.
    let started = Instant::now();
    let (ids, noise) = complete(&[msbctl, "--socket", socket, "sessions", "exec", "t"]);
    assert!(ids.is_empty(), "{ids:?}");
    assert_eq!(noise, "");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
