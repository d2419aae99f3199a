//! Telling the service manager how msbd is (sd_notify): `READY=1` once it serves, a short
//! `STATUS=` line, `STOPPING=1` when a shutdown starts, and `WATCHDOG=1` pings at half of
//! `WATCHDOG_USEC` while no task is stalled, so that a stalled cycle lets the watchdog
//! restart msbd. Nothing is sent unless `NOTIFY_SOCKET` is set.

use crate::context::Context;
use crate::supervisor::overall;
use msb_proto::{Health, TaskState, TaskStatus};
use sd_notify::NotifyState;
use std::sync::Arc;
use std::time::Duration;

/// How often the status line is refreshed when no watchdog asks for more.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// True when msbd runs under a service manager that listens (`Type=notify`).
fn listening() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

fn send(states: &[NotifyState]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::warn!(error = %err, "cannot notify the service manager (NOTIFY_SOCKET)");
    }
}

/// msbd serves: its socket listens and the registry is restored.
pub fn ready(ctx: &Context) {
    let (line, _) = beat(
        &states(&ctx.supervisor.status()),
        ctx.sessions.totals().sessions,
    );
    send(&[NotifyState::Ready, NotifyState::Status(&line)]);
}

/// A shutdown has begun.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Refreshes the status line and pings the watchdog, for as long as msbd runs.
pub async fn keep_alive(ctx: Arc<Context>) {
    if !listening() {
        return;
    }
    let watchdog = sd_notify::watchdog_enabled();
    let every = watchdog.map_or(STATUS_EVERY, |limit| (limit / 2).min(STATUS_EVERY));
    let mut ticks = tokio::time::interval(every);
    let mut withheld = false;
    loop {
        ticks.tick().await;
        let tasks = ctx.supervisor.status();
        let (line, stalled) = beat(&states(&tasks), ctx.sessions.totals().sessions);
        if watchdog.is_some() && !stalled.is_empty() && !withheld {
            tracing::error!(
                tasks = %stalled.join(", "),
                "a task is stalled: watchdog pings stop, so the service manager restarts msbd"
            );
        }
        withheld = !stalled.is_empty();
        let status = NotifyState::Status(&line);
        if watchdog.is_some() && !withheld {
            send(&[status, NotifyState::Watchdog]);
        } else {
            send(&[status]);
        }
    }
}

/// Each task's name, state and health.
fn states(tasks: &[TaskStatus]) -> Vec<(&str, TaskState, Health)> {
    tasks
        .iter()
        .map(|t| (t.name.as_str(), t.state, t.health))
        .collect()
}

/// The status line for these tasks and sessions, and the names of the stalled tasks.
fn beat<'a>(tasks: &[(&'a str, TaskState, Health)], sessions: u64) -> (String, Vec<&'a str>) {
    let stalled: Vec<&str> = tasks
        .iter()
        .filter(|(_, state, _)| *state == TaskState::Stalled)
        .map(|(name, _, _)| *name)
        .collect();
    let plural = if sessions == 1 { "" } else { "s" };
    let health = overall(tasks.iter().map(|(_, _, health)| *health));
    let mut line = format!("serving, {sessions} session{plural}, {health}");
    if !stalled.is_empty() {
        line.push_str(&format!(": stalled {}", stalled.join(", ")));
    }
    (line, stalled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stalled_task_is_named_and_withholds_the_ping() {
        let tasks = [
            ("session-cleanup", TaskState::Stalled, Health::Unhealthy),
            ("orphan-cleanup", TaskState::Running, Health::Healthy),
        ];
        let (line, stalled) = beat(&tasks, 1);
        assert_eq!(
            line,
            "serving, 1 session, unhealthy: stalled session-cleanup"
        );
        assert_eq!(stalled, ["session-cleanup"]);
    }

    #[test]
    fn healthy_tasks_ping() {
        let tasks = [("orphan-cleanup", TaskState::Paused, Health::Degraded)];
        let (line, stalled) = beat(&tasks, 3);
        assert_eq!(line, "serving, 3 sessions, degraded");
        assert!(stalled.is_empty());
    }
}
