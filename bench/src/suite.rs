//! The default run: the six sections of the table, in order, on sizes and durations the plan
//! sets (`--quick`: small and short, under two minutes).

use crate::daemon::{Bins, Daemon};
use crate::floor::Echo;
use crate::table::Table;
use crate::{exec, idle, in_process, load, round_trip, scale, Result};
use std::time::Duration;

/// Sizes and durations of one run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Interleaved runs of each client against the floor.
    pub pairs: usize,
    /// How long each throughput load lasts.
    pub load: Duration,
    /// Sessions of the registry-scale section, each size with and without isolation.
    pub sizes: Vec<usize>,
    /// Sessions created one by one before the rest come from 16 clients.
    pub sequential: usize,
    /// The session timeout of the scale section: how long the 1% must wait to expire.
    pub expiry: Duration,
    /// Sessions of the in-process registry.
    pub in_process: usize,
    /// How long the idle daemon is watched.
    pub idle: Duration,
    /// Bytes of the file an exec prints.
    pub big_file: usize,
}

impl Plan {
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                pairs: 20,
                load: Duration::from_secs(1),
                sizes: vec![30],
                sequential: 10,
                expiry: Duration::from_secs(2),
                in_process: 10_000,
                idle: Duration::from_secs(5),
                big_file: 16 << 20,
            }
        } else {
            Self {
                pairs: 100,
                load: Duration::from_secs(5),
                sizes: vec![100, 1000, 3000],
                sequential: 100,
                expiry: Duration::from_secs(10),
                in_process: 100_000,
                idle: Duration::from_secs(60),
                big_file: 128 << 20,
            }
        }
    }
}

/// Runs the sections `only` names (all when it is empty), the scale section on `sizes` when
/// given.
pub fn run(bins: &Bins, quick: bool, only: &[u8], sizes: Option<Vec<usize>>) -> Result<()> {
    let mut plan = Plan::new(quick);
    if let Some(sizes) = sizes {
        plan.sizes = sizes;
    }
    let wanted = |section: u8| only.is_empty() || only.contains(&section);
    let mut table = Table::start();
    let echo = Echo::start()?;
    if wanted(1) || wanted(2) {
        eprintln!("[round trips] msbd --isolation none with 10 sessions");
        let args = crate::shutdown::daemon_args("1h", &["--isolation", "none"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let daemon = Daemon::start(bins, &args)?;
        let ids = daemon.create_sessions(&[None; 10], crate::daemon::CLIENTS)?;
        if wanted(1) {
            table.section(
                "1. CLI round trip (median of interleaved runs; reference: the floor client)",
            );
            round_trip::run(&daemon, &echo, &plan, &table)?;
        }
        if wanted(2) {
            table.section("2. throughput (status/touch/health in turn; reference: the same load on a tokio echo server)");
            load::run(&daemon, &echo, &ids[0], &plan, &table)?;
        }
    }
    if wanted(3) {
        table.section("3. registry scale with real process sandboxes");
        scale::run(bins, &echo, &plan, &table)?;
    }
    if wanted(4) {
        table.section("4. registry scale without processes: msbd's own cost, in-process");
        in_process::run(&plan, &table)?;
    }
    if wanted(5) {
        table.section(
            "5. exec (reference: nsenter into the sandbox's namespaces, or the command run here)",
        );
        exec::run(bins, &plan, &table)?;
    }
    if wanted(6) {
        table.section("6. idle daemon with 100 sessions");
        idle::run(bins, &plan, &table)?;
    }
    Ok(())
}
