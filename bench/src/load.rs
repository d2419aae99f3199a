//! Section 2: requests per second and latency of 1, 16 and 64 connections doing status,
//! touch and health in turn for a while, beside the same number of connections doing
//! 64-byte round trips to the echo server for as long. The two loads take turns in short
//! rounds, so that a slow spell of the machine falls on both rather than on one.

use crate::daemon::Daemon;
use crate::figures::Spread;
use crate::floor::{Echo, MESSAGE};
use crate::suite::Plan;
use crate::table::{Figure, Table, Target};
use crate::{Context, Result};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

const CONNECTIONS: [usize; 3] = [1, 16, 64];

/// Turns each load's time is split into.
const ROUNDS: u32 = 5;

pub fn run(daemon: &Daemon, echo: &Echo, session: &str, plan: &Plan, table: &Table) -> Result<()> {
    let round = plan.load / ROUNDS;
    for conns in CONNECTIONS {
        eprintln!("[throughput] {conns} connections");
        let mut msbd = Vec::new();
        let mut reference = Vec::new();
        for _ in 0..ROUNDS {
            msbd.extend(echo.runtime.block_on(load(conns, round, |_| {
                msbd_client(daemon.ctl.socket.clone(), session.to_string(), round)
            }))?);
            reference.extend(echo.runtime.block_on(load(conns, round, |_| {
                echo_client(echo.socket.clone(), round)
            }))?);
        }
        let target = if conns >= 16 {
            Target::RatioAtLeast(0.8)
        } else {
            Target::None
        };
        table.row(
            &format!("{conns} connection(s), requests/s"),
            rate(&msbd, plan.load),
            Some(rate(&reference, plan.load)),
            target,
        );
    }
    Ok(())
}

/// Requests per second over `load`, with the latencies' p50 and p99.
fn rate(latencies: &[Duration], load: Duration) -> Figure {
    let per_sec = latencies.len() as f64 / load.as_secs_f64();
    let figure = Figure::with_unit(per_sec, "req/s");
    match Spread::of(latencies) {
        Some(s) => figure.and(&format!(
            "p50 {:.0} µs, p99 {:.0} µs",
            s.p50.as_secs_f64() * 1e6,
            s.p99.as_secs_f64() * 1e6
        )),
        None => figure,
    }
}

/// Runs `conns` clients made by `client` at once; returns every request's latency.
async fn load<F, C>(conns: usize, load: Duration, client: C) -> Result<Vec<Duration>>
where
    C: Fn(usize) -> F,
    F: std::future::Future<Output = Result<Vec<Duration>>> + Send + 'static,
{
    let tasks: Vec<_> = (0..conns).map(|i| tokio::spawn(client(i))).collect();
    let mut all = Vec::new();
    for task in tasks {
        let done = tokio::time::timeout(load * 4 + Duration::from_secs(30), task)
            .await
            .map_err(|_| "a load client did not finish in time".to_string())?;
        all.extend(done.context("a load client panicked")??);
    }
    Ok(all)
}

/// One connection to msbd doing status, touch and health in turn until `load` has passed.
async fn msbd_client(socket: PathBuf, session: String, load: Duration) -> Result<Vec<Duration>> {
    let mut client = msb_proto::Client::connect(&socket, "msb-bench")
        .await
        .context("connect to msbd")?;
    let end = Instant::now() + load;
    let mut latencies = Vec::new();
    while Instant::now() < end {
        let start = Instant::now();
        match latencies.len() % 3 {
            0 => client.status(None).await.map(drop),
            1 => client.session_touch(session.clone()).await.map(drop),
            _ => client.health().await.map(drop),
        }
        .context("a request to msbd")?;
        latencies.push(start.elapsed());
    }
    Ok(latencies)
}

/// One connection to the echo server doing 64-byte round trips until `load` has passed.
async fn echo_client(socket: PathBuf, load: Duration) -> Result<Vec<Duration>> {
    let mut stream = tokio::net::UnixStream::connect(&socket)
        .await
        .context("connect to the echo server")?;
    let end = Instant::now() + load;
    let mut latencies = Vec::new();
    let mut buf = [7u8; MESSAGE];
    while Instant::now() < end {
        let start = Instant::now();
        stream.write_all(&buf).await.context("echo write")?;
        stream.read_exact(&mut buf).await.context("echo read")?;
        latencies.push(start.elapsed());
    }
    Ok(latencies)
}
