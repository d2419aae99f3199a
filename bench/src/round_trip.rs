//! Section 1: msbctl's round trips (status, health, --json status, sessions list) run by run
//! beside the floor client: exec + connect + one 64-byte round trip to an echo server.

use crate::daemon::{Daemon, CTL_WAIT};
use crate::floor::Echo;
use crate::proc;
use crate::suite::Plan;
use crate::table::{median_ms, Figure, Table, Target};
use crate::Result;
use std::time::Duration;

pub fn run(daemon: &Daemon, echo: &Echo, plan: &Plan, table: &Table) -> Result<()> {
    let probes: [(&str, &[&str], Target); 4] = [
        ("msbctl status", &["status"], Target::RatioAtMost(1.2)),
        ("msbctl health", &["health"], Target::None),
        ("msbctl --json status", &["--json", "status"], Target::None),
        (
            "msbctl sessions list (10 sessions)",
            &["sessions", "list"],
            Target::None,
        ),
    ];
    let commands: Vec<&[&str]> = probes.iter().map(|p| p.1).collect();
    let (floor, times) = interleaved(daemon, echo, &commands, plan.pairs)?;
    let floor = Figure::ms(median_ms(&floor));
    for ((what, _, target), samples) in probes.iter().zip(times) {
        table.row(
            what,
            Figure::ms(median_ms(&samples)),
            Some(floor.clone()),
            *target,
        );
    }
    Ok(())
}

/// `pairs` rounds of: the floor client, then each of `commands` through msbctl. Returns the
/// floor's times and each command's.
pub fn interleaved(
    daemon: &Daemon,
    echo: &Echo,
    commands: &[&[&str]],
    pairs: usize,
) -> Result<(Vec<Duration>, Vec<Vec<Duration>>)> {
    let mut floor = Vec::with_capacity(pairs);
    let mut times = vec![Vec::with_capacity(pairs); commands.len()];
    for _ in 0..pairs {
        floor.push(proc::time(echo.client()?, "the floor client", CTL_WAIT)?);
        for (args, samples) in commands.iter().zip(&mut times) {
            let what = format!("msbctl {}", args.join(" "));
            samples.push(
                proc::time(daemon.ctl.command(args), &what, CTL_WAIT)
                    .map_err(|e| daemon.with_log(&e))?,
            );
        }
    }
    Ok((floor, times))
}
