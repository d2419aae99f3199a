//! Task commands: status, health, restart, pause (with its maintenance-command form),
//! resume and run.

use super::show_actions;
use crate::output::{Failure, Out};
use crate::{exit, render};
use msb_proto::{Client, CycleOutcome, Health, PauseRequest, RestartRequest, TaskSelection};
use std::time::Duration;

fn selection(tasks: Vec<String>) -> TaskSelection {
    if tasks.is_empty() {
        TaskSelection::All
    } else {
        TaskSelection::Named(tasks)
    }
}

pub async fn status(client: &mut Client, task: Option<String>, out: &Out) -> Result<u8, Failure> {
    let report = client.status(task).await?;
    out.show(&report, |r| render::status(r, out.paint))?;
    Ok(exit::OK)
}

/// Monitoring-plugin convention: 0 healthy, 1 degraded, 2 unhealthy (3 is unreachable).
pub async fn health(client: &mut Client, out: &Out) -> Result<u8, Failure> {
    let report = client.health().await?;
    out.show(&report, |r| render::health(r, out.paint))?;
    Ok(match report.overall {
        Health::Healthy => 0,
        Health::Degraded => 1,
        Health::Unhealthy => 2,
    })
}

pub async fn restart(
    client: &mut Client,
    tasks: Vec<String>,
    force: bool,
    out: &Out,
) -> Result<u8, Failure> {
    let actions = client
        .restart(RestartRequest {
            tasks: selection(tasks),
            force,
        })
        .await?;
    show_actions(&actions, out)
}

pub async fn resume(client: &mut Client, tasks: Vec<String>, out: &Out) -> Result<u8, Failure> {
    let actions = client.resume(selection(tasks)).await?;
    show_actions(&actions, out)
}

pub async fn run_now(client: &mut Client, task: String, out: &Out) -> Result<u8, Failure> {
    let report = client.run_now(task).await?;
    out.show(&report, render::cycle)?;
    Ok(if report.outcome == CycleOutcome::Ok {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// Pauses; `maintenance` runs a command around a pause.
pub async fn pause(
    client: &mut Client,
    tasks: Vec<String>,
    for_: Option<Duration>,
    reason: Option<String>,
    out: &Out,
) -> Result<u8, Failure> {
    let actions = client.pause(pause_request(tasks, for_, reason)).await?;
    show_actions(&actions, out)
}

/// The request of `pause`, with a command or without.
pub fn pause_request(
    tasks: Vec<String>,
    for_: Option<Duration>,
    reason: Option<String>,
) -> PauseRequest {
    PauseRequest {
        tasks: selection(tasks),
        for_ms: for_.map(|d| d.as_millis() as u64),
        reason,
    }
}
