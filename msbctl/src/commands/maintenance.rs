//! `pause [TASK…] -- CMD`: a maintenance command run while tasks are paused. msbctl passes
//! the signals meant to end it on to CMD, waits for CMD, resumes what it paused and exits as
//! CMD did. CMD runs even when msbd cannot pause (a backup must not be skipped because msbd
//! is down), unless `--require-pause` says otherwise.

use super::connect;
use crate::output::{io_message, note, Failure, Out};
use crate::render;
use crate::target::Target;
use msb_proto::{ActionResult, Client, PauseRequest, TaskAction, TaskSelection};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

/// What a shell exits with for a command it cannot find, and for one it cannot execute.
const NOT_FOUND: u8 = 127;
const NOT_EXECUTABLE: u8 = 126;

pub struct Maintenance {
    pub pause: PauseRequest,
    pub require_pause: bool,
    /// The program and its arguments; never empty.
    pub command: Vec<String>,
}

pub async fn run(
    maintenance: Maintenance,
    target: &Target,
    limit: Duration,
    out: &Out,
) -> Result<u8, Failure> {
    // Caught from the start: a signal must not kill msbctl while tasks are paused for it.
    let mut signals = Signals::new()?;
    let mut early = None;
    let taken = {
        let take = take_pause(target, limit, maintenance.pause);
        tokio::pin!(take);
        loop {
            tokio::select! {
                taken = &mut take => break taken,
                caught = signals.next() => { early.get_or_insert(caught); }
            }
        }
    };
    let (client, ours) = match taken {
        Ok((client, actions)) => {
            if !out.json {
                note(&render::actions(&actions));
            }
            (Some(client), ours(&actions))
        }
        Err(failure) if maintenance.require_pause => return Err(failure),
        Err(failure) => {
            if out.report(&failure).is_some() {
                note("msbctl: running the command without the pause (--require-pause would not run it)");
            }
            (None, Vec::new())
        }
    };
    let status = match early {
        Some(caught) => {
            note(&format!(
                "msbctl: {caught} came before the command started; it is not run"
            ));
            killed(caught as i32)
        }
        None => run_command(&maintenance.command, &mut signals).await,
    };
    let resumed = match client {
        Some(mut client) if !ours.is_empty() => client.resume(TaskSelection::Named(ours)).await?,
        _ => Vec::new(),
    };
    if out.json {
        out.show(resumed.as_slice(), render::actions)?;
    } else if !resumed.is_empty() {
        note(&render::actions(&resumed));
    }
    Ok(status)
}

/// Connects (within `--timeout`: nothing is paused before the request is sent) and pauses.
async fn take_pause(
    target: &Target,
    limit: Duration,
    request: PauseRequest,
) -> Result<(Client, Vec<TaskAction>), Failure> {
    let mut client = tokio::time::timeout(limit, connect(target))
        .await
        .unwrap_or(Err(Failure::TimedOut { after: limit }))?;
    let actions = client.pause(request).await?;
    Ok((client, actions))
}

/// What this pause took: a task someone else had paused stays paused when CMD ends.
fn ours(actions: &[TaskAction]) -> Vec<String> {
    actions
        .iter()
        .filter(|a| a.result == ActionResult::Paused)
        .map(|a| a.task.clone())
        .collect()
}

/// The status of a process that signal `signal` ended, as a shell reports it.
fn killed(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(crate::exit::FAILED)
}

/// Runs CMD with msbctl's stdio, passing on the signals msbctl gets, and returns its status
/// as a shell would (127 and 126 when it cannot be started).
async fn run_command(command: &[String], signals: &mut Signals) -> u8 {
    let Some((program, args)) = command.split_first() else {
        return 0;
    };
    let mut child = match tokio::process::Command::new(program).args(args).spawn() {
        Ok(child) => child,
        Err(err) => {
            note(&format!(
                "msbctl: cannot run {program}: {}",
                io_message(&err)
            ));
            return match err.kind() {
                std::io::ErrorKind::NotFound => NOT_FOUND,
                _ => NOT_EXECUTABLE,
            };
        }
    };
    let pid = child.id().map(|id| Pid::from_raw(id as i32));
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            caught = signals.next() => {
                if let Some(pid) = pid.filter(|_| !typed_at_terminal(caught)) {
                    // CMD is not reaped before its wait returns, so the pid is still its own.
                    let _ = kill(pid, caught);
                }
            }
        }
    };
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => u8::try_from(code).unwrap_or(crate::exit::FAILED),
            (None, Some(signal)) => killed(signal),
            (None, None) => crate::exit::FAILED,
        },
        Err(err) => {
            note(&format!(
                "msbctl: cannot wait for {program}: {}",
                io_message(&err)
            ));
            crate::exit::FAILED
        }
    }
}

/// SIGTERM, SIGHUP and SIGINT, caught for the rest of msbctl's life.
struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, Failure> {
        let catch =
            |kind| signal(kind).map_err(|e| Failure::Local(format!("cannot catch signals: {e}")));
        Ok(Self {
            term: catch(SignalKind::terminate())?,
            hup: catch(SignalKind::hangup())?,
            int: catch(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::SIGTERM,
            _ = self.hup.recv() => Signal::SIGHUP,
            _ = self.int.recv() => Signal::SIGINT,
        }
    }
}

/// True for a Ctrl-C typed on the terminal where msbctl runs in the foreground: the terminal
/// sent it to CMD too (CMD shares msbctl's process group), and a second one would read as
/// "hurry up" to many programs.
fn typed_at_terminal(caught: Signal) -> bool {
    caught == Signal::SIGINT
        && std::fs::File::open("/dev/tty")
            .ok()
            .and_then(|tty| nix::unistd::tcgetpgrp(&tty).ok())
            .is_some_and(|group| group == nix::unistd::getpgrp())
}
