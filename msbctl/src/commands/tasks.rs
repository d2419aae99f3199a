//! Task commands: status, health, restart, pause (with its maintenance-command form),
//! resume and run.

use super::show_actions;
use crate::output::{Failure, Out};
use crate::{exit, render};
use msb_proto::{
    ActionResult, Client, CycleOutcome, Health, PauseRequest, RestartRequest, TaskSelection,
};
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
    out.show(&report, render::status)?;
    Ok(exit::OK)
}

/// Monitoring-plugin convention: 0 healthy, 1 degraded, 2 unhealthy (3 is unreachable).
pub async fn health(client: &mut Client, out: &Out) -> Result<u8, Failure> {
    let report = client.health().await?;
    out.show(&report, render::health)?;
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

/// Pauses; with a command, runs it while paused, resumes when it exits and returns its
/// exit status. The lease's deadline (`--for`) still ends the pause if msbctl dies.
pub async fn pause(
    client: &mut Client,
    tasks: Vec<String>,
    for_: Option<Duration>,
    reason: Option<String>,
    command: Vec<String>,
    out: &Out,
) -> Result<u8, Failure> {
    let actions = client
        .pause(PauseRequest {
            tasks: selection(tasks),
            for_ms: for_.map(|d| d.as_millis() as u64),
            reason,
        })
        .await?;
    let Some((program, args)) = command.split_first() else {
        return show_actions(&actions, out);
    };
    if !out.json {
        eprintln!("{}", render::actions(&actions));
    }
    // Resume only what this pause took: a task someone else had paused stays paused.
    let ours: Vec<String> = actions
        .iter()
        .filter(|a| a.result == ActionResult::Paused)
        .map(|a| a.task.clone())
        .collect();
    let status = run_while_paused(program, args).await;
    if ours.is_empty() {
        return status;
    }
    let resumed = client.resume(TaskSelection::Named(ours)).await;
    if !out.json {
        if let Ok(actions) = &resumed {
            eprintln!("{}", render::actions(actions));
        }
    }
    let resumed = resumed?;
    if out.json {
        out.show(resumed.as_slice(), render::actions)?;
    }
    status
}

/// Runs the maintenance command with our stdio. Ctrl-C reaches it through the terminal;
/// msbctl itself survives it so that it can still resume the tasks.
async fn run_while_paused(program: &str, args: &[String]) -> Result<u8, Failure> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .spawn()
        .map_err(|e| Failure::Local(format!("cannot run {program}: {e}")))?;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            _ = tokio::signal::ctrl_c() => continue,
        }
    };
    let status = status.map_err(|e| Failure::Local(format!("cannot wait for {program}: {e}")))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(exit::FAILED),
        (None, Some(signal)) => 128u8.saturating_add(signal as u8),
        (None, None) => exit::FAILED,
    })
}
