//! Processes with a deadline on every wait: exact exit times of children, commands whose
//! output is captured, the reference's process groups, the /proc scan for marked processes,
//! and the interrupt flag that turns Ctrl-C into an orderly cleanup.
//!
//! A child's exit is awaited by a thread blocked in `waitid(WNOWAIT)`: it notes the moment
//! the child exits without reaping it, so the caller can wait with a timeout and, at the
//! deadline, kill a pid that cannot have been reused meanwhile.

use crate::{Context, Result};
use nix::errno::Errno;
use nix::sys::signal::{self, SigHandler, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::Pid;
use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How often a wait looks at the interrupt flag, and the pace of polling loops.
const SLICE: Duration = Duration::from_millis(50);
/// How long a SIGKILLed process may take to be reaped before that counts as an error.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// Set by SIGINT/SIGTERM; every wait checks it and returns an error, so the guards clean up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: nix::libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Makes SIGINT and SIGTERM set the interrupt flag instead of killing the bench at once.
pub fn catch_interrupts() {
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
        if let Err(e) = unsafe { signal::signal(sig, SigHandler::Handler(on_interrupt)) } {
            eprintln!("msb-bench: cannot catch {sig}: {e} (an interrupt may leave processes)");
        }
    }
}

/// An error once the bench has been interrupted.
pub fn check_interrupt() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// Sleeps `pause`, or less when interrupted.
pub fn sleep(pause: Duration) -> Result<()> {
    check_interrupt()?;
    thread::sleep(pause);
    check_interrupt()
}

/// Waits up to `timeout` for `child` to exit. Returns its status and the moment it exited
/// (noted by a thread the instant the kernel reports it), or `None` at the deadline, the
/// child then still running and unreaped.
pub fn wait_for(child: &mut Child, timeout: Duration) -> Result<Option<(ExitStatus, Instant)>> {
    if let Some(status) = child.try_wait().context("waitpid")? {
        return Ok(Some((status, Instant::now())));
    }
    let pid = Pid::from_raw(child.id() as i32);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        let result = loop {
            match waitid(Id::Pid(pid), flags) {
                Err(Errno::EINTR) => continue,
                other => break other,
            }
        };
        // The receiver is gone if the caller gave up; it kills and reaps the child itself.
        let _ = tx.send((result.is_ok(), Instant::now()));
    });
    let deadline = Instant::now() + timeout;
    loop {
        check_interrupt()?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        match rx.recv_timeout(left.min(SLICE)) {
            Ok((exited, at)) => {
                // On an error (the child was reaped elsewhere) std still knows its status.
                let status = child.wait().context("waitpid")?;
                return Ok(Some((status, if exited { at } else { Instant::now() })));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(format!("the thread waiting for pid {pid} ended"));
            }
        }
    }
}

/// SIGKILLs `child` and reaps it.
pub fn kill_and_reap(child: &mut Child) -> Result<ExitStatus> {
    if let Some(status) = child.try_wait().context("waitpid")? {
        return Ok(status);
    }
    child.kill().context("kill")?;
    // Not `wait_for`: this must work after an interrupt too.
    let deadline = Instant::now() + KILL_WAIT;
    loop {
        if let Some(status) = child.try_wait().context("waitpid")? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "pid {} survived SIGKILL for {KILL_WAIT:?}",
                child.id()
            ));
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// What a finished command left.
#[derive(Debug)]
pub struct Run {
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// From just before the spawn to the moment the process exited.
    pub elapsed: Duration,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.stdout).map_err(|e| {
            format!(
                "output is not JSON ({e}): stdout {:?}, stderr {:?}",
                self.stdout, self.stderr
            )
        })
    }

    /// The first line of stderr, or the exit code, for an error message.
    pub fn why(&self) -> String {
        let line = self.stderr.lines().next().unwrap_or("").trim();
        let code = self
            .code
            .map_or_else(|| "killed by a signal".into(), |c| format!("exit {c}"));
        if line.is_empty() {
            code
        } else {
            format!("{code}: {line}")
        }
    }
}

/// A spawned command whose stdout and stderr are being read. Dropped unfinished, it is
/// killed and reaped.
pub struct Running {
    what: String,
    child: Child,
    start: Instant,
    /// Taken by `finish`.
    readers: Option<[thread::JoinHandle<String>; 2]>,
}

impl Running {
    /// Spawns `cmd` (described as `what` in errors) with captured output.
    pub fn spawn(mut cmd: Command, what: impl Into<String>) -> Result<Self> {
        let what = what.into();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = cmd.spawn().context(format!("cannot start {what}"))?;
        let stdout = child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>);
        let stderr = child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>);
        Ok(Self {
            what,
            child,
            start,
            readers: Some([read_all(stdout), read_all(stderr)]),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the command to finish; at the deadline it is killed and
    /// that is an error.
    pub fn finish(mut self, timeout: Duration) -> Result<Run> {
        let waited = wait_for(&mut self.child, timeout);
        if !matches!(waited, Ok(Some(_))) {
            let _ = kill_and_reap(&mut self.child);
        }
        let (stdout, stderr) = self.output();
        match waited {
            Ok(Some((status, at))) => Ok(Run {
                code: status.code(),
                stdout,
                stderr,
                elapsed: at.saturating_duration_since(self.start),
            }),
            Ok(None) => Err(format!(
                "{} did not finish within {timeout:?} (killed); stderr: {:?}",
                self.what,
                stderr.trim()
            )),
            Err(e) => Err(format!("{}: {e}", self.what)),
        }
    }

    /// What the command wrote, once it has exited (its pipes then reach their end).
    fn output(&mut self) -> (String, String) {
        match self.readers.take() {
            Some([out, err]) => (
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default(),
            ),
            None => Default::default(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = kill_and_reap(&mut self.child);
        let _ = self.output();
    }
}

fn read_all(pipe: Option<Box<dyn Read + Send>>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

/// Process groups started by the bench itself, each `sh -c COMMAND` leading its own session.
/// Dropping them SIGKILLs every group not yet reaped and reaps it.
pub struct Groups {
    children: Vec<Child>,
    /// Which leaders have been reaped: their group id may be reused, never signal it again.
    reaped: Vec<bool>,
}

impl Groups {
    /// Starts one group per command; each process carries `marker` (`KEY=VALUE`) in its
    /// environment so a leftover can be found.
    pub fn spawn(commands: &[&str], marker: (&str, &str)) -> Result<Self> {
        let mut groups = Self {
            children: Vec::with_capacity(commands.len()),
            reaped: Vec::with_capacity(commands.len()),
        };
        for command in commands {
            let mut cmd = Command::new("/bin/sh");
            cmd.arg("-c")
                .arg(command)
                .env(marker.0, marker.1)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
            unsafe {
                cmd.pre_exec(|| nix::unistd::setsid().map(drop).map_err(Into::into));
            }
            let child = cmd.spawn().context("cannot start a reference process")?;
            groups.children.push(child);
            groups.reaped.push(false);
        }
        Ok(groups)
    }

    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// The pid of group `i`'s leader (also the group's id).
    pub fn pid(&self, i: usize) -> u32 {
        self.children[i].id()
    }

    /// Sends `sig` to every group whose leader has not been reaped.
    pub fn signal(&self, sig: Signal) {
        for (child, reaped) in self.children.iter().zip(&self.reaped) {
            if !reaped {
                let _ = signal::killpg(Pid::from_raw(child.id() as i32), sig);
            }
        }
    }

    /// Reaps every leader that has exited; returns how many are still running.
    pub fn reap(&mut self) -> usize {
        let mut running = 0;
        for (child, reaped) in self.children.iter_mut().zip(&mut self.reaped) {
            if !*reaped {
                // An error means it was reaped already; either way it is gone.
                *reaped = !matches!(child.try_wait(), Ok(None));
                running += usize::from(!*reaped);
            }
        }
        running
    }
}

impl Drop for Groups {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
        let deadline = Instant::now() + KILL_WAIT;
        while self.reap() > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Live (not zombie) processes whose initial environment holds `key=value`.
pub fn marked(key: &str, value: &str) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let needle = format!("{key}={value}");
    let mut pids: Vec<u32> = dir
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                environ
                    .split(|b| *b == 0)
                    .any(|entry| entry == needle.as_bytes())
            }) && !zombie(*pid)
        })
        .collect();
    pids.sort_unstable();
    pids
}

fn zombie(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    // The state is the first field after the command name, which may hold ") ".
    stat.rfind(')')
        .and_then(|at| stat[at + 1..].split_whitespace().next())
        .is_none_or(|state| matches!(state, "Z" | "X"))
}

/// `PID (COMMAND LINE)` for a report.
pub fn describe(pid: u32) -> String {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            String::from_utf8_lossy(&bytes)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    format!("{pid} ({cmdline})")
}

/// SIGKILLs every live process marked `key=value` until none is left (at most `KILL_WAIT`);
/// returns how many were found the first time.
pub fn kill_marked(key: &str, value: &str) -> usize {
    let first = marked(key, value).len();
    let deadline = Instant::now() + KILL_WAIT;
    loop {
        let pids = marked(key, value);
        if pids.is_empty() || Instant::now() >= deadline {
            if !pids.is_empty() {
                eprintln!(
                    "msb-bench: {} processes marked {key}={value} survive SIGKILL",
                    pids.len()
                );
            }
            return first;
        }
        for pid in pids {
            let _ = signal::kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// VmRSS of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).context(format!("pid {pid}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// Runs `cmd` to its end (at most `timeout`) and returns how long it took; a failure (exit
/// other than 0) is an error.
pub fn time(cmd: Command, what: &str, timeout: Duration) -> Result<Duration> {
    let run = Running::spawn(cmd, what)?.finish(timeout)?;
    if run.ok() {
        Ok(run.elapsed)
    } else {
        Err(format!("{what}: {}", run.why()))
    }
}
