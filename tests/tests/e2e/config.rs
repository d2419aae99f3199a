//! The config file: its place under the environment and the flags, `msbd --check-config`,
//! `msbctl config`, bad values named as the user wrote them, the sample in `contrib/`, and
//! reloads on SIGHUP.

use msb_tests::{bin, Daemon};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory with a config file, for runs of msbd that are not meant to serve.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new(config: &str) -> Self {
        let scratch = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::write(scratch.file(), config).expect("write the config file");
        scratch
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("msbd.toml")
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run").join("msbd.sock")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Runs msbd with `args` and the variables `env` on this directory's socket, state dir
    /// and config file, and waits for it to exit; returns its code, stdout and stderr.
    fn msbd(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let output = Command::new(bin("msbd"))
            .arg("--socket")
            .arg(self.socket())
            .arg("--state-dir")
            .arg(self.state())
            .args(args)
            .env("MSB_CONFIG", self.file())
            .envs(env.iter().copied())
            .output()
            .expect("run msbd");
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (
            output.status.code().unwrap_or(-1),
            text(&output.stdout),
            text(&output.stderr),
        )
    }

    /// `msbd --check-config`: each setting's name, value and source, in order.
    fn check(&self, args: &[&str], env: &[(&str, &str)]) -> Vec<(String, String, String)> {
        let mut all = vec!["--check-config"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = self.msbd(&all, env);
        assert_eq!(code, 0, "--check-config failed: {stderr}");
        self.assert_nothing_made();
        rows(&stdout)
    }

    fn assert_nothing_made(&self) {
        assert!(!self.socket().exists(), "the socket was bound");
        assert!(!self.state().exists(), "the state dir was made");
    }
}

/// The rows of `--check-config`'s table, after its header.
fn rows(table: &str) -> Vec<(String, String, String)> {
    table
        .lines()
        .skip_while(|line| !line.starts_with("NAME"))
        .skip(1)
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (name, rest) = words.split_first()?;
            let (source, value) = rest.split_last()?;
            Some((name.to_string(), value.join(" "), source.to_string()))
        })
        .collect()
}

fn row<'a>(rows: &'a [(String, String, String)], name: &str) -> (&'a str, &'a str) {
    rows.iter()
        .find(|(n, ..)| n == name)
        .map(|(_, value, source)| (value.as_str(), source.as_str()))
        .unwrap_or_else(|| panic!("no {name} in {rows:?}"))
}

/// One setting of `msbctl config --json`: its value and source.
fn setting(config: &Value, name: &str) -> (String, String) {
    let found = config["settings"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no setting {name} in {config}"));
    (
        found["value"].as_str().unwrap_or("null").to_string(),
        found["source"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn a_file_sets_the_session_timeout_the_environment_overrides_it_and_a_flag_overrides_both() {
    let scratch = Scratch::new("session_timeout = \"45s\"\n");
    let from_file = scratch.check(&[], &[]);
    assert_eq!(row(&from_file, "session_timeout"), ("45s", "file"));
    assert_eq!(row(&from_file, "cleanup_interval"), ("1m", "default"));
    let env = [("MSB_SESSION_TIMEOUT", "50s")];
    assert_eq!(
        row(&scratch.check(&[], &env), "session_timeout"),
        ("50s", "env")
    );
    let flag = scratch.check(&["--session-timeout", "55s"], &env);
    assert_eq!(row(&flag, "session_timeout"), ("55s", "flag"));

    // The running daemon says the same, and works by it.
    let daemon = Daemon::start_with(
        &["--cleanup-interval", "7s"],
        |d| {
            d.write_config(
                "session_timeout = \"45s\"\nmax_sessions = 7\ncleanup_interval = \"9s\"\n",
            )
        },
        |cmd| {
            cmd.env("MSB_MAX_SESSIONS", "8")
                .env("MSB_CLEANUP_INTERVAL", "8s");
        },
    );
    let config = daemon.json(&["config"]);
    assert_eq!(config["file"], daemon.config_file().display().to_string());
    assert_eq!(config["found"], true);
    assert_eq!(
        setting(&config, "session_timeout"),
        ("45s".into(), "file".into())
    );
    assert_eq!(setting(&config, "max_sessions"), ("8".into(), "env".into()));
    assert_eq!(
        setting(&config, "cleanup_interval"),
        ("7s".into(), "flag".into())
    );
    assert_eq!(
        setting(&config, "stall_after"),
        ("5m".into(), "default".into())
    );
    assert_eq!(
        setting(&config, "socket_group"),
        ("null".into(), "default".into())
    );
    let table = daemon.ctl(&["config"]);
    assert_eq!(table.code, 0, "{table:?}");
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["session_timeout", "45s", "file"]),
        "{}",
        table.stdout
    );
    let status = daemon.status();
    assert_eq!(status["sessions"]["max"], 8);
    assert_eq!(daemon.task("session-cleanup")["interval_secs"], 7.0);
    let created = daemon.json(&["sessions", "create", "--id", "timed"]);
    let left = created["expires_in_secs"]
        .as_u64()
        .expect("expires_in_secs");
    assert!(
        (40..=45).contains(&left),
        "the file's 45s timeout: {created}"
    );
    daemon.finish();
}

#[test]
fn a_bad_value_in_each_place_exits_78_before_binding_naming_it_as_written() {
    for (file, args, env, needles) in [
        (
            "session_timeout = \"0s\"",
            &[][..],
            &[][..],
            &["msbd.toml: session_timeout '0s'", "at least 1s"][..],
        ),
        (
            "",
            &[],
            &[("MSB_SESSION_TIMEOUT", "forever")][..],
            &["MSB_SESSION_TIMEOUT 'forever'", "500ms"],
        ),
        (
            "",
            &["--cleanup-interval", "0s"],
            &[],
            &["--cleanup-interval '0s'", "at least 100ms"],
        ),
        (
            "",
            &["--max-sessions", "-1"],
            &[],
            &["--max-sessions '-1'", "whole number"],
        ),
        (
            "max_sessions = -1",
            &[],
            &[],
            &["msbd.toml: max_sessions '-1'"],
        ),
        (
            "sesion_timeout = \"1m\"",
            &[],
            &[],
            &["msbd.toml: unknown key 'sesion_timeout'", "session_timeout"],
        ),
        (
            "[templates.py]\ncommand = \"python3\"\nnetwork = \"bridge\"",
            &[],
            &[],
            &[
                "msbd.toml: templates.py.network 'bridge'",
                "host or loopback",
            ],
        ),
        (
            "",
            &["--config", "/nonexistent/msbd.toml"],
            &[],
            &["--config '/nonexistent/msbd.toml'"],
        ),
    ] {
        let scratch = Scratch::new(file);
        let (code, _, stderr) = scratch.msbd(args, env);
        assert_eq!(code, 78, "{file:?} {args:?} {env:?}: {stderr}");
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{file:?} {args:?} {env:?} does not say {needle:?}: {stderr}"
            );
        }
        assert!(!stderr.contains("0ns"), "the value as typed: {stderr}");
        scratch.assert_nothing_made();
        let mut check = vec!["--check-config"];
        check.extend_from_slice(args);
        let (code, stdout, checked) = scratch.msbd(&check, env);
        assert_eq!(
            (code, checked.as_str()),
            (78, stderr.as_str()),
            "--check-config says the same"
        );
        assert!(stdout.is_empty(), "{stdout}");
    }
}

#[test]
fn check_config_shows_every_setting_and_binds_nothing() {
    let scratch = Scratch::new("[templates.py]\ncommand = \"python3 -\"\nuser = \"root\"\n");
    let rows = scratch.check(&["--language", "ruby=ruby -"], &[]);
    assert_eq!(rows.first().map(|r| r.0.as_str()), Some("socket"));
    assert_eq!(row(&rows, "socket").1, "flag");
    assert_eq!(row(&rows, "templates.py.command"), ("python3 -", "file"));
    assert_eq!(row(&rows, "templates.py.user"), ("root", "file"));
    assert_eq!(row(&rows, "languages.ruby"), ("ruby -", "flag"));
    assert_eq!(row(&rows, "languages.python"), ("python3 -", "default"));
    assert_eq!(row(&rows, "socket_group"), ("-", "default"));
}

#[test]
fn the_sample_config_documents_every_setting_with_its_default() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/msbd.toml");
    let text = std::fs::read_to_string(&sample).expect("contrib/msbd.toml");
    let defaults = Scratch::new("").check(&[], &[]);
    let shipped = Scratch::new(&text).check(&[], &[]);
    let sources = |rows: &[(String, String, String)]| {
        rows.iter()
            .map(|(name, _, source)| (name.clone(), source.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sources(&shipped),
        sources(&defaults),
        "as shipped, every line is a comment"
    );

    // Every example and default, uncommented, is a valid configuration...
    let is_setting = |line: &str| {
        line.strip_prefix("# ").is_some_and(|rest| {
            rest.starts_with('[')
                || rest.split_once(" = ").is_some_and(|(key, _)| {
                    key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                })
        })
    };
    // ...but for the group, which must exist on the host.
    let uncommented: String = text
        .lines()
        .filter(|line| !line.starts_with("# socket_group = "))
        .map(|line| if is_setting(line) { &line[2..] } else { line })
        .map(|line| format!("{line}\n"))
        .collect();
    let all = Scratch::new(&uncommented).check(&[], &[]);
    for (name, value, source) in defaults
        .iter()
        .filter(|(n, ..)| !n.starts_with("languages."))
    {
        assert!(
            text.contains(&format!("# {name} = ")),
            "the sample does not show {name}"
        );
        // The host's own defaults are shown by example.
        if [
            "socket",
            "state_dir",
            "max_total_memory_mb",
            "socket_group",
            "metrics_listen",
        ]
        .contains(&name.as_str())
        {
            continue;
        }
        assert_eq!(source, "default");
        assert_eq!(
            row(&all, name),
            (value.as_str(), "file"),
            "the sample's {name} is not its default"
        );
    }
    assert_eq!(row(&all, "templates.py.mounts").1, "file");
    assert_eq!(row(&all, "languages.ruby").1, "file");
}

fn names(changes: &Value) -> Vec<String> {
    changes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect()
}

#[test]
fn sighup_applies_a_changed_file_and_keeps_the_old_config_when_the_new_one_is_bad() {
    let mut daemon = Daemon::start_with(
        &[],
        |d| d.write_config("cleanup_interval = \"60s\"\n"),
        |_| {},
    );
    assert_eq!(daemon.task("session-cleanup")["interval_secs"], 60.0);
    let before = daemon.status()["config"].clone();
    assert_eq!(before["reloads"], 0);
    assert_eq!(before["file"], daemon.config_file().display().to_string());

    daemon.write_config(
        "cleanup_interval = \"1s\"\nuid_range = \"200000:65536\"\n\
         [templates.later]\ncommand = \"sleep 1000\"\n",
    );
    daemon.hangup();
    let status = daemon.wait_status("the reload", |s| s["config"]["reloads"] == 1);
    let config = &status["config"];
    assert_eq!(
        names(&config["changed"]),
        ["cleanup_interval", "templates.later.command"]
    );
    assert_eq!(config["changed"][0]["from"], "1m");
    assert_eq!(config["changed"][0]["to"], "1s");
    assert_eq!(names(&config["needs_restart"]), ["uid_range"]);
    assert_eq!(config["last_error"], Value::Null);
    let task = status["tasks"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["name"] == "session-cleanup"))
        .cloned()
        .expect("session-cleanup");
    assert_eq!(task["interval_secs"], 1.0);
    // The task runs by the new interval, not at the old one's next turn.
    let cycles = task["cycles"].as_u64().expect("cycles");
    daemon.wait_task("session-cleanup", "two more cycles", |t| {
        t["cycles"].as_u64().is_some_and(|n| n >= cycles + 2)
    });
    let config = daemon.json(&["config"]);
    assert_eq!(
        setting(&config, "uid_range"),
        ("100000:65536".into(), "default".into())
    );
    let created = daemon.json(&["sessions", "create", "--template", "later", "--id", "later"]);
    assert_eq!(created["template"], "later");
    assert!(
        daemon.log().contains("setting needs a restart"),
        "{}",
        daemon.log()
    );

    daemon.write_config("cleanup_interval = \"0s\"\n");
    daemon.hangup();
    let status = daemon.wait_status("the refused reload", |s| {
        !s["config"]["last_error"].is_null()
    });
    let error = status["config"]["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("msbd.toml: cleanup_interval '0s'"),
        "{error}"
    );
    assert_eq!(status["config"]["reloads"], 1);
    assert_eq!(daemon.task("session-cleanup")["interval_secs"], 1.0);
    let log = daemon.log();
    assert!(
        log.contains("configuration not reloaded") && log.contains("cleanup_interval '0s'"),
        "{log}"
    );
    // A reload that goes through clears the error.
    daemon.write_config("cleanup_interval = \"2s\"\n[templates.later]\ncommand = \"sleep 1000\"\n");
    daemon.hangup();
    let status = daemon.wait_status("the next reload", |s| s["config"]["reloads"] == 2);
    assert_eq!(status["config"]["last_error"], Value::Null);
    assert!(daemon.running());
    daemon.finish();
}
