//! Settings: raw flags (each also an `MSB_*` variable; a flag wins) are parsed by clap, then
//! checked into a typed `Config` that the rest of the daemon sees. A bad value stops the
//! daemon before it binds or creates anything, naming the setting, the value and what is
//! allowed.

use crate::admission::{socket_group, SocketGroup};
use crate::backend::process::{IsolationMode, UidRange};
use crate::languages::parse_language;
use crate::supervisor::RestartPolicy;
use crate::template_options::{parse_template_option, TemplateOption};
use crate::templates::{parse_template, DEFAULT_TEMPLATE};
use clap::{Args, Parser, Subcommand, ValueEnum};
use msb_proto::units::parse_duration;
use msb_proto::Flavor;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Exit status for a configuration error (sysexits' EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

#[derive(Debug, Parser)]
#[command(
    name = "msbd",
    version,
    about = "Daemon that owns the sandbox sessions of this host and keeps it clean"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Hidden>,
    #[command(flatten)]
    pub daemon: DaemonArgs,
}

#[derive(Debug, Subcommand)]
pub enum Hidden {
    /// The first process of a sandbox (started by msbd itself).
    #[command(hide = true)]
    Keeper(crate::backend::process::keeper::KeeperArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    OnFailure,
    Never,
}

/// How msbd's log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, coloured on a terminal (never with NO_COLOR set).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// Sandboxes are process groups on this host; needs nothing installed.
    Process,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Socket to listen on [default: /run/msbd/msbd.sock for root, else the user runtime dir]
    #[arg(long, env = "MSB_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Directory for the instance id, sandbox records and working directories [default: the user data dir]
    #[arg(long, env = "MSB_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Sandbox backend
    #[arg(long, env = "MSB_BACKEND", value_enum, default_value = "process")]
    pub backend: BackendArg,
    /// A session untouched this long is stopped
    #[arg(long, env = "MSB_SESSION_TIMEOUT", value_name = "DUR", default_value = "30m", value_parser = parse_duration)]
    pub session_timeout: Duration,
    /// How often session-cleanup runs
    #[arg(long, env = "MSB_CLEANUP_INTERVAL", value_name = "DUR", default_value = "60s", value_parser = parse_duration)]
    pub cleanup_interval: Duration,
    /// How often orphan-cleanup runs
    #[arg(long, env = "MSB_ORPHAN_CLEANUP_INTERVAL", value_name = "DUR", default_value = "10m", value_parser = parse_duration)]
    pub orphan_cleanup_interval: Duration,
    /// Most sessions at once
    #[arg(
        long,
        env = "MSB_MAX_SESSIONS",
        value_name = "N",
        default_value_t = 100
    )]
    pub max_sessions: u64,
    /// Total memory of all sessions' flavors, in MB; 0 means no limit [default: this host's memory]
    #[arg(long, env = "MSB_MAX_TOTAL_MEMORY_MB", value_name = "MB")]
    pub max_total_memory_mb: Option<u64>,
    /// Evict least-recently-used idle sessions when a create would break a limit
    #[arg(long, env = "MSB_ENABLE_LRU_EVICTION", value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub enable_lru_eviction: bool,
    /// A busy mark (processing) not lifted within this long is lifted by session-cleanup
    #[arg(long, env = "MSB_BUSY_TIMEOUT", value_name = "DUR", default_value = "1h", value_parser = parse_duration)]
    pub busy_timeout: Duration,
    /// How sandboxes are isolated: namespaces where available (auto), always, or never
    #[arg(long, env = "MSB_ISOLATION", value_enum, default_value = "auto")]
    pub isolation: IsolationMode,
    /// Host uids for sandboxes' roots, one each, START:COUNT (used when msbd runs as root)
    #[arg(long, env = "MSB_UID_RANGE", value_name = "START:COUNT", default_value = "100000:65536", value_parser = UidRange::parse)]
    pub uid_range: UidRange,
    /// Flavor of sessions created without one
    #[arg(long, env = "MSB_DEFAULT_FLAVOR", value_enum, default_value = "small")]
    pub default_flavor: Flavor,
    /// Time a shutdown (SIGTERM, SIGINT) gives sandboxes before killing them
    #[arg(long, env = "MSB_SHUTDOWN_TIMEOUT", value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// Time a stopped session's sandbox gets between SIGTERM and SIGKILL
    #[arg(long, env = "MSB_STOP_GRACE", value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    pub stop_grace: Duration,
    /// What to do when a task's cycle panics
    #[arg(
        long,
        env = "MSB_RESTART_POLICY",
        value_enum,
        default_value = "on-failure"
    )]
    pub restart_policy: PolicyArg,
    /// A cycle running longer than this makes its task `stalled`
    #[arg(long, env = "MSB_STALL_AFTER", value_name = "DUR", default_value = "5m", value_parser = parse_duration)]
    pub stall_after: Duration,
    /// A sandbox template, NAME=COMMAND run by /bin/sh -c (repeatable; MSB_TEMPLATES takes one per line)
    #[arg(long = "template", value_name = "NAME=COMMAND", value_parser = parse_template)]
    pub templates: Vec<(String, String)>,
    /// An option of a template, NAME:KEY=VALUE: user=root, network=host or
    /// mount=HOST:INSIDE[:ro|:rw] (repeatable; MSB_TEMPLATE_OPTIONS takes one per line)
    #[arg(long = "template-option", value_name = "NAME:KEY=VALUE", value_parser = parse_template_option)]
    pub template_options: Vec<(String, TemplateOption)>,
    /// Group whose members may use the socket (it is then 0660 with that group)
    #[arg(long, env = "MSB_SOCKET_GROUP", value_name = "GROUP")]
    pub socket_group: Option<String>,
    /// Most connections one uid may hold open at once
    #[arg(
        long,
        env = "MSB_MAX_CONNECTIONS_PER_UID",
        value_name = "N",
        default_value_t = 64
    )]
    pub max_connections_per_uid: usize,
    /// A connection that sends no request for this long is closed
    #[arg(long, env = "MSB_IDLE_TIMEOUT", value_name = "DUR", default_value = "5m", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Most commands (exec, run, copies) running in one session at once
    #[arg(
        long,
        env = "MSB_MAX_EXECS_PER_SESSION",
        value_name = "N",
        default_value_t = 8
    )]
    pub max_execs_per_session: u32,
    /// Output kept per stream of a command whose output is collected (--json), in KiB
    #[arg(
        long,
        env = "MSB_COLLECT_LIMIT_KB",
        value_name = "KIB",
        default_value_t = 1024
    )]
    pub collect_limit_kb: u64,
    /// Largest archive one copy into or out of a session may move, in MiB
    #[arg(
        long,
        env = "MSB_COPY_LIMIT_MB",
        value_name = "MIB",
        default_value_t = 1024
    )]
    pub copy_limit_mb: u64,
    /// A language for `sessions run`, NAME=COMMAND reading the code on stdin (repeatable;
    /// built in: python=python3 -, node=node -, shell=sh -s)
    #[arg(long = "language", value_name = "NAME=COMMAND", value_parser = parse_language)]
    pub languages: Vec<(String, String)>,
    /// Accept `msbctl debug fault` (for tests only)
    #[arg(long, env = "MSB_ENABLE_FAULT_INJECTION")]
    pub enable_fault_injection: bool,
    /// Serve the Prometheus metrics over HTTP at http://ADDR:PORT/metrics
    #[arg(long, env = "MSB_METRICS_LISTEN", value_name = "ADDR:PORT", value_parser = parse_listen)]
    pub metrics_listen: Option<SocketAddr>,
    /// Events kept for `msbctl events` (and queued inside msbd for each follower)
    #[arg(
        long,
        env = "MSB_EVENT_BUFFER",
        value_name = "N",
        default_value_t = 1024
    )]
    pub event_buffer: u64,
    /// How the log is written on stderr
    #[arg(long, env = "MSB_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// Parses `--metrics-listen`: an IP address and a port.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!(
            "'{text}' is not ADDR:PORT with an IP address, such as 127.0.0.1:9464 or [::1]:9464"
        )
    })
}

/// The checked settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub socket: PathBuf,
    pub state_dir: PathBuf,
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
    pub templates: Vec<(String, String)>,
    /// Each names a template of `templates` or the built-in one.
    pub template_options: Vec<(String, TemplateOption)>,
    pub work: WorkLimits,
    pub languages: Vec<(String, String)>,
    pub socket_group: Option<SocketGroup>,
    pub max_connections_per_uid: usize,
    pub idle_timeout: Duration,
    pub enable_fault_injection: bool,
    pub metrics_listen: Option<SocketAddr>,
    pub event_buffer: usize,
    pub log_format: LogFormat,
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
#[error("invalid {setting} '{value}': {allowed}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub value: String,
    pub allowed: String,
}

/// The most events `--event-buffer` keeps, in memory, and in each follower's queue.
const MAX_EVENT_BUFFER: u64 = 65_536;

/// The shortest interval or timeout accepted: below it the daemon would spin.
const MIN_PERIOD: Duration = Duration::from_millis(100);

fn at_least(
    setting: &'static str,
    value: Duration,
    min: Duration,
) -> Result<Duration, ConfigError> {
    if value < min {
        return Err(ConfigError {
            setting,
            value: format!("{value:?}"),
            allowed: format!(
                "must be at least {}",
                msb_proto::units::format_duration(min)
            ),
        });
    }
    Ok(value)
}

impl Config {
    /// `templates_env` is the value of `MSB_TEMPLATES`, one NAME=COMMAND per line; the
    /// `--template` flags are added after it and win on a shared name. Likewise
    /// `options_env`, `MSB_TEMPLATE_OPTIONS`, one NAME:KEY=VALUE per line, before the
    /// `--template-option` flags.
    pub fn from_args(
        args: DaemonArgs,
        templates_env: Option<String>,
        options_env: Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut templates = lines("MSB_TEMPLATES", templates_env, parse_template)?;
        templates.extend(args.templates);
        let mut template_options =
            lines("MSB_TEMPLATE_OPTIONS", options_env, parse_template_option)?;
        template_options.extend(args.template_options);
        if let Some((name, _)) = template_options.iter().find(|(name, _)| {
            name != DEFAULT_TEMPLATE && !templates.iter().any(|(known, _)| known == name)
        }) {
            return Err(ConfigError {
                setting: "--template-option",
                value: name.clone(),
                allowed: "names no template (give it with --template first)".into(),
            });
        }
        if args.max_sessions == 0 {
            return Err(ConfigError {
                setting: "--max-sessions",
                value: "0".into(),
                allowed: "must be at least 1".into(),
            });
        }
        for (setting, value) in [
            (
                "--max-execs-per-session",
                u64::from(args.max_execs_per_session),
            ),
            ("--collect-limit-kb", args.collect_limit_kb),
            ("--copy-limit-mb", args.copy_limit_mb),
            (
                "--max-connections-per-uid",
                args.max_connections_per_uid as u64,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError {
                    setting,
                    value: "0".into(),
                    allowed: "must be at least 1".into(),
                });
            }
        }
        if !(1..=MAX_EVENT_BUFFER).contains(&args.event_buffer) {
            return Err(ConfigError {
                setting: "--event-buffer",
                value: args.event_buffer.to_string(),
                allowed: format!("must be from 1 to {MAX_EVENT_BUFFER}"),
            });
        }
        // Absolute, so status shows where they really are whatever the daemon's cwd was.
        let absolute = |setting, path: PathBuf| {
            std::path::absolute(&path).map_err(|e| ConfigError {
                setting,
                value: path.display().to_string(),
                allowed: e.to_string(),
            })
        };
        Ok(Self {
            socket: absolute(
                "--socket",
                args.socket.unwrap_or_else(msb_proto::paths::default_socket),
            )?,
            state_dir: absolute(
                "--state-dir",
                args.state_dir.unwrap_or_else(default_state_dir),
            )?,
            session_timeout: at_least(
                "--session-timeout",
                args.session_timeout,
                Duration::from_secs(1),
            )?,
            cleanup_interval: at_least("--cleanup-interval", args.cleanup_interval, MIN_PERIOD)?,
            orphan_cleanup_interval: at_least(
                "--orphan-cleanup-interval",
                args.orphan_cleanup_interval,
                MIN_PERIOD,
            )?,
            max_sessions: args.max_sessions,
            max_total_memory_mb: match args.max_total_memory_mb {
                Some(0) => None,
                Some(mb) => Some(mb),
                None => host_memory_mb(),
            },
            lru_eviction: args.enable_lru_eviction,
            isolation: args.isolation,
            uid_range: args.uid_range,
            busy_timeout: at_least("--busy-timeout", args.busy_timeout, Duration::from_secs(1))?,
            default_flavor: args.default_flavor,
            shutdown_timeout: args.shutdown_timeout,
            stop_grace: args.stop_grace,
            restart_policy: match args.restart_policy {
                PolicyArg::OnFailure => RestartPolicy::OnFailure,
                PolicyArg::Never => RestartPolicy::Never,
            },
            stall_after: at_least("--stall-after", args.stall_after, MIN_PERIOD)?,
            templates,
            template_options,
            work: WorkLimits {
                max_execs_per_session: args.max_execs_per_session,
                collect_limit: args.collect_limit_kb.saturating_mul(1024),
                copy_limit: args.copy_limit_mb.saturating_mul(1024 * 1024),
            },
            languages: args.languages,
            socket_group: args
                .socket_group
                .map(|name| {
                    socket_group(&name).map_err(|allowed| ConfigError {
                        setting: "--socket-group",
                        value: name.clone(),
                        allowed,
                    })
                })
                .transpose()?,
            max_connections_per_uid: args.max_connections_per_uid,
            idle_timeout: at_least("--idle-timeout", args.idle_timeout, Duration::from_secs(1))?,
            enable_fault_injection: args.enable_fault_injection,
            metrics_listen: args.metrics_listen,
            event_buffer: args.event_buffer as usize,
            log_format: args.log_format,
        })
    }
}

/// Parses each non-empty line of `text`, the value of environment variable `setting`.
fn lines<T>(
    setting: &'static str,
    text: Option<String>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, ConfigError> {
    text.iter()
        .flat_map(|text| text.lines())
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            parse(line).map_err(|allowed| ConfigError {
                setting,
                value: line.to_string(),
                allowed,
            })
        })
        .collect()
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

    fn parse(args: &[&str]) -> Result<Config, String> {
        let cli = Cli::try_parse_from(std::iter::once("msbd").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        Config::from_args(cli.daemon, None, None).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_follow_the_design() {
        let config =
            parse(&["--socket", "/tmp/x.sock", "--state-dir", "/tmp/x"]).expect("defaults");
        assert_eq!(config.session_timeout, Duration::from_secs(1800));
        assert_eq!(config.cleanup_interval, Duration::from_secs(60));
        assert_eq!(config.orphan_cleanup_interval, Duration::from_secs(600));
        assert_eq!(config.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(config.restart_policy, RestartPolicy::OnFailure);
        assert!(config.lru_eviction);
        assert!(
            config.max_total_memory_mb.is_some_and(|mb| mb > 0),
            "the host's memory"
        );
        let unlimited = parse(&[
            "--max-total-memory-mb",
            "0",
            "--enable-lru-eviction",
            "false",
        ])
        .expect("parse");
        assert_eq!(unlimited.max_total_memory_mb, None);
        assert!(!unlimited.lru_eviction);
    }

    #[test]
    fn a_bad_duration_names_the_setting_and_the_forms() {
        let err = parse(&["--cleanup-interval", "often"]).expect_err("must be refused");
        assert!(
            err.contains("--cleanup-interval") && err.contains("500ms"),
            "{err}"
        );
        let err = parse(&["--cleanup-interval", "10ms"]).expect_err("must be refused");
        assert!(
            err.contains("--cleanup-interval") && err.contains("at least"),
            "{err}"
        );
    }

    #[test]
    fn templates_come_from_the_environment_and_flags() {
        let cli = Cli::try_parse_from(["msbd", "--template", "b=sleep 2"]).expect("parse");
        let config =
            Config::from_args(cli.daemon, Some("a=sleep 1\n\n".into()), None).expect("config");
        assert_eq!(
            config.templates,
            vec![
                ("a".into(), "sleep 1".into()),
                ("b".into(), "sleep 2".into())
            ]
        );
        let cli = Cli::try_parse_from(["msbd"]).expect("parse");
        let err = Config::from_args(cli.daemon, Some("broken".into()), None)
            .expect_err("must be refused");
        assert_eq!(err.setting, "MSB_TEMPLATES");
    }

    #[test]
    fn template_options_name_a_known_template() {
        let cli = Cli::try_parse_from([
            "msbd",
            "--template",
            "py=python3",
            "--template-option",
            "py:user=root",
        ])
        .expect("parse");
        let config = Config::from_args(cli.daemon, None, Some("default:network=host\n".into()))
            .expect("config");
        assert_eq!(
            config.template_options,
            vec![
                ("default".into(), TemplateOption::Network { host: true }),
                ("py".into(), TemplateOption::User { root: true }),
            ]
        );
        let cli =
            Cli::try_parse_from(["msbd", "--template-option", "nope:user=root"]).expect("parse");
        let err = Config::from_args(cli.daemon, None, None).expect_err("must be refused");
        assert!(
            err.setting == "--template-option" && err.value == "nope",
            "{err}"
        );
        let err = Config::from_args(
            Cli::try_parse_from(["msbd"]).expect("parse").daemon,
            None,
            Some("default:mount=/a:/proc".into()),
        )
        .expect_err("must be refused");
        assert_eq!(err.setting, "MSB_TEMPLATE_OPTIONS");
        let err = parse(&["--template-option", "default:user=admin"]).expect_err("refused");
        assert!(err.contains("--template-option"), "{err}");
    }

    #[test]
    fn observability_settings_are_checked() {
        let config =
            parse(&["--metrics-listen", "127.0.0.1:9464", "--log-format", "json"]).expect("parse");
        assert_eq!(config.metrics_listen, Some(([127, 0, 0, 1], 9464).into()));
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.event_buffer, 1024);
        let err = parse(&["--metrics-listen", "localhost"]).expect_err("must be refused");
        assert!(
            err.contains("--metrics-listen") && err.contains("ADDR:PORT"),
            "{err}"
        );
        let err = parse(&["--event-buffer", "0"]).expect_err("must be refused");
        assert!(
            err.contains("--event-buffer") && err.contains("from 1 to"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_uid_range_names_the_setting() {
        let config = parse(&[]).expect("defaults");
        assert_eq!(
            config.uid_range,
            UidRange {
                start: 100000,
                count: 65536
            }
        );
        let err = parse(&["--uid-range", "0:10"]).expect_err("must be refused");
        assert!(err.contains("--uid-range") && err.contains("root"), "{err}");
    }
}
