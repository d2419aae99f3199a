//! `shutdown`: how long `msbctl stop --timeout T` takes, from the request to msbd's exit,
//! with N sandboxes of which every third ignores SIGTERM, beside the floor any supervisor
//! needs for the same work: SIGTERM N process groups, wait until they exit or T passes,
//! SIGKILL the rest, reap them all; measured on N plain process groups in the same run.

use crate::daemon::{Bins, Daemon, CTL_WAIT};
use crate::figures::{self, ms, ms_diff};
use crate::proc::{self, Groups};
use crate::Result;
use nix::sys::signal::Signal;
use std::fs;
use std::io::Write;
use std::time::{Duration, Instant};

/// A sandbox that ignores SIGTERM (and so do the `sleep`s it starts): only SIGKILL ends it.
const STUBBORN: &str = "trap '' TERM; while :; do sleep 1; done";
/// The reference's stand-in for the default template: idles, exits on SIGTERM.
const IDLE: &str = "exec sleep 100000";
/// How long past its timeout msbd may take to exit before the bench gives up on it.
const EXIT_SLACK: Duration = Duration::from_secs(60);
/// How long the reference's processes may take to be ready (trap set, sleep exec'd).
const READY_WAIT: Duration = Duration::from_secs(30);
/// msbd exiting later than this past the timeout is worth a note.
const OVERRUN: Duration = Duration::from_secs(1);

/// msbd's flags for every benchmark: no limit, no cleanup cycle during the run, sessions
/// expiring after `session_timeout` (`1h`: not during the run), and the `stubborn` template.
pub fn daemon_args(session_timeout: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--max-sessions",
        "100000",
        "--max-total-memory-mb",
        "0",
        "--max-connections-per-uid",
        "1000",
        "--session-timeout",
        session_timeout,
        "--cleanup-interval",
        "1h",
        "--orphan-cleanup-interval",
        "1h",
        "--template",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("stubborn={STUBBORN}"));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Every third sandbox is stubborn: indices 2, 5, 8, … (N/3 of them).
fn stubborn(i: usize) -> bool {
    i % 3 == 2
}

struct Row {
    size: usize,
    stop_to_exit: Duration,
    report_ms: u64,
    reference: Duration,
    stopped: u64,
    killed: u64,
    failed: u64,
}

pub fn run(bins: &Bins, sizes: &[usize], timeout: Duration) -> Result<()> {
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "{:>9}  {:>7}  {:>14}  {:>15}  {:>10}  {:>26}  stopped/killed/failed",
        "sandboxes",
        "timeout",
        "msbd stop→exit",
        "report duration",
        "reference",
        "overhead(msbd - reference)"
    );
    let mut notes = Vec::new();
    for &size in sizes {
        let row = measure(bins, size, timeout, &mut notes)?;
        let _ = writeln!(
            out,
            "{:>9}  {:>7}  {:>14}  {:>15}  {:>10}  {:>26}  {}/{}/{}",
            row.size,
            figures::timeout(timeout),
            ms(row.stop_to_exit),
            format!("{} ms", row.report_ms),
            ms(row.reference),
            ms_diff(row.stop_to_exit, row.reference),
            row.stopped,
            row.killed,
            row.failed
        );
        let _ = out.flush();
    }
    for note in &notes {
        let _ = writeln!(out, "note: {note}");
    }
    Ok(())
}

/// One size: msbd's stop, then the reference.
fn measure(bins: &Bins, size: usize, timeout: Duration, notes: &mut Vec<String>) -> Result<Row> {
    let stubborn_count = (0..size).filter(|i| stubborn(*i)).count();
    eprintln!("[{size}] starting msbd");
    let args = daemon_args("1h", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut daemon = Daemon::start(bins, &args)?;

    let templates: Vec<Option<&str>> = (0..size)
        .map(|i| stubborn(i).then_some("stubborn"))
        .collect();
    let started = Instant::now();
    daemon.create_sessions(&templates, crate::daemon::CLIENTS)?;
    eprintln!(
        "[{size}] created {size} sessions ({stubborn_count} stubborn) in {:.1} s; {} marked processes",
        started.elapsed().as_secs_f64(),
        daemon.sandbox_pids().len()
    );

    let pid = daemon.pid().unwrap_or_default();
    let timeout_arg = figures::timeout_arg(timeout);
    let start = Instant::now();
    let stop = daemon
        .ctl
        .spawn(&["--json", "stop", "--timeout", &timeout_arg])?;
    let Some((status, exited)) = daemon.wait_exit(timeout + EXIT_SLACK)? else {
        return Err(daemon.still_running(pid, &timeout_arg, timeout + EXIT_SLACK));
    };
    let stop_to_exit = exited.saturating_duration_since(start);
    let leftovers = daemon.leftovers();
    let run = stop.finish(CTL_WAIT)?;
    eprintln!(
        "[{size}] msbd exited {} after the stop request ({status})",
        ms(stop_to_exit)
    );

    let report = run
        .json()
        .map_err(|e| daemon.with_log(&format!("msbctl stop: {e}")))?;
    let field = |name: &str| report[name].as_u64();
    let (Some(total), Some(stopped), Some(killed), Some(failed), Some(report_ms)) = (
        field("sessions_total"),
        field("stopped"),
        field("killed"),
        field("failed"),
        field("duration_ms"),
    ) else {
        return Err(format!("msbctl stop: an unexpected report: {report}"));
    };
    let outcome = report["outcome"].as_str().unwrap_or("?").to_string();

    let mut anomalies = Vec::new();
    if (total, stopped, killed, failed)
        != (
            size as u64,
            (size - stubborn_count) as u64,
            stubborn_count as u64,
            0,
        )
    {
        anomalies.push(format!(
            "report counts {total} sessions, {stopped} stopped, {killed} killed, {failed} failed; \
             expected {size}, {}, {stubborn_count}, 0",
            size - stubborn_count
        ));
    }
    if stop_to_exit > timeout + OVERRUN {
        anomalies.push(format!(
            "msbd exited {} after the stop request, more than timeout {} + {}",
            ms(stop_to_exit),
            figures::timeout(timeout),
            figures::timeout(OVERRUN)
        ));
    }
    let expected_code = if outcome == "clean" { 0 } else { 1 };
    if run.code != Some(expected_code) || status.code() != Some(expected_code) {
        anomalies.push(format!(
            "outcome {outcome}, but msbctl stop exited {:?} and msbd {:?}",
            run.code,
            status.code()
        ));
    }
    if let Some(leftovers) = leftovers {
        anomalies.push(leftovers);
    }
    if !anomalies.is_empty() {
        let dir = daemon.keep();
        let mut note = format!(
            "size {size}: {} (state and log kept in {})",
            anomalies.join("; "),
            dir.display()
        );
        for line in daemon.log_notable(40) {
            note.push_str("\n    ");
            note.push_str(&line);
        }
        notes.push(note);
    }
    drop(daemon);

    eprintln!("[{size}] reference: {size} process groups");
    let reference = reference(size, timeout, notes)?;
    Ok(Row {
        size,
        stop_to_exit,
        report_ms,
        reference,
        stopped,
        killed,
        failed,
    })
}

/// SIGTERM, wait until all exited or `timeout` passed, SIGKILL the rest, reap: the time
/// this takes on `size` plain process groups, every third ignoring SIGTERM.
fn reference(size: usize, timeout: Duration, notes: &mut Vec<String>) -> Result<Duration> {
    let commands: Vec<&str> = (0..size)
        .map(|i| if stubborn(i) { STUBBORN } else { IDLE })
        .collect();
    let marker = format!("{}-{size}", std::process::id());
    let mut groups = Groups::spawn(&commands, ("MSB_BENCH_REFERENCE", &marker))?;
    wait_ready(&groups, &commands)?;

    let start = Instant::now();
    groups.signal(Signal::SIGTERM);
    let deadline = start + timeout;
    while groups.reap() > 0 && Instant::now() < deadline {
        proc::sleep(Duration::from_millis(1))?;
    }
    groups.signal(Signal::SIGKILL);
    let kill_deadline = Instant::now() + CTL_WAIT;
    while groups.reap() > 0 {
        if Instant::now() >= kill_deadline {
            return Err(format!(
                "reference: process groups survive SIGKILL for {CTL_WAIT:?}"
            ));
        }
        proc::sleep(Duration::from_millis(1))?;
    }
    let elapsed = start.elapsed();
    drop(groups);

    let left = proc::marked("MSB_BENCH_REFERENCE", &marker);
    if !left.is_empty() {
        notes.push(format!(
            "reference {size}: {} processes left after SIGKILL",
            left.len()
        ));
        proc::kill_marked("MSB_BENCH_REFERENCE", &marker);
    }
    Ok(elapsed)
}

/// Waits until every group's leader is ready: a stubborn shell has set its trap (SIGTERM in
/// its ignored set), an idle one has become `sleep`. Before that a SIGTERM would end either.
fn wait_ready(groups: &Groups, commands: &[&str]) -> Result<()> {
    let deadline = Instant::now() + READY_WAIT;
    let mut pending: Vec<usize> = (0..groups.len()).collect();
    loop {
        pending.retain(|&i| {
            let pid = groups.pid(i);
            if commands[i] == STUBBORN {
                !ignores_term(pid)
            } else {
                fs::read_to_string(format!("/proc/{pid}/comm"))
                    .map_or(true, |c| c.trim() != "sleep")
            }
        });
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "reference: {} of {} processes not ready after {READY_WAIT:?}",
                pending.len(),
                groups.len()
            ));
        }
        proc::sleep(Duration::from_millis(5))?;
    }
}

/// True when `pid` ignores SIGTERM (`SigIgn` in /proc/PID/status).
fn ignores_term(pid: u32) -> bool {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (Signal::SIGTERM as u64 - 1)) != 0)
}
