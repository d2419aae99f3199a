//! The command line, defined once: parsing, help and the completion scripts all come from it.

use crate::paint::ColorWhen;
use crate::target::SshHost;
use clap::error::ErrorKind;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use msb_proto::units::parse_duration;
use msb_proto::{Fault, Flavor, SessionStatus, MAX_PAUSE, TASK_NAMES};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "msbctl",
    version,
    about = "Control msbd: task status and health, pause and resume, sessions, graceful stop",
    after_help = "Exit codes: 0 success, 1 failed or partial, 2 usage, 3 msbd unreachable, refused or not answering.\n\
                  `health` exits 0 healthy, 1 degraded, 2 unhealthy, 3 unreachable."
)]
pub struct Cli {
    /// Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime
    /// dir]; with --host, the socket on that host
    #[arg(long, global = true, env = "MSB_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND
    /// replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)
    #[arg(short = 'H', long, global = true, env = "MSB_HOST", value_name = "ssh://[USER@]HOST[:PORT]", value_parser = SshHost::parse)]
    pub host: Option<SshHost>,
    /// Print machine-readable JSON (a stable contract) instead of tables
    #[arg(long, global = true)]
    pub json: bool,
    /// Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and
    /// pause, which last as long as their work); exit 3
    #[arg(long, global = true, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never
    #[arg(
        long,
        global = true,
        value_enum,
        env = "MSB_COLOR",
        value_name = "WHEN",
        default_value = "auto"
    )]
    pub color: ColorWhen,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Checks what clap cannot (see `repeated_key`); a failure is a usage error like clap's.
    pub fn checked(self) -> Result<Self, clap::Error> {
        let (name, labels) = match &self.command {
            Command::Sessions(Family(SessionsCommand::List { labels, .. })) => ("list", labels),
            Command::Sessions(Family(SessionsCommand::Create { labels, .. })) => ("create", labels),
            Command::Sessions(Family(SessionsCommand::Exec { run, .. })) => ("exec", &run.labels),
            Command::Sessions(Family(SessionsCommand::Run { run, .. })) => ("run", &run.labels),
            _ => return Ok(self),
        };
        match repeated_key(labels) {
            None => Ok(self),
            Some(message) => {
                // Told with the usage of the subcommand at fault, as clap tells its own.
                let mut cli = command();
                cli.build();
                let sessions = cli.find_subcommand_mut("sessions");
                Err(match sessions.and_then(|s| s.find_subcommand_mut(name)) {
                    Some(command) => command.error(ErrorKind::ArgumentConflict, message),
                    None => clap::Error::raw(ErrorKind::ArgumentConflict, message),
                })
            }
        }
    }
}

/// The whole command line, every family's subcommands included: for help, completions and
/// man pages. A parse needs only the families it names (see [`expanded`]).
pub fn command() -> clap::Command {
    FAMILIES
        .iter()
        .fold(Cli::command(), |command, (name, _)| expanded(command, name))
}

/// `command` with the subcommands of its family `name` added now (unchanged if `name` is no
/// family): as they are in [`command`], for a parse to read them before clap builds it.
pub fn expanded(mut command: clap::Command, name: &str) -> clap::Command {
    let family = FAMILIES.iter().find(|(family, _)| *family == name);
    let sub = command
        .get_subcommands_mut()
        .find(|sub| sub.get_name() == name);
    if let (Some(&(_, augment)), Some(sub)) = (family, sub) {
        // In its place: clap's `mut_subcommand` would move it last, and help keeps the order.
        *sub = augment(std::mem::take(sub).defer(|sub| sub));
    }
    command
}

/// What adds a family's subcommands to it.
type Augment = fn(clap::Command) -> clap::Command;

/// The families of subcommands, each with what adds its subcommands.
const FAMILIES: [(&str, Augment); 2] = [
    (
        "sessions",
        <SessionsCommand as Subcommand>::augment_subcommands,
    ),
    ("debug", <DebugCommand as Subcommand>::augment_subcommands),
];

/// A family of subcommands (`sessions`, `debug`) whose subcommands clap adds when it builds
/// the family: only when a command line enters it, so `msbctl status` does not build the
/// dozen it never looks at. A family has no options of its own, so what clap hands down to
/// it is the same whenever its subcommands arrive.
#[derive(Debug)]
pub struct Family<T>(pub T);

impl<T: Subcommand> Subcommand for Family<T> {
    fn augment_subcommands(command: clap::Command) -> clap::Command {
        command.defer(T::augment_subcommands)
    }

    fn augment_subcommands_for_update(command: clap::Command) -> clap::Command {
        command.defer(T::augment_subcommands_for_update)
    }

    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
    }
}

impl<T: FromArgMatches> FromArgMatches for Family<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Self)
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Self)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

#[derive(Debug, Args)]
pub struct TaskList {
    /// Tasks to act on [default: all]
    #[arg(value_name = "TASK", value_parser = TASK_NAMES)]
    pub tasks: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the tasks, their health and a summary of sessions
    #[command(
        after_help = "With --watch on a terminal the screen is redrawn in place until Ctrl-C; \
                      otherwise each snapshot is printed after the last (with --json, one \
                      document per line)."
    )]
    Status {
        /// Show only this task
        #[arg(value_parser = TASK_NAMES)]
        task: Option<String>,
        /// Show it again every --interval, until Ctrl-C
        #[arg(long, short)]
        watch: bool,
        /// How often --watch asks msbd (at least 100ms)
        #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_interval, requires = "watch")]
        interval: Duration,
    },
    /// Print overall health in one line; the exit code says it too
    Health,
    /// Restart unhealthy tasks (every named task with --force); never lifts a pause
    Restart {
        #[command(flatten)]
        tasks: TaskList,
        /// Restart tasks that are not unhealthy too
        #[arg(long)]
        force: bool,
    },
    /// Pause tasks at a safe point, as a lease that ends at --for or when CMD exits
    #[command(
        after_help = "With CMD: SIGTERM, SIGHUP and SIGINT sent to msbctl are passed on to CMD; msbctl\n\
                      waits for CMD, resumes what it paused and exits as CMD did (128+N if signal N\n\
                      killed it). CMD runs even when the pause cannot be taken (msbd down), with a\n\
                      warning, unless --require-pause is given (then it exits as that failure does:\n\
                      3 if msbd is unreachable).\n\
                      A CMD that cannot be found exits 127, one that cannot be executed 126."
    )]
    Pause {
        #[command(flatten)]
        tasks: TaskList,
        /// Resume automatically after this long (500ms, 30s, 5m, 1h, or seconds; at most 365
        /// days)
        #[arg(long = "for", value_name = "DUR", value_parser = parse_pause_for)]
        for_: Option<Duration>,
        /// Why, shown in status
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// With CMD: do not run it unless the pause was taken
        #[arg(long, requires = "command")]
        require_pause: bool,
        /// Run CMD while paused, resume as soon as it exits, and exit with its status
        #[arg(last = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Resume paused tasks
    Resume {
        #[command(flatten)]
        tasks: TaskList,
    },
    /// Run one cycle of a task now (also while paused) and print its report
    Run {
        #[arg(value_parser = TASK_NAMES)]
        task: String,
    },
    /// Stop msbd gracefully: stop tasks and sandboxes, kill what is left at the deadline
    Stop {
        /// Deadline for sandboxes to stop [default: the daemon's --shutdown-timeout]
        #[arg(long, value_name = "DUR", value_parser = parse_duration, conflicts_with = "keep_sandboxes")]
        timeout: Option<Duration>,
        /// Exit without stopping sandboxes; the next msbd on this state dir adopts them (upgrades)
        #[arg(long)]
        keep_sandboxes: bool,
    },
    /// List the sandboxes orphan-cleanup would stop, without stopping them
    Orphans,
    /// Show msbd's effective settings, each with where it came from (default, file, env, flag)
    Config,
    /// Print what happened in msbd lately (task states, cycles, sessions, commands, pauses);
    /// with --json, one JSON object per line
    Events {
        /// Then print each new event as it happens, until Ctrl-C
        #[arg(long, short)]
        follow: bool,
    },
    /// Print msbd's metrics in the Prometheus text format
    Metrics,
    /// The session registry
    #[command(subcommand)]
    Sessions(Family<SessionsCommand>),
    /// Tools for testing msbd itself
    #[command(subcommand)]
    Debug(Family<DebugCommand>),
    /// Print a completion script for SHELL
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the versions of msbctl and of the running msbd
    Version,
    /// Wait until msbd answers and each task has run its first cycle (or is paused); exit
    /// 3 at the deadline
    Wait {
        /// Give up after this long [default: msbctl's --timeout, 30s]
        #[arg(long, value_name = "DUR", value_parser = parse_duration)]
        timeout: Option<Duration>,
    },
    /// Join stdin and stdout to msbd's socket, for `msbctl -H ssh://…` on another host
    #[command(hide = true)]
    DialStdio,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List sessions, least recently accessed first (a page: in creation order)
    List {
        /// Only sessions in this status
        #[arg(long, value_enum)]
        status: Option<SessionStatus>,
        /// Only sessions of this template
        #[arg(long)]
        template: Option<String>,
        /// Only sessions not accessed for longer than this
        #[arg(long, value_name = "DUR", value_parser = parse_duration)]
        idle_longer_than: Option<Duration>,
        /// Also sessions whose sandbox ended by itself (kept 15 minutes as `ended`)
        #[arg(long)]
        ended: bool,
        /// Only sessions carrying this label (repeatable: they must carry all)
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
        labels: Vec<(String, String)>,
        /// At most N sessions: a page, in creation order (oldest first)
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// Skip the first N sessions; a page in creation order, like --limit
        #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
        offset: u32,
        /// Only the ids, one a line (with --json, an array of them)
        #[arg(long, short = 'q', visible_alias = "quiet")]
        ids: bool,
    },
    /// Show one session (an ended one with its exit and last lines)
    Show { id: String },
    /// Create a session and its sandbox
    Create {
        /// Template to run [default: default]
        #[arg(long)]
        template: Option<String>,
        /// Resources of the sandbox [default: the daemon's --default-flavor]
        #[arg(long, value_enum)]
        flavor: Option<Flavor>,
        /// Session id [default: generated]
        #[arg(long)]
        id: Option<String>,
        /// Label the session (repeatable); `sessions list --label` finds it by them
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
        labels: Vec<(String, String)>,
    },
    /// Mark a session as used now, postponing its expiry
    Touch { id: String },
    /// Stop a session's sandbox and remove the session
    Stop { id: String },
    /// Mark a session busy (processing): never expired or evicted until marked idle
    Busy { id: String },
    /// Mark a busy session idle again
    Idle { id: String },
    /// Run a command in a session: output streams live, and msbctl exits with the command's
    /// status (128+N for a signal, 124 for a timeout, 3 if msbd is unreachable)
    #[command(
        after_help = "Ctrl-C cancels the command (its whole process tree); msbctl then exits 130."
    )]
    Exec {
        /// Session to run in [with --create and none: a new one]
        #[arg(required_unless_present = "create")]
        id: Option<String>,
        #[command(flatten)]
        run: RunArgs,
        /// Set an environment variable for the command (repeatable)
        #[arg(short = 'e', long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
        env: Vec<(String, String)>,
        /// Working directory [default: the sandbox's]; relative to the sandbox's
        #[arg(short = 'w', long, value_name = "DIR")]
        workdir: Option<String>,
        /// Forward msbctl's stdin to the command
        #[arg(short = 'i', long)]
        interactive: bool,
        /// The command and its arguments
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Run code in a session with a language's interpreter (python, node, shell, or one
    /// msbd was given with --language); status as for exec
    Run {
        /// Session to run in [with --create and none: a new one]
        #[arg(required_unless_present = "create")]
        id: Option<String>,
        #[command(flatten)]
        run: RunArgs,
        /// Language of the code
        #[arg(long, short = 'l')]
        language: String,
        /// File holding the code, or - for stdin
        #[arg(value_name = "FILE", default_value = "-")]
        file: PathBuf,
    },
    /// Copy a file or directory into or out of a session: one side is ID:PATH, as in
    /// `docker cp` (into an existing directory, else as the destination)
    Cp {
        /// ID:PATH or a local path
        src: String,
        /// ID:PATH or a local path
        dst: String,
    },
    /// Print the output of a session's sandbox (the last 1 MiB is kept); with --json, one
    /// document of lines once the stream has ended
    Logs {
        id: String,
        /// Keep printing what is written until the sandbox ends
        #[arg(long, short)]
        follow: bool,
        /// Only the last N lines of what is kept
        #[arg(long, value_name = "N")]
        tail: Option<u64>,
    },
}

/// What `exec` and `run` share: the timeout and get-or-create.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Kill the command (its whole process tree) after this long; exit 124
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Create the session first if it does not exist
    #[arg(long)]
    pub create: bool,
    /// With --create: the template of a new session
    #[arg(long, requires = "create")]
    pub template: Option<String>,
    /// With --create: the flavor of a new session
    #[arg(long, value_enum, requires = "create")]
    pub flavor: Option<Flavor>,
    /// With --create: a label of a new session (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label, requires = "create")]
    pub labels: Vec<(String, String)>,
}

/// Parses `--for` of `pause`: a duration up to the longest lease msbd grants.
fn parse_pause_for(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration > MAX_PAUSE {
        return Err(format!(
            "a pause lasts at most {} days (without --for, until resumed)",
            MAX_PAUSE.as_secs() / 86_400
        ));
    }
    Ok(duration)
}

/// Parses `--interval`: a duration of at least 100ms, so a watch cannot flood msbd.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_duration(text)?;
    if interval < Duration::from_millis(100) {
        return Err(format!("'{text}' is shorter than 100ms"));
    }
    Ok(interval)
}

/// Parses `NAME=VALUE` for `-e`.
fn parse_env(text: &str) -> Result<(String, String), String> {
    parse_pair(text, "NAME=VALUE")
}

/// Parses `KEY=VALUE` for `--label`; msbd checks what a key and a value may be.
fn parse_label(text: &str) -> Result<(String, String), String> {
    parse_pair(text, "KEY=VALUE")
}

/// Splits `text` at its first `=`; the part before must not be empty.
fn parse_pair(text: &str, form: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("'{text}' is not {form}")),
    }
}

/// A label key given twice is a usage error (which value was meant?), one that a flag's
/// parser, which sees one value at a time, cannot catch.
fn repeated_key(pairs: &[(String, String)]) -> Option<String> {
    let mut seen = BTreeMap::new();
    pairs.iter().find_map(|(key, value)| {
        seen.insert(key, value).map(|first| {
            format!("--label {key} is given twice ('{first}' and '{value}'); give each key once")
        })
    })
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FaultArg {
    Panic,
    Hang,
    Error,
    Clear,
}

impl From<FaultArg> for Fault {
    fn from(arg: FaultArg) -> Self {
        match arg {
            FaultArg::Panic => Fault::Panic,
            FaultArg::Hang => Fault::Hang,
            FaultArg::Error => Fault::Error,
            FaultArg::Clear => Fault::Clear,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Inject a fault into a task (msbd must run with --enable-fault-injection)
    Fault {
        #[arg(value_parser = TASK_NAMES)]
        task: String,
        #[arg(value_enum)]
        fault: FaultArg,
    },
}
