//! Section 4: msbd's own cost at a scale no host holds in processes. msbd's registry (the
//! library's own type, as the daemon uses it) filled with sessions that have no sandbox
//! behind them, then the work of a session-cleanup cycle before any stop: finding the
//! sessions due, with none and with 1% expired.

use crate::proc;
use crate::suite::Plan;
use crate::table::{median_ms, Figure, Table, Target};
use crate::Result;
use msb_proto::{Flavor, Labels, SessionStatus};
use msbd::session::Session;
use msbd::sessions::Registry;
use std::time::Instant;

/// The session timeout of the registry.
const TIMEOUT_MS: u64 = 30 * 60 * 1000;
/// Runs of each measure; the median is shown.
const RUNS: usize = 21;

pub fn run(plan: &Plan, table: &Table) -> Result<()> {
    let size = plan.in_process;
    eprintln!("[in-process] {size} sessions");
    let now = msbd::clock::now_ms();
    let rss_before = proc::rss_kib(std::process::id())?;
    let mut registry = Registry::new(TIMEOUT_MS, TIMEOUT_MS);
    let start = Instant::now();
    for i in 0..size {
        registry.insert(session(i, now));
    }
    let insert = start.elapsed();
    let rss = proc::rss_kib(std::process::id())?;
    let what = |name: &str| format!("{name}, {size} in-process");
    table.row(
        &what("registry insert"),
        Figure::with_unit(size as f64 / insert.as_secs_f64(), "/s"),
        None,
        Target::None,
    );
    table.row(
        &what("registry memory per session"),
        Figure::with_unit(rss.saturating_sub(rss_before) as f64 / size as f64, "KiB"),
        None,
        Target::AtMost(1.0),
    );
    let due = |registry: &Registry| {
        let mut samples = Vec::with_capacity(RUNS);
        let mut found = 0;
        for _ in 0..RUNS {
            let start = Instant::now();
            found = registry.due(msbd::clock::now_ms()).len();
            samples.push(start.elapsed());
        }
        (median_ms(&samples), found)
    };
    let (none, found) = due(&registry);
    table.row(
        &what("session-cleanup's scan, 0% expired"),
        Figure::ms(none).and(&format!("{found} due")),
        None,
        Target::AtMost(0.1),
    );
    let expiring = size / 100;
    let idle_since = now.saturating_sub(TIMEOUT_MS + 1000);
    for i in 0..expiring {
        registry.update(&id(i), |s| s.last_accessed_ms = idle_since);
    }
    let (some, found) = due(&registry);
    table.row(
        &what("session-cleanup's scan, 1% expired"),
        Figure::ms(some).and(&format!("{found} due")),
        None,
        Target::None,
    );
    Ok(())
}

fn id(i: usize) -> String {
    format!("bench-{i:08}")
}

fn session(i: usize, now: u64) -> Session {
    Session {
        id: id(i),
        template: "default".into(),
        flavor: Flavor::Small,
        status: SessionStatus::Ready,
        sandbox: format!("msb-bench-{i:08}"),
        created_at_ms: now,
        last_accessed_ms: now,
        busy_since_ms: None,
        error: None,
        owner: Some(0),
        labels: Labels::new(),
        stopping: false,
        working: 0,
    }
}
