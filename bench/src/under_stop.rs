//! `status-under-stop`: `msbctl status` latency while a daemon with N sessions shuts down,
//! beside its latency on the same daemon idle. Status is read-only and served during a
//! shutdown, and its cost is not meant to grow with the number of sessions: this shows
//! whether the shutdown's work (N sandboxes stopped at once) starves it.

use crate::daemon::{Bins, Ctl, Daemon, CTL_WAIT};
use crate::figures::{self, ms, Spread};
use crate::proc;
use crate::{Context, Result};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `status` calls on the idle daemon.
const IDLE_CALLS: usize = 50;
/// How long past its timeout msbd may take to exit before the bench gives up on it.
const EXIT_SLACK: Duration = Duration::from_secs(60);
/// msbd exiting later than this past the timeout is worth a note.
const OVERRUN: Duration = Duration::from_secs(1);

/// What the status calls made during the stop saw.
#[derive(Default)]
struct Probe {
    /// Latencies of the calls msbd answered.
    answered: Vec<Duration>,
    /// `msbctl --version` run right after each answered call: starting a client process at
    /// the same moments, without msbd, the reference for what the machine itself adds.
    started: Vec<Duration>,
    /// When the last answered call returned, from the stop request.
    last_answer: Option<Duration>,
    /// Calls that failed while msbd was still up (not the one that found it gone): when
    /// they returned, from the stop request, and why.
    failures: Vec<(Duration, String)>,
    /// True when a call found the daemon gone (not the deadline or an error).
    saw_end: bool,
    /// Calls made, the one that found the daemon gone included.
    calls: usize,
}

pub fn run(bins: &Bins, size: usize, timeout: Duration) -> Result<()> {
    eprintln!("[{size}] starting msbd --isolation none");
    let args = crate::shutdown::daemon_args("1h", &["--isolation", "none"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut daemon = Daemon::start(bins, &args)?;

    let started = Instant::now();
    daemon.create_sessions(&vec![None; size], crate::daemon::CLIENTS)?;
    eprintln!(
        "[{size}] created {size} sessions in {:.1} s; {} marked processes",
        started.elapsed().as_secs_f64(),
        daemon.sandbox_pids().len()
    );

    let mut idle = Vec::with_capacity(IDLE_CALLS);
    for _ in 0..IDLE_CALLS {
        let run = daemon.ctl.run(&["status"], CTL_WAIT)?;
        if !run.ok() {
            return Err(
                daemon.with_log(&format!("msbctl status on the idle daemon: {}", run.why()))
            );
        }
        idle.push(run.elapsed);
    }

    eprintln!("[{size}] stopping, with status calls back to back");
    let pid = daemon.pid().unwrap_or_default();
    let timeout_arg = figures::timeout_arg(timeout);
    let ctl = daemon.ctl.clone();
    let exited = AtomicBool::new(false);
    let give_up = AtomicBool::new(false);
    let start = Instant::now();
    let stop = daemon
        .ctl
        .spawn(&["--json", "stop", "--timeout", &timeout_arg])?;
    let (exit, probe) = std::thread::scope(|scope| {
        let probe = scope.spawn(|| probe(&ctl, start, &exited, &give_up));
        let exit = daemon.wait_exit(timeout + EXIT_SLACK);
        if matches!(exit, Ok(Some(_))) {
            exited.store(true, Ordering::SeqCst);
        } else {
            give_up.store(true, Ordering::SeqCst);
        }
        (exit, probe.join())
    });
    let probe = probe.map_err(|_| "the status thread panicked".to_string())?;
    let Some((status, at)) = exit? else {
        return Err(daemon.still_running(pid, &timeout_arg, timeout + EXIT_SLACK));
    };
    let stop_to_exit = at.saturating_duration_since(start);
    let leftovers = daemon.leftovers();
    let stop = stop.finish(CTL_WAIT)?;
    let report = stop.json().context("msbctl stop")?;

    let mut out = std::io::stdout();
    let code = stop
        .code
        .map_or_else(|| "signal".to_string(), |c| c.to_string());
    let _ = writeln!(
        out,
        "{:>9}  {:>7}  {:>14}  {:>14}  {:>12}",
        "sandboxes", "timeout", "stop→exit", "stop exit code", "status calls"
    );
    let _ = writeln!(
        out,
        "{:>9}  {:>7}  {:>14}  {:>14}  {:>12}",
        size,
        figures::timeout(timeout),
        ms(stop_to_exit),
        code,
        probe.calls
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<23}  {:>10}  {:>10}  {:>10}  {:>8}",
        "status latency", "p50", "p99", "max", "answered"
    );
    for (name, samples) in [
        ("during stop", &probe.answered),
        ("idle (reference)", &idle),
        ("--version, same moments", &probe.started),
    ] {
        match Spread::of(samples) {
            Some(s) => {
                let _ = writeln!(
                    out,
                    "{:<23}  {:>10}  {:>10}  {:>10}  {:>8}",
                    name,
                    ms(s.p50),
                    ms(s.p99),
                    ms(s.max),
                    samples.len()
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "{name:<23}  {:>10}  {:>10}  {:>10}  {:>8}",
                    "-", "-", "-", 0
                );
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "stop report: outcome {}, duration {} ms, {} sessions: {} stopped, {} killed, {} failed",
        report["outcome"].as_str().unwrap_or("?"),
        report["duration_ms"],
        report["sessions_total"],
        report["stopped"],
        report["killed"],
        report["failed"]
    );
    let _ = writeln!(
        out,
        "last status answered {} after the stop request; {} failed while msbd was up",
        probe.last_answer.map_or_else(|| "never".to_string(), ms),
        probe.failures.len()
    );

    let mut notes = Vec::new();
    if let Some((at, why)) = probe.failures.first() {
        notes.push(format!(
            "first status failure during the stop, returned {} after the stop request \
             (msbd exited at {}): {why}",
            ms(*at),
            ms(stop_to_exit)
        ));
    }
    if !probe.saw_end {
        notes.push("the status calls stopped before finding the daemon gone".to_string());
    }
    if stop_to_exit > timeout + OVERRUN {
        notes.push(format!(
            "msbd exited {} after the stop request, more than timeout {} + {}",
            ms(stop_to_exit),
            figures::timeout(timeout),
            figures::timeout(OVERRUN)
        ));
    }
    if report["failed"].as_u64() != Some(0)
        || report["sessions_total"].as_u64() != Some(size as u64)
    {
        notes.push(format!("stop report: {report}"));
    }
    if stop.code != status.code() {
        notes.push(format!(
            "msbctl stop exited {:?}, msbd {:?}",
            stop.code,
            status.code()
        ));
    }
    if let Some(leftovers) = leftovers {
        notes.push(leftovers);
    }
    if !notes.is_empty() {
        let dir = daemon.keep();
        notes.push(format!("state and log kept in {}", dir.display()));
        for line in daemon.log_notable(40) {
            notes.push(format!("log: {line}"));
        }
    }
    for note in notes {
        let _ = writeln!(out, "note: {note}");
    }
    Ok(())
}

/// Runs `msbctl status` back to back until a call finds the daemon gone (it exited, or the
/// socket no longer answers: exit 3), or `give_up` is set.
fn probe(ctl: &Ctl, start: Instant, exited: &AtomicBool, give_up: &AtomicBool) -> Probe {
    let mut probe = Probe::default();
    while !give_up.load(Ordering::SeqCst) && proc::check_interrupt().is_ok() {
        probe.calls += 1;
        match ctl.run(&["status"], CTL_WAIT) {
            Ok(run) if run.ok() => {
                probe.answered.push(run.elapsed);
                probe.last_answer = Some(start.elapsed());
                if let Ok(alone) = ctl.run(&["--version"], CTL_WAIT) {
                    probe.started.push(alone.elapsed);
                }
            }
            Ok(run) if run.code == Some(3) || exited.load(Ordering::SeqCst) => {
                probe.saw_end = true;
                break;
            }
            Ok(run) => probe.failures.push((start.elapsed(), run.why())),
            Err(e) => probe.failures.push((start.elapsed(), e)),
        }
    }
    probe
}
