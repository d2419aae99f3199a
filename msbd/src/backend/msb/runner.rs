//! Running `msb`: every call of microsandbox's command line starts here, with an environment
//! of its own. A call that is over when it answers (create, stop, list, …) takes one of
//! `--msb-concurrency` permits and gets `--msb-timeout`: one that runs past it is killed and
//! counted a failure, so a hung `msb` never holds up a task. Streams (a command run in a
//! sandbox, a log followed) last as long as their client and hold no permit.

use std::ffi::OsString;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::sync::Semaphore;

/// What of msbd's environment `msb` gets; the rest stays behind, msbd's own `MSB_*`
/// settings above all, which `msb` would take for its own (`MSB_BACKEND`, `MSB_PATH`).
const PASSED: [&str; 11] = [
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "MSB_HOME",
];
/// How much of what a failed call wrote on stderr its error keeps: the end, where the
/// reason is.
const STDERR_KEPT: usize = 4096;

/// How the msb backend runs `msb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsbSettings {
    /// The `msb` binary, found when the settings were checked.
    pub path: PathBuf,
    /// Calls at once.
    pub concurrency: usize,
    /// The longest one call may run.
    pub timeout: Duration,
}

/// The `msb` that `given` names: a path (with a `/`), or a name looked up in `path_var`
/// (the `PATH`). The error says what to do, naming `--msb-path`.
pub fn locate(given: &str, path_var: Option<OsString>) -> Result<PathBuf, String> {
    const INSTALL: &str = "install microsandbox (`pip install microsandbox` ships msb) or give \
                           the path of its msb with --msb-path";
    if given.is_empty() {
        return Err(format!("expected a path or a name; {INSTALL}"));
    }
    if given.contains('/') {
        let path = std::path::absolute(given).map_err(|e| e.to_string())?;
        return if executable(&path) {
            Ok(path)
        } else {
            Err(format!(
                "{} is not an executable file; {INSTALL}",
                path.display()
            ))
        };
    }
    let dirs = path_var.unwrap_or_default();
    std::env::split_paths(&dirs)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(given))
        .find(|path| executable(path))
        .ok_or_else(|| format!("no {given} on PATH; {INSTALL}"))
}

fn executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// How a call of `msb` that failed ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Exit(i32),
    Signal(i32),
    /// It ran past its time and was killed.
    TimedOut(Duration),
    /// It could not be started.
    NotStarted(String),
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exit(code) => write!(f, "exited {code}"),
            Self::Signal(signal) => write!(f, "was killed by signal {signal}"),
            Self::TimedOut(limit) => write!(
                f,
                "ran past {} (--msb-timeout) and was killed",
                msb_proto::units::format_duration(*limit)
            ),
            Self::NotStarted(why) => write!(f, "could not be started: {why}"),
        }
    }
}

/// A call of `msb` that failed: the command, how it ended and what it said on stderr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{command}` {ending}{}", said(.stderr))]
pub struct MsbFailure {
    pub command: String,
    pub ending: Ending,
    pub stderr: String,
}

fn said(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

impl MsbFailure {
    /// `msb`'s answer for a sandbox it does not have: exit 1, `error: sandbox not found: X`.
    pub fn not_found(&self) -> bool {
        self.ending == Ending::Exit(1) && self.stderr.contains("sandbox not found")
    }
}

/// What a call that succeeded wrote.
#[derive(Debug)]
pub struct Answer {
    pub stdout: Vec<u8>,
}

/// Starts `msb` calls: bounded, timed, in an environment of their own.
#[derive(Debug)]
pub struct Runner {
    settings: MsbSettings,
    permits: Semaphore,
    env: Vec<(&'static str, OsString)>,
}

impl Runner {
    /// A runner for `settings`, passing on what msbd's environment (`var`) has of `PASSED`.
    pub fn new(settings: MsbSettings, var: impl Fn(&str) -> Option<OsString>) -> Self {
        let env = PASSED
            .into_iter()
            .filter_map(|name| Some((name, var(name)?)))
            .collect();
        Self {
            permits: Semaphore::new(settings.concurrency),
            settings,
            env,
        }
    }

    pub fn path(&self) -> &Path {
        &self.settings.path
    }

    /// `msb ARGS` as a command line for messages, arguments with spaces quoted.
    pub fn shown(&self, args: &[String]) -> String {
        std::iter::once(self.settings.path.display().to_string())
            .chain(args.iter().map(|arg| {
                if arg.is_empty() || arg.contains(char::is_whitespace) {
                    format!("'{arg}'")
                } else {
                    arg.clone()
                }
            }))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The command for `msb ARGS`, stdin closed, stdout and stderr piped; killed should
    /// msbd drop it.
    pub fn command(&self, args: &[String]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::from(self.blocking_command(args));
        cmd.stderr(Stdio::piped()).kill_on_drop(true);
        cmd
    }

    /// The same for a caller that blocks (a log follower read off the runtime's threads),
    /// its stderr dropped.
    pub fn blocking_command(&self, args: &[String]) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.settings.path);
        cmd.args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            // Plain text to read, whatever msbd's own stderr is.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        cmd
    }

    /// Runs `msb ARGS` to its end within `--msb-timeout`.
    pub async fn run(&self, args: &[String]) -> Result<Answer, MsbFailure> {
        self.run_within(args, self.settings.timeout).await
    }

    /// Runs `msb ARGS` to its end within `limit`, killing it there.
    pub async fn run_within(&self, args: &[String], limit: Duration) -> Result<Answer, MsbFailure> {
        let failure = |ending, stderr: &[u8]| MsbFailure {
            command: self.shown(args),
            ending,
            stderr: tail(stderr),
        };
        // A closed semaphore is never made; were it, the call would just run unbounded.
        let _permit = self.permits.acquire().await.ok();
        let child = self
            .command(args)
            .spawn()
            .map_err(|err| failure(Ending::NotStarted(err.to_string()), b""))?;
        // Dropped at the limit, the child is killed (`kill_on_drop`) and reaped by tokio.
        let output = match tokio::time::timeout(limit, child.wait_with_output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(err)) => return Err(failure(Ending::NotStarted(err.to_string()), b"")),
            Err(_) => return Err(failure(Ending::TimedOut(limit), b"")),
        };
        use std::os::unix::process::ExitStatusExt;
        match (output.status.code(), output.status.signal()) {
            (Some(0), _) => Ok(Answer {
                stdout: output.stdout,
            }),
            (Some(code), _) => Err(failure(Ending::Exit(code), &output.stderr)),
            (None, signal) => Err(failure(
                Ending::Signal(signal.unwrap_or_default()),
                &output.stderr,
            )),
        }
    }

    /// The longest a call may run.
    pub fn timeout(&self) -> Duration {
        self.settings.timeout
    }
}

/// The last `STDERR_KEPT` bytes of `stderr`, as trimmed text.
fn tail(stderr: &[u8]) -> String {
    let start = stderr.len().saturating_sub(STDERR_KEPT);
    String::from_utf8_lossy(&stderr[start..]).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msb_is_found_on_path_or_by_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let msb = dir.path().join("msb");
        std::fs::write(&msb, "#!/bin/sh\n").expect("write");
        let path = Some(OsString::from(format!("/nowhere:{}", dir.path().display())));
        assert!(locate("msb", path.clone()).is_err(), "not executable yet");
        std::fs::set_permissions(&msb, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(locate("msb", path), Ok(msb.clone()));
        assert_eq!(locate(&msb.display().to_string(), None), Ok(msb));
        let err = locate("msb", Some("/nowhere".into())).expect_err("not on PATH");
        assert!(
            err.contains("no msb on PATH") && err.contains("--msb-path"),
            "{err}"
        );
        let err = locate("/nowhere/msb", None).expect_err("no such file");
        assert!(err.contains("--msb-path"), "{err}");
    }

    #[test]
    fn a_failure_names_the_command_how_it_ended_and_what_it_said() {
        let runner = Runner::new(
            MsbSettings {
                path: "/opt/msb".into(),
                concurrency: 1,
                timeout: Duration::from_secs(1),
            },
            |_| None,
        );
        let failure = MsbFailure {
            command: runner.shown(&["stop".into(), "-t".into(), "5".into(), "a b".into()]),
            ending: Ending::Exit(1),
            stderr: "error: sandbox not found: a b".into(),
        };
        assert_eq!(
            failure.to_string(),
            "`/opt/msb stop -t 5 'a b'` exited 1: error: sandbox not found: a b"
        );
        assert!(failure.not_found());
        let timed_out = MsbFailure {
            ending: Ending::TimedOut(Duration::from_secs(120)),
            stderr: String::new(),
            ..failure
        };
        assert!(!timed_out.not_found());
        assert!(
            timed_out
                .to_string()
                .ends_with("ran past 2m (--msb-timeout) and was killed"),
            "{timed_out}"
        );
    }
}
