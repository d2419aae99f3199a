//! Settings: each comes from its flag, else its `MSB_*` variable, else the config file, else
//! its default (`layers`), and is checked into the typed `Config` the rest of the daemon sees
//! (`check`). A bad value stops the daemon before it binds or creates anything, naming the
//! setting as it was given, the value as typed and what is allowed. A reload reads the file
//! again with the environment and flags msbd started with (`Sources`).

mod check;
mod cli;
mod file;
mod layers;
pub mod settings;

pub use cli::{Cli, DaemonArgs, Hidden};
pub use file::ConfigFile;

use crate::admission::SocketGroup;
use crate::backend::msb::MsbSettings;
use crate::backend::process::{IsolationMode, UidRange};
use crate::languages::Languages;
use crate::supervisor::RestartPolicy;
use crate::templates::Templates;
use layers::Layer;
use msb_proto::{ConfigChange, ConfigReport, Flavor, Setting};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Exit status for a configuration error (sysexits' EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

/// The checked settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub backend: BackendChoice,
    pub session_timeout: Duration,
    pub cleanup_interval: Duration,
    pub orphan_cleanup_interval: Duration,
    pub max_sessions: u64,
    pub max_total_memory_mb: Option<u64>,
    pub lru_eviction: bool,
    pub busy_timeout: Duration,
    pub isolation: IsolationMode,
    pub uid_range: UidRange,
    pub default_flavor: Flavor,
    pub shutdown_timeout: Duration,
    pub stop_grace: Duration,
    pub restart_policy: RestartPolicy,
    pub stall_after: Duration,
    pub templates: Templates,
    pub work: WorkLimits,
    pub languages: Languages,
    pub socket_group: Option<SocketGroup>,
    pub max_connections_per_uid: usize,
    pub idle_timeout: Duration,
    pub metrics_listen: Option<SocketAddr>,
    pub event_buffer: usize,
    pub log_format: LogFormat,
    pub enable_fault_injection: bool,
    /// Every effective setting with its source, for `msbctl config` and for telling what a
    /// reload changed.
    pub settings: Vec<Setting>,
    /// Where these came from, to read them again.
    pub sources: Sources,
    /// Whether the config file was there.
    pub file_found: bool,
}

/// The backend sandboxes are made by, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendChoice {
    Process,
    Msb(MsbSettings),
}

/// How msbd's log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, coloured on a terminal (never with NO_COLOR set).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Bounds on the work run in sessions.
#[derive(Debug, Clone, Copy)]
pub struct WorkLimits {
    pub max_execs_per_session: u32,
    /// Bytes kept per stream in collect mode.
    pub collect_limit: u64,
    /// Bytes one copy may move.
    pub copy_limit: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `setting` as the user wrote it: a flag, a variable, or `FILE: key`.
    #[error("invalid {setting} '{value}': {allowed}")]
    Value {
        setting: String,
        value: String,
        allowed: String,
    },
    #[error("{file}: unknown key '{key}'; the keys are: {known}")]
    UnknownKey {
        file: String,
        key: String,
        known: String,
    },
    #[error("cannot use the config file {file}: {error}")]
    File { file: String, error: String },
}

/// Where the settings come from. The flags and the environment are taken once, at start; the
/// file is read on every load, so that a reload sees it as it is now.
#[derive(Debug, Clone)]
pub struct Sources {
    file: ConfigFile,
    env: Layer,
    flags: Layer,
}

impl Sources {
    /// Takes `args` and the `MSB_*` variables (looked up with `var`); refuses a list item
    /// that is not `NAME=COMMAND` (or `NAME:KEY=VALUE`) at once.
    pub fn new(
        config: Option<PathBuf>,
        args: &DaemonArgs,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            file: ConfigFile::choose(config, var("MSB_CONFIG")),
            env: Layer::environment(var)?,
            flags: Layer::flags(&args.settings, &args.lists)?,
        })
    }

    /// Reads the config file and checks every setting.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let (file, found) = self.file.read()?;
        let merged = Layer::merge(&[&Layer::defaults(), &file, &self.env, &self.flags]);
        check::check(&merged, self.clone(), found)
    }
}

impl Config {
    /// Reads the settings again from where they came from: the config file as it is now,
    /// the environment and flags msbd started with.
    pub fn reread(&self) -> Result<Config, ConfigError> {
        self.sources.load()
    }

    /// The config file, whether or not it was there.
    pub fn file(&self) -> &std::path::Path {
        &self.sources.file.path
    }

    pub fn report(&self) -> ConfigReport {
        ConfigReport {
            file: self.file().display().to_string(),
            found: self.file_found,
            settings: self.settings.clone(),
        }
    }

    /// Turns this newly loaded configuration into what a running daemon may apply: the
    /// settings only a restart applies keep `running`'s values. Returns what changed (that
    /// a reload applies) and what only a restart would.
    pub fn applicable(&mut self, running: &Config) -> (Vec<ConfigChange>, Vec<ConfigChange>) {
        let at_start: Vec<String> = settings::ALL
            .iter()
            .filter(|spec| !spec.live)
            .map(|spec| spec.key())
            .collect();
        let (needs_restart, changed) = changes(&running.settings, &self.settings)
            .into_iter()
            .partition(|change| at_start.contains(&change.name));
        self.socket = running.socket.clone();
        self.state_dir = running.state_dir.clone();
        self.backend = running.backend.clone();
        self.isolation = running.isolation;
        self.uid_range = running.uid_range;
        self.socket_group = running.socket_group.clone();
        for setting in &mut self.settings {
            if let Some(kept) = at_start
                .contains(&setting.name)
                .then(|| running.settings.iter().find(|s| s.name == setting.name))
                .flatten()
            {
                *setting = kept.clone();
            }
        }
        (changed, needs_restart)
    }
}

/// The settings whose value differs between `old` and `new`, in `new`'s order, then those
/// only `old` had.
fn changes(old: &[Setting], new: &[Setting]) -> Vec<ConfigChange> {
    let value = |list: &[Setting], name: &str| {
        list.iter()
            .find(|s| s.name == name)
            .and_then(|s| s.value.clone())
    };
    let mut names: Vec<&str> = new.iter().map(|s| s.name.as_str()).collect();
    names.extend(
        old.iter()
            .map(|s| s.name.as_str())
            .filter(|name| !new.iter().any(|s| s.name == *name)),
    );
    names
        .into_iter()
        .filter_map(|name| {
            let (from, to) = (value(old, name), value(new, name));
            (from != to).then(|| ConfigChange {
                name: name.to_string(),
                from,
                to,
            })
        })
        .collect()
}

/// `msbd --check-config`'s table: the file, then NAME VALUE SOURCE, one setting a line.
pub fn render(report: &ConfigReport) -> String {
    let file = if report.found {
        format!("config file: {}\n", report.file)
    } else {
        format!("config file: {} (not there; none read)\n", report.file)
    };
    let rows: Vec<[String; 3]> = std::iter::once(["NAME".into(), "VALUE".into(), "SOURCE".into()])
        .chain(report.settings.iter().map(|s| {
            [
                s.name.clone(),
                s.value.clone().unwrap_or_else(|| "-".into()),
                s.source.to_string(),
            ]
        }))
        .collect();
    let width = |column: usize| rows.iter().map(|row| row[column].chars().count()).max();
    let (name, value) = (width(0).unwrap_or(0), width(1).unwrap_or(0));
    rows.iter().fold(file, |mut out, [n, v, s]| {
        out.push_str(&format!("{n:<name$}  {v:<value$}  {s}\n"));
        out
    })
}

/// This host's memory in MB (MemTotal), the default memory limit; `None` if unknown.
fn host_memory_mb() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn default_state_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "msbd")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("/var/lib/msbd"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use msb_proto::SettingSource;
    use std::collections::HashMap;

    /// Loads the settings from `args`, the variables `env` and the file text `file`.
    fn load(args: &[&str], env: &[(&str, &str)], file: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("msbd.toml");
        std::fs::write(&path, file).expect("write the file");
        let cli = Cli::try_parse_from(std::iter::once("msbd").chain(args.iter().copied()))
            .expect("parse");
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Sources::new(Some(path), &cli.daemon, &|name| env.get(name).cloned())?.load()
    }

    fn setting(config: &Config, name: &str) -> (Option<String>, SettingSource) {
        let s = config
            .settings
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no setting {name}"));
        (s.value.clone(), s.source)
    }

    #[test]
    fn flags_win_over_the_environment_over_the_file_over_the_defaults() {
        let file = "session_timeout = \"45s\"\nmax_sessions = 7\nbusy_timeout = 120\n";
        let config = load(&[], &[], file).expect("file");
        assert_eq!(config.session_timeout, Duration::from_secs(45));
        assert_eq!(
            setting(&config, "session_timeout"),
            (Some("45s".into()), SettingSource::File)
        );
        let env = [("MSB_SESSION_TIMEOUT", "50s"), ("MSB_MAX_SESSIONS", "8")];
        let config = load(&[], &env, file).expect("env");
        assert_eq!(config.session_timeout, Duration::from_secs(50));
        assert_eq!(config.max_sessions, 8);
        let config = load(&["--session-timeout", "55s"], &env, file).expect("flag");
        assert_eq!(config.session_timeout, Duration::from_secs(55));
        assert_eq!(
            setting(&config, "session_timeout"),
            (Some("55s".into()), SettingSource::Flag)
        );
        assert_eq!(
            setting(&config, "max_sessions"),
            (Some("8".into()), SettingSource::Env)
        );
        assert_eq!(
            setting(&config, "busy_timeout"),
            (Some("2m".into()), SettingSource::File)
        );
        assert_eq!(
            setting(&config, "cleanup_interval"),
            (Some("1m".into()), SettingSource::Default)
        );
        assert_eq!(
            setting(&config, "socket_group"),
            (None, SettingSource::Default)
        );
        assert!(config.file_found);
    }

    #[test]
    fn observability_settings_are_checked() {
        let args = ["--metrics-listen", "127.0.0.1:9464", "--log-format", "json"];
        let config = load(&args, &[], "").expect("parse");
        assert_eq!(config.metrics_listen, Some(([127, 0, 0, 1], 9464).into()));
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.event_buffer, 1024);
        let err = load(&["--metrics-listen", "localhost"], &[], "")
            .expect_err("must be refused")
            .to_string();
        assert!(
            err.contains("--metrics-listen") && err.contains("ADDR:PORT"),
            "{err}"
        );
        let err = load(&[], &[("MSB_EVENT_BUFFER", "0")], "")
            .expect_err("must be refused")
            .to_string();
        assert!(
            err.contains("MSB_EVENT_BUFFER") && err.contains("from 1 to 65536"),
            "{err}"
        );
    }

    #[test]
    fn defaults_follow_the_design() {
        let config = load(&[], &[], "").expect("defaults");
        assert_eq!(config.session_timeout, Duration::from_secs(1800));
        assert_eq!(config.cleanup_interval, Duration::from_secs(60));
        assert_eq!(config.orphan_cleanup_interval, Duration::from_secs(600));
        assert_eq!(config.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(config.restart_policy, RestartPolicy::OnFailure);
        assert_eq!(
            config.uid_range,
            UidRange {
                start: 100000,
                count: 65536
            }
        );
        assert!(config.lru_eviction && !config.enable_fault_injection);
        assert!(
            config.max_total_memory_mb.is_some_and(|mb| mb > 0),
            "the host's memory"
        );
        assert!(config.languages.get("python").is_some());
        let unlimited = load(
            &[
                "--max-total-memory-mb",
                "0",
                "--enable-lru-eviction",
                "false",
                "--enable-fault-injection",
            ],
            &[],
            "",
        )
        .expect("parse");
        assert_eq!(unlimited.max_total_memory_mb, None);
        assert!(!unlimited.lru_eviction && unlimited.enable_fault_injection);
    }

    #[test]
    fn a_bad_value_is_named_as_written_with_the_value_as_typed() {
        let refused = |args: &[&str], env: &[(&str, &str)], file: &str| {
            load(args, env, file)
                .expect_err("must be refused")
                .to_string()
        };
        let err = refused(&["--cleanup-interval", "0s"], &[], "");
        assert!(
            err.starts_with("invalid --cleanup-interval '0s': must be at least 100ms"),
            "{err}"
        );
        let err = refused(&["--max-sessions", "-1"], &[], "");
        assert!(err.starts_with("invalid --max-sessions '-1'"), "{err}");
        let err = refused(&[], &[("MSB_SESSION_TIMEOUT", "forever")], "");
        assert!(
            err.starts_with("invalid MSB_SESSION_TIMEOUT 'forever'") && err.contains("500ms"),
            "{err}"
        );
        let err = refused(&[], &[], "session_timeout = \"0s\"");
        assert!(
            err.contains("msbd.toml: session_timeout '0s': must be at least 1s"),
            "{err}"
        );
        let err = refused(&[], &[], "restart_policy = \"sometimes\"");
        assert!(err.contains("on-failure, never"), "{err}");
        let err = refused(&["--uid-range", "0:10"], &[], "");
        assert!(err.contains("--uid-range") && err.contains("root"), "{err}");
        // A flag that is right hides a file that is wrong.
        assert!(load(&["--max-sessions", "3"], &[], "max_sessions = 0").is_ok());
    }

    #[test]
    fn templates_and_their_options_come_from_every_place() {
        let config = load(
            &["--template", "b=sleep 2", "--template-option", "b:user=root"],
            &[("MSB_TEMPLATES", "a=sleep 1\n\n"), ("MSB_TEMPLATE_OPTIONS", "default:network=host")],
            "[templates.c]\ncommand = \"sleep 3\"\nmounts = [\"/srv:/data\"]\n[languages]\nruby = \"ruby -\"",
        )
        .expect("config");
        for name in ["a", "b", "c", "default"] {
            assert!(config.templates.get(name).is_some(), "{name}");
        }
        assert!(config
            .templates
            .get("b")
            .is_some_and(|t| t.options.root_inside));
        assert!(config
            .templates
            .get("default")
            .is_some_and(|t| t.options.host_network));
        assert_eq!(
            setting(&config, "templates.c.mounts"),
            (Some("/srv:/data:ro".into()), SettingSource::File)
        );
        assert_eq!(
            setting(&config, "templates.b.user"),
            (Some("root".into()), SettingSource::Flag)
        );
        assert_eq!(
            setting(&config, "languages.ruby"),
            (Some("ruby -".into()), SettingSource::File)
        );
        assert_eq!(
            setting(&config, "languages.python"),
            (Some("python3 -".into()), SettingSource::Default)
        );
        let err = load(&["--template-option", "nope:user=root"], &[], "")
            .expect_err("an unknown template")
            .to_string();
        assert!(
            err.starts_with("invalid --template-option 'nope:user=root'"),
            "{err}"
        );
        let err = load(&[], &[], "[templates.x]\nuser = \"root\"").expect_err("no command");
        assert!(
            err.to_string()
                .contains("msbd.toml: templates.x.user 'root'"),
            "{err}"
        );
        let err = load(
            &[],
            &[("MSB_TEMPLATE_OPTIONS", "default:mount=/a:/proc")],
            "",
        )
        .expect_err("a mount over /proc");
        assert!(
            err.to_string().starts_with("invalid MSB_TEMPLATE_OPTIONS"),
            "{err}"
        );
    }

    #[test]
    fn a_reload_applies_what_it_may_and_names_what_needs_a_restart() {
        let running = load(&[], &[], "cleanup_interval = \"60s\"").expect("running");
        let mut reloaded = load(
            &[],
            &[],
            "cleanup_interval = \"5s\"\nsocket = \"/elsewhere.sock\"\n[templates.py]\ncommand = \"python3\"",
        )
        .expect("reloaded");
        let (changed, needs_restart) = reloaded.applicable(&running);
        let names = |list: &[ConfigChange]| list.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&changed),
            ["cleanup_interval", "templates.py.command"]
        );
        assert_eq!(changed[0].from.as_deref(), Some("1m"));
        assert_eq!(changed[0].to.as_deref(), Some("5s"));
        assert_eq!(names(&needs_restart), ["socket"]);
        assert_eq!(
            reloaded.socket, running.socket,
            "the socket keeps its value"
        );
        assert_eq!(setting(&reloaded, "socket"), setting(&running, "socket"));
        assert_eq!(reloaded.cleanup_interval, Duration::from_secs(5));
    }

    #[test]
    fn the_check_table_shows_every_setting_and_its_source() {
        let config = load(&["--max-sessions", "5"], &[], "").expect("config");
        let text = render(&config.report());
        assert!(text.starts_with("config file: "), "{text}");
        let line = text
            .lines()
            .find(|l| l.starts_with("max_sessions "))
            .expect("a max_sessions line");
        assert_eq!(
            line.split_whitespace().collect::<Vec<_>>(),
            ["max_sessions", "5", "flag"]
        );
    }
}
