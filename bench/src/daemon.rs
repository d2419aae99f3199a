//! One msbd under test: the release binaries, a daemon on a socket and state dir in a
//! temporary directory with its log beside them, and `msbctl` runs against it. Dropping a
//! [`Daemon`] kills it if it still runs, then every process carrying its instance's marker,
//! and removes its cgroups, so no error path leaves anything behind.

use crate::proc::{self, Run, Running};
use crate::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long msbd may take to answer its first `status`.
const START_WAIT: Duration = Duration::from_secs(30);
/// The most one `msbctl` command (other than `stop`) may take.
pub const CTL_WAIT: Duration = Duration::from_secs(60);
/// Clients creating sessions at once, unless a benchmark says otherwise.
pub const CLIENTS: usize = 4;

/// The release binaries this bench drives.
#[derive(Debug, Clone)]
pub struct Bins {
    pub msbd: PathBuf,
    pub msbctl: PathBuf,
}

impl Bins {
    /// `msbd` and `msbctl` next to this executable (target/release/).
    pub fn locate() -> Result<Self> {
        let exe = std::env::current_exe().context("cannot find this executable's path")?;
        let dir = exe
            .parent()
            .ok_or_else(|| format!("{} has no directory", exe.display()))?;
        let find = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!(
                    "{} is missing: build the binaries first with `cargo build --release`",
                    path.display()
                ))
            }
        };
        Ok(Self {
            msbd: find("msbd")?,
            msbctl: find("msbctl")?,
        })
    }
}

/// `msbctl` against one socket; cheap to clone into another thread.
#[derive(Debug, Clone)]
pub struct Ctl {
    msbctl: PathBuf,
    pub socket: PathBuf,
}

impl Ctl {
    /// The command `msbctl --socket S ARGS`, with no `MSB_*` setting from this environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.msbctl);
        scrub(&mut cmd);
        cmd.arg("--socket").arg(&self.socket).args(args);
        cmd
    }

    pub fn spawn(&self, args: &[&str]) -> Result<Running> {
        Running::spawn(self.command(args), format!("msbctl {}", args.join(" ")))
    }

    pub fn run(&self, args: &[&str], timeout: Duration) -> Result<Run> {
        self.spawn(args)?.finish(timeout)
    }
}

/// Removes every `MSB_*` variable, so only the flags given here configure msbd and msbctl.
fn scrub(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("MSB_")) {
            cmd.env_remove(key);
        }
    }
}

pub struct Daemon {
    /// `None` once kept for a post-mortem (see [`Daemon::keep`]).
    dir: Option<TempDir>,
    root: PathBuf,
    pub ctl: Ctl,
    state: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    instance: String,
    /// msbd and its flags, to start it again on the same state.
    command: (PathBuf, Vec<String>),
}

impl Daemon {
    /// Starts msbd with `args` in a fresh temporary directory and waits until `msbctl status`
    /// answers.
    pub fn start(bins: &Bins, args: &[&str]) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("msb-bench-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let root = dir.path().to_path_buf();
        let log = root.join("msbd.log");
        let mut daemon = Self {
            ctl: Ctl {
                msbctl: bins.msbctl.clone(),
                socket: root.join("run").join("msbd.sock"),
            },
            state: root.join("state"),
            log,
            root,
            dir: Some(dir),
            child: None,
            instance: String::new(),
            command: (
                bins.msbd.clone(),
                args.iter().map(|a| a.to_string()).collect(),
            ),
        };
        daemon.spawn()?;
        daemon.wait_ready(Duration::from_millis(50))?;
        daemon.instance = fs::read_to_string(daemon.state.join("instance-id"))
            .context("cannot read msbd's instance id")?
            .trim()
            .to_string();
        if daemon.instance.is_empty() {
            return Err("msbd's instance-id file is empty".into());
        }
        Ok(daemon)
    }

    /// Starts msbd on this daemon's socket and state; its log goes on at the end of the file.
    fn spawn(&mut self) -> Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .context("cannot open the msbd log")?;
        let mut cmd = Command::new(&self.command.0);
        scrub(&mut cmd);
        cmd.arg("--socket")
            .arg(&self.ctl.socket)
            .arg("--state-dir")
            .arg(&self.state)
            .args(&self.command.1)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        self.child = Some(cmd.spawn().context("cannot start msbd")?);
        Ok(())
    }

    /// Gives `flag` (one msbd was started with) `value` from the next start on.
    pub fn set_flag(&mut self, flag: &str, value: &str) -> Result<()> {
        let args = &mut self.command.1;
        let at = args
            .iter()
            .position(|a| a == flag)
            .ok_or_else(|| format!("msbd was not started with {flag}"))?;
        let slot = args
            .get_mut(at + 1)
            .ok_or_else(|| format!("{flag} has no value"))?;
        *slot = value.to_string();
        Ok(())
    }

    /// SIGKILLs msbd, its sandboxes left running, and starts it again on the same state;
    /// returns the time from the start until `msbctl status` answered.
    pub fn restart_after_kill(&mut self) -> Result<Duration> {
        if let Some(mut child) = self.child.take() {
            proc::kill_and_reap(&mut child)?;
        }
        let start = Instant::now();
        self.spawn()?;
        self.wait_ready(Duration::from_millis(1))?;
        Ok(start.elapsed())
    }

    /// msbd's resident memory, in KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        let pid = self.pid().ok_or("msbd is not running")?;
        proc::rss_kib(pid)
    }

    fn wait_ready(&mut self, pause: Duration) -> Result<()> {
        let deadline = Instant::now() + START_WAIT;
        loop {
            let run = self.ctl.run(&["status"], CTL_WAIT)?;
            if run.ok() {
                return Ok(());
            }
            if let Some(status) = self.try_exit()? {
                return Err(self.with_log(&format!("msbd exited at start ({status})")));
            }
            if Instant::now() >= deadline {
                return Err(self.with_log(&format!(
                    "msbd did not answer status within {START_WAIT:?} (last: {})",
                    run.why()
                )));
            }
            proc::sleep(pause)?;
        }
    }

    fn try_exit(&mut self) -> Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(child) => child.try_wait().context("waitpid msbd"),
            None => Err("msbd is not running".into()),
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits up to `timeout` for msbd to exit on its own: its status and the moment it
    /// exited, or `None` (still running) at the deadline.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<(ExitStatus, Instant)>> {
        let child = self.child.as_mut().ok_or("msbd is not running")?;
        let exit = proc::wait_for(child, timeout)?;
        if exit.is_some() {
            self.child = None;
        }
        Ok(exit)
    }

    /// Live processes carrying this instance's sandbox marker.
    pub fn sandbox_pids(&self) -> Vec<u32> {
        proc::marked("MSBD_INSTANCE", &self.instance)
    }

    /// What of this daemon's sandboxes still runs, in words; `None` when nothing does.
    pub fn leftovers(&self) -> Option<String> {
        let pids = self.sandbox_pids();
        if pids.is_empty() {
            return None;
        }
        let listed: Vec<String> = pids.iter().take(10).map(|p| proc::describe(*p)).collect();
        Some(format!(
            "{} processes marked MSBD_INSTANCE={} still live after msbd exited: {}",
            pids.len(),
            self.instance,
            listed.join(", ")
        ))
    }

    /// Creates one session per entry of `templates` (`None`: the default template) from
    /// `clients` clients at once; returns the session ids. The first failure stops the
    /// remaining creates and is the error.
    pub fn create_sessions(
        &self,
        templates: &[Option<&str>],
        clients: usize,
    ) -> Result<Vec<String>> {
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let results = Mutex::new(Vec::with_capacity(templates.len()));
        std::thread::scope(|scope| {
            for _ in 0..clients {
                scope.spawn(|| {
                    while !failed.load(Ordering::SeqCst) {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(template) = templates.get(i) else {
                            return;
                        };
                        let mut args = vec!["--json", "sessions", "create"];
                        if let Some(t) = template {
                            args.extend(["--template", t]);
                        }
                        let result = self.ctl.run(&args, CTL_WAIT).and_then(|run| {
                            if !run.ok() {
                                return Err(format!("msbctl sessions create: {}", run.why()));
                            }
                            let json = run.json()?;
                            json["id"]
                                .as_str()
                                .map(String::from)
                                .ok_or_else(|| format!("a created session has no id: {json}"))
                        });
                        failed.fetch_or(result.is_err(), Ordering::SeqCst);
                        if let Ok(mut results) = results.lock() {
                            results.push((i, result));
                        }
                    }
                });
            }
        });
        let mut results = results
            .into_inner()
            .map_err(|_| "a create thread panicked".to_string())?;
        results.sort_by_key(|(i, _)| *i);
        let mut ids = Vec::with_capacity(results.len());
        for (i, result) in results {
            ids.push(result.map_err(|e| {
                self.with_log(&format!("session {} of {}: {e}", i + 1, templates.len()))
            })?);
        }
        if ids.len() != templates.len() {
            return Err(format!(
                "created {} sessions of {}",
                ids.len(),
                templates.len()
            ));
        }
        Ok(ids)
    }

    /// The last `lines` lines of msbd's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The log lines that matter in a post-mortem: warnings, errors and the shutdown's.
    pub fn log_notable(&self, limit: usize) -> Vec<String> {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let mut notable: Vec<String> = log
            .lines()
            .filter(|l| {
                l.contains("WARN")
                    || l.contains("ERROR")
                    || l.contains("shutdown")
                    || l.contains("shutting down")
            })
            .map(String::from)
            .collect();
        if notable.len() > limit {
            let cut = notable.len() - limit;
            notable.drain(..cut);
        }
        notable
    }

    /// `message` followed by the end of msbd's log.
    pub fn with_log(&self, message: &str) -> String {
        format!(
            "{message}\n--- last lines of {} ---\n{}",
            self.log.display(),
            self.log_tail(30)
        )
    }

    /// The error for a daemon still running `waited` after `msbctl stop --timeout TIMEOUT`:
    /// its directory is kept and its log's end quoted.
    pub fn still_running(&mut self, pid: u32, timeout_arg: &str, waited: Duration) -> String {
        let dir = self.keep();
        self.with_log(&format!(
            "msbd (pid {pid}) still runs {waited:?} after `msbctl stop --timeout {timeout_arg}` (kept {})",
            dir.display()
        ))
    }

    /// Keeps the temporary directory (log, state) after the bench; returns its path.
    pub fn keep(&mut self) -> PathBuf {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
        self.root.clone()
    }

    /// Removes this instance's cgroup directories (its own and its sandboxes'), if any.
    fn remove_cgroups(&self) {
        let short: String = self.instance.chars().take(12).collect();
        // v1's controllers (msbd uses these three), a hybrid host's v2 hierarchy, a pure v2
        // host's.
        for controller in ["memory", "cpu", "pids", "unified", ""] {
            let own = Path::new("/sys/fs/cgroup")
                .join(controller)
                .join(format!("msbd-{short}"));
            if let Ok(entries) = fs::read_dir(&own) {
                for entry in entries.flatten() {
                    if entry.path().is_dir() {
                        let _ = fs::remove_dir(entry.path());
                    }
                }
            }
            let _ = fs::remove_dir(&own);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Err(e) = proc::kill_and_reap(&mut child) {
                eprintln!("msb-bench: msbd: {e}");
            }
        }
        if !self.instance.is_empty() {
            let killed = proc::kill_marked("MSBD_INSTANCE", &self.instance);
            if killed > 0 {
                eprintln!("msb-bench: killed {killed} leftover sandbox processes of msbd");
            }
            self.remove_cgroups();
        }
    }
}
