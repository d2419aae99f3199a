//! Section 3: one daemon per size and isolation (`none`, and the default), filled with real
//! process sandboxes: create rates, memory per session, `status` and `sessions list` beside
//! the floor client, session-cleanup with nothing and with 1% expired, orphan-cleanup,
//! restore after SIGKILL, session-cleanup over the adopted sessions, and `stop` of all.
//!
//! A cycle run on request (`msbctl run TASK`) is timed as its round trip less that of
//! `msbctl status` in the same runs: the cycle reports whole milliseconds only.

use crate::daemon::{Bins, Daemon, CTL_WAIT};
use crate::floor::Echo;
use crate::round_trip::interleaved;
use crate::suite::Plan;
use crate::table::{median_ms, Figure, Table, Target};
use crate::{figures, proc, Context, Result};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Clients creating sessions at once after the sequential ones, and touching them.
const CLIENTS: usize = 16;
/// How long the sessions may take to be listed after a restore.
const RESTORE_WAIT: Duration = Duration::from_secs(30);
/// How long a `stop` gives the sandboxes, which all exit on SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(bins: &Bins, echo: &Echo, plan: &Plan, table: &Table) -> Result<()> {
    for isolation in ["none", "auto"] {
        for &size in &plan.sizes {
            one(bins, echo, plan, table, isolation, size)?;
        }
    }
    Ok(())
}

fn one(
    bins: &Bins,
    echo: &Echo,
    plan: &Plan,
    table: &Table,
    isolation: &str,
    size: usize,
) -> Result<()> {
    let what = |name: &str| format!("{name}, {size} {isolation}");
    eprintln!("[scale] {size} sessions, --isolation {isolation}");
    let expiry = figures::timeout_arg(plan.expiry);
    let args = crate::shutdown::daemon_args(&expiry, &["--isolation", isolation]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut daemon = Daemon::start(bins, &args)?;
    let rss_before = daemon.rss_kib()?;

    let sequential = plan.sequential.min(size);
    let start = Instant::now();
    let mut ids = daemon.create_sessions(&vec![None; sequential], 1)?;
    let rate = sequential as f64 / start.elapsed().as_secs_f64();
    table.row(
        &what("create, sequential"),
        Figure::with_unit(rate, "/s").and(&format!("{sequential} sessions")),
        None,
        Target::None,
    );
    // The memory a session adds is measured over the last two thirds of the sessions: the
    // first ones also pay for what any load brings once (the blocking pool's threads, their
    // allocator arenas, SQLite's cache, code paged in), which is no session's own.
    let third = (size / 3).max(sequential);
    let mut rss_third = daemon.rss_kib()?;
    if size > sequential {
        let start = Instant::now();
        ids.extend(daemon.create_sessions(&vec![None; third - sequential], CLIENTS)?);
        rss_third = daemon.rss_kib()?;
        ids.extend(daemon.create_sessions(&vec![None; size - third], CLIENTS)?);
        let rate = (size - sequential) as f64 / start.elapsed().as_secs_f64();
        table.row(
            &what("create, 16 clients"),
            Figure::with_unit(rate, "/s").and(&format!("{} sessions", size - sequential)),
            None,
            Target::None,
        );
    }
    let rss = daemon.rss_kib()?;
    table.row(
        &what("daemon RSS growth / sessions"),
        Figure::with_unit(rss.saturating_sub(rss_before) as f64 / size as f64, "KiB")
            .and(&format!("RSS {} → {} MiB", rss_before / 1024, rss / 1024)),
        None,
        Target::None,
    );
    if size > third {
        table.row(
            &what("daemon memory per session"),
            Figure::with_unit(
                rss.saturating_sub(rss_third) as f64 / (size - third) as f64,
                "KiB",
            )
            .and(&format!(
                "RSS {:.1} → {:.1} MiB from {third} to {size} sessions",
                rss_third as f64 / 1024.0,
                rss as f64 / 1024.0
            )),
            None,
            // The target is at 3,000 sessions; below, a hash table that has just
            // doubled weighs on few sessions.
            if size >= 3000 {
                Target::AtMost(1.0)
            } else {
                Target::None
            },
        );
    }

    // Every session fresh: nothing is due until `expiry` has passed.
    touch(echo, &daemon, &ids)?;
    let touched = Instant::now();
    let cleanup = cycle(&daemon, "session-cleanup", plan)?;
    if touched.elapsed() >= plan.expiry {
        eprintln!(
            "[scale] note: session-cleanup with nothing expired took longer than the session \
             timeout {} to measure; sessions may have been due in it",
            figures::timeout(plan.expiry)
        );
    }
    let list = list_args(&daemon);
    let (floor, times) = interleaved(&daemon, echo, &[&["status"], &list], plan.pairs / 2)?;
    let floor = Figure::ms(median_ms(&floor));
    table.row(
        &what("msbctl status"),
        Figure::ms(median_ms(&times[0])),
        Some(floor.clone()),
        Target::None,
    );
    let limited = list.len() > 2;
    table.row(
        &what(&format!("msbctl {}", list.join(" "))),
        Figure::ms(median_ms(&times[1])),
        Some(floor),
        if limited {
            Target::RatioAtMost(1.5)
        } else {
            Target::None
        },
    );
    cleanup.row(table, &what("session-cleanup, 0% expired"), 0.1);
    cycle(&daemon, "orphan-cleanup", plan)?.row(table, &what("orphan-cleanup"), 10.0);

    // The first 1% expire: the others are touched once the first are past the timeout.
    let expiring = (size / 100).max(1);
    proc::sleep(plan.expiry.saturating_sub(touched.elapsed()) + Duration::from_millis(200))?;
    touch(echo, &daemon, &ids[expiring..])?;
    let run = daemon
        .ctl
        .run(&["--json", "run", "session-cleanup"], CTL_WAIT)?;
    let report = run.json().context("msbctl run session-cleanup")?;
    let expired = report["counts"]["expired"].as_u64().unwrap_or(0);
    table.row(
        &what(&format!("session-cleanup, {expiring} expired (1%)")),
        Figure::ms(report["duration_ms"].as_f64().unwrap_or(f64::NAN))
            .and(&format!("{expired} expired, cycle's own report")),
        None,
        Target::AtMost(150.0),
    );
    if expired != expiring as u64 {
        eprintln!("[scale] note: {expired} expired of {expiring} expected: {report}");
    }
    let ids = &ids[expiring..];

    // Restored sessions keep the last access the store has, older than the short timeout:
    // the next daemon must not expire them in its first cycle.
    daemon.set_flag("--session-timeout", "1h")?;
    let restore = daemon.restart_after_kill()?;
    table.row(
        &what("restore after SIGKILL, until status answers"),
        Figure::ms(restore.as_secs_f64() * 1000.0),
        None,
        if size <= 1000 {
            Target::AtMost(300.0)
        } else {
            Target::None
        },
    );
    let ids = restored(&daemon, ids.len())?;
    touch(echo, &daemon, &ids)?;
    cycle(&daemon, "session-cleanup", plan)?.row(
        table,
        &what("session-cleanup, 0% expired, adopted"),
        0.1,
    );

    let left = ids.len();
    let pid = daemon.pid().unwrap_or_default();
    let timeout_arg = figures::timeout_arg(STOP_TIMEOUT);
    let start = Instant::now();
    let stop = daemon
        .ctl
        .spawn(&["--json", "stop", "--timeout", &timeout_arg])?;
    let Some((_, exited)) = daemon.wait_exit(STOP_TIMEOUT + CTL_WAIT)? else {
        return Err(daemon.still_running(pid, &timeout_arg, STOP_TIMEOUT + CTL_WAIT));
    };
    let report = stop.finish(CTL_WAIT)?.json().context("msbctl stop")?;
    table.row(
        &what(&format!("stop of {left} sandboxes, until msbd exits")),
        Figure::ms(exited.duration_since(start).as_secs_f64() * 1000.0).and(&format!(
            "{} stopped, {} killed, {} failed",
            report["stopped"], report["killed"], report["failed"]
        )),
        None,
        if size <= 1000 {
            Target::AtMost(1500.0)
        } else {
            Target::None
        },
    );
    let mut notes: Vec<String> = daemon.leftovers().into_iter().collect();
    if report["failed"].as_u64() != Some(0) {
        notes.push(format!("stop report: {report}"));
    }
    if !notes.is_empty() {
        notes.push(format!("state and log kept in {}", daemon.keep().display()));
        notes.extend(
            daemon
                .log_notable(10)
                .into_iter()
                .map(|l| format!("log: {l}")),
        );
    }
    for note in notes {
        eprintln!("[scale] note: {note}");
    }
    Ok(())
}

/// The sessions msbd lists once it has restored `expected` of them, or at most
/// [`RESTORE_WAIT`] after it answers; fewer are a note.
fn restored(daemon: &Daemon, expected: usize) -> Result<Vec<String>> {
    let deadline = Instant::now() + RESTORE_WAIT;
    loop {
        let run = daemon.ctl.run(&["sessions", "list", "--quiet"], CTL_WAIT)?;
        if !run.ok() {
            return Err(daemon.with_log(&format!("msbctl sessions list: {}", run.why())));
        }
        let ids: Vec<String> = run.stdout.lines().map(String::from).collect();
        if ids.len() >= expected || Instant::now() >= deadline {
            if ids.len() < expected {
                eprintln!(
                    "[scale] note: {} sessions of {expected} restored after SIGKILL",
                    ids.len()
                );
            }
            return Ok(ids);
        }
        proc::sleep(Duration::from_millis(100))?;
    }
}

/// `sessions list --limit 100` where msbctl has it, else `sessions list`.
fn list_args(daemon: &Daemon) -> Vec<&'static str> {
    let limited = ["sessions", "list", "--limit", "100"];
    match daemon.ctl.run(&limited, CTL_WAIT) {
        Ok(run) if run.ok() => limited.to_vec(),
        _ => vec!["sessions", "list"],
    }
}

/// Cycles of a task run on request, timed by msbd itself: how much the sum of its
/// `msbd_task_cycle_duration_seconds` histogram grew over how many it counted, so that the
/// figure is the cycle alone, not the round trip that asked for it.
struct Cycle {
    /// The mean duration, in ms.
    mean: f64,
    cycles: u64,
}

impl Cycle {
    fn row(&self, table: &Table, what: &str, target_ms: f64) {
        table.row(
            what,
            Figure::ms(self.mean).and(&format!(
                "mean of {} cycles, msbd's own timing",
                self.cycles
            )),
            None,
            Target::AtMost(target_ms),
        );
    }
}

fn cycle(daemon: &Daemon, task: &str, plan: &Plan) -> Result<Cycle> {
    let (sum, count) = timed_cycles(daemon, task)?;
    for _ in 0..(plan.pairs / 4).max(5) {
        let run = daemon.ctl.run(&["run", task], CTL_WAIT)?;
        if !run.ok() {
            return Err(daemon.with_log(&format!("msbctl run {task}: {}", run.why())));
        }
    }
    let (sum_after, count_after) = timed_cycles(daemon, task)?;
    let cycles = count_after.saturating_sub(count);
    if cycles == 0 {
        return Err(format!("msbd counted no {task} cycle of those run"));
    }
    Ok(Cycle {
        mean: (sum_after - sum) / cycles as f64 * 1000.0,
        cycles,
    })
}

/// The sum (in seconds) and count of `task`'s cycle durations, from `msbctl metrics`.
fn timed_cycles(daemon: &Daemon, task: &str) -> Result<(f64, u64)> {
    let run = daemon.ctl.run(&["metrics"], CTL_WAIT)?;
    if !run.ok() {
        return Err(format!("msbctl metrics: {}", run.why()));
    }
    let value = |part: &str| {
        let key = format!("msbd_task_cycle_duration_seconds_{part}{{task=\"{task}\"}} ");
        run.stdout
            .lines()
            .find_map(|line| line.strip_prefix(&key))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .ok_or_else(|| format!("msbctl metrics has no number for {}", key.trim_end()))
    };
    Ok((value("sum")?, value("count")? as u64))
}

/// Touches every session of `ids` from [`CLIENTS`] connections at once.
fn touch(echo: &Echo, daemon: &Daemon, ids: &[String]) -> Result<()> {
    let socket: PathBuf = daemon.ctl.socket.clone();
    echo.runtime.block_on(async {
        let chunks: Vec<Vec<String>> = ids
            .chunks(ids.len().div_ceil(CLIENTS).max(1))
            .map(<[String]>::to_vec)
            .collect();
        let tasks: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let socket = socket.clone();
                tokio::spawn(async move {
                    let mut client = msb_proto::Client::connect(&socket, "msb-bench")
                        .await
                        .context("connect to msbd")?;
                    for id in chunk {
                        client.session_touch(id).await.context("touch")?;
                    }
                    Ok::<_, String>(())
                })
            })
            .collect();
        for task in tasks {
            tokio::time::timeout(CTL_WAIT, task)
                .await
                .map_err(|_| "touching the sessions took too long".to_string())?
                .context("a touch client panicked")??;
        }
        Ok(())
    })
}
