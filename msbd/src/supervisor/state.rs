//! The state a task shares between its runner (the only writer) and the status readers.
//! Guarded by a plain `std::sync::Mutex`: every critical section is a few field updates and
//! never spans an `.await`.

use super::health::health_of;
use crate::clock::unix_secs;
use crate::events::Events;
use msb_proto::{
    CycleReport, EventKind, Fault, Health, PauseInfo, TaskHealth, TaskState, TaskStatus,
};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// A pause is a lease: who took it, why, and until when.
#[derive(Debug, Clone)]
pub struct Lease {
    pub by_uid: Option<u32>,
    pub reason: Option<String>,
    pub since: SystemTime,
    /// Monotonic deadline for the timer, wall-clock twin for display.
    pub until: Option<(Instant, SystemTime)>,
}

#[derive(Debug)]
pub struct Record {
    /// The runner's own state; `Paused` is derived from `pause` (see `reported_state`).
    pub state: TaskState,
    pub reported: TaskState,
    pub state_since: SystemTime,
    pub in_cycle: bool,
    pub pause: Option<Lease>,
    pub next_run: Option<Instant>,
    pub cycles: u64,
    pub failed_cycles: u64,
    pub consecutive_failures: u64,
    pub restarts: u64,
    pub processed_total: u64,
    pub last_cycle: Option<CycleReport>,
    pub last_error: Option<String>,
    /// How often the task runs; a reload may change it.
    pub interval: Duration,
    /// How long a cycle may run before the task is `stalled`; a reload may change it.
    pub stall_after: Duration,
}

impl Record {
    /// A running task holding a pause lease is reported `paused` once it is parked between
    /// cycles; failures and stalls outrank the pause.
    pub fn reported_state(&self) -> TaskState {
        match self.state {
            TaskState::Running if self.pause.is_some() && !self.in_cycle => TaskState::Paused,
            state => state,
        }
    }

    pub fn lease_end(&self) -> Option<Instant> {
        self.pause.as_ref()?.until.map(|(at, _)| at)
    }

    /// Takes a new interval: a cycle already scheduled moves to the last one's end plus the
    /// new interval (at once, if that has passed).
    pub fn set_interval(&mut self, interval: Duration) {
        if let Some(next) = self.next_run {
            let now = Instant::now();
            let due = if interval < self.interval {
                next.checked_sub(self.interval - interval).unwrap_or(now)
            } else {
                next + (interval - self.interval)
            };
            self.next_run = Some(due.max(now));
        }
        self.interval = interval;
    }
}

/// Faults injected for tests: panic and hang fire once, error holds until cleared.
#[derive(Debug, Default)]
pub struct Faults {
    once: Option<Fault>,
    error: bool,
}

pub struct Shared {
    pub name: &'static str,
    record: Mutex<Record>,
    faults: Mutex<Faults>,
    /// Told of every change of the reported state.
    pub events: Events,
}

impl Shared {
    /// A task that starts running, or parked under `pause` (a lease kept across a restart).
    pub fn new(
        name: &'static str,
        interval: Duration,
        stall_after: Duration,
        pause: Option<Lease>,
        events: Events,
    ) -> Self {
        let now = SystemTime::now();
        Self {
            name,
            record: Mutex::new(Record {
                state: TaskState::Running,
                reported: if pause.is_some() {
                    TaskState::Paused
                } else {
                    TaskState::Running
                },
                state_since: now,
                in_cycle: false,
                pause,
                // The first cycle runs right after start-up.
                next_run: Some(Instant::now()),
                cycles: 0,
                failed_cycles: 0,
                consecutive_failures: 0,
                restarts: 0,
                processed_total: 0,
                last_cycle: None,
                last_error: None,
                interval,
                stall_after,
            }),
            faults: Mutex::new(Faults::default()),
            events,
        }
    }

    /// A poisoned lock only means a reader panicked mid-copy; the record itself is plain data.
    pub fn lock(&self) -> MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `change` and keeps `state_since` in step with the reported state; a new
    /// reported state is an event. Only the task's runner calls it, so the status read
    /// after the change is still that change's.
    pub fn update<T>(&self, change: impl FnOnce(&mut Record) -> T) -> T {
        let (out, changed) = {
            let mut record = self.lock();
            let out = change(&mut record);
            let reported = record.reported_state();
            let changed = reported != record.reported;
            if changed {
                record.reported = reported;
                record.state_since = SystemTime::now();
            }
            (out, changed)
        };
        if changed {
            let status = self.status();
            self.events.emit(EventKind::TaskState {
                task: status.name,
                state: status.state,
                reason: status.reason,
            });
        }
        out
    }

    pub fn inject(&self, fault: Fault) {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        match fault {
            Fault::Panic | Fault::Hang => faults.once = Some(fault),
            Fault::Error => faults.error = true,
            Fault::Clear => *faults = Faults::default(),
        }
    }

    /// The fault the next cycle must act out, if any.
    pub fn take_fault(&self) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        faults.once.take().or(faults.error.then_some(Fault::Error))
    }

    pub fn status(&self) -> TaskStatus {
        let record = self.lock();
        let state = record.reported_state();
        let health = health_of(state, record.consecutive_failures);
        let now = Instant::now();
        let pause = pause_info(&record, now);
        TaskStatus {
            name: self.name.to_string(),
            state,
            health,
            interval_secs: record.interval.as_secs_f64(),
            cycles: record.cycles,
            failed_cycles: record.failed_cycles,
            consecutive_failures: record.consecutive_failures,
            restarts: record.restarts,
            processed_total: record.processed_total,
            paused_until: pause.as_ref().and_then(|p| p.until),
            last_cycle: record.last_cycle.clone(),
            last_error: record.last_error.clone(),
            state_since: unix_secs(record.state_since),
            next_run_in_ms: (record.state == TaskState::Running && record.pause.is_none())
                .then_some(record.next_run)
                .flatten()
                .map(|at| at.saturating_duration_since(now).as_millis() as u64),
            reason: reason(&record, state, health, pause.as_ref()),
            pause,
        }
    }

    /// What `health` tells of the task: its status without the counters and the last
    /// cycle, which are not copied for it.
    pub fn health(&self) -> TaskHealth {
        let record = self.lock();
        let state = record.reported_state();
        let health = health_of(state, record.consecutive_failures);
        let reason = match health {
            Health::Healthy => None,
            _ => reason(
                &record,
                state,
                health,
                pause_info(&record, Instant::now()).as_ref(),
            ),
        };
        TaskHealth {
            name: self.name.to_string(),
            state,
            health,
            reason,
        }
    }
}

fn pause_info(record: &Record, now: Instant) -> Option<PauseInfo> {
    record.pause.as_ref().map(|lease| PauseInfo {
        by_uid: lease.by_uid,
        reason: lease.reason.clone(),
        since: unix_secs(lease.since),
        until: lease.until.map(|(_, wall)| unix_secs(wall)),
        remaining_ms: lease
            .until
            .map(|(at, _)| at.saturating_duration_since(now).as_millis() as u64),
    })
}

/// One line on why a task is not healthy, for `health` and `status`.
fn reason(
    record: &Record,
    state: TaskState,
    health: Health,
    pause: Option<&PauseInfo>,
) -> Option<String> {
    if health == Health::Healthy {
        return None;
    }
    let last_error = record.last_error.as_deref().unwrap_or("unknown error");
    Some(match state {
        TaskState::Paused => {
            let pause = pause?;
            let mut text = match pause.by_uid {
                Some(uid) => format!("paused by uid {uid}"),
                None => "paused".to_string(),
            };
            if let Some(reason) = &pause.reason {
                text.push_str(&format!(" ({reason})"));
            }
            match pause.remaining_ms {
                Some(ms) => text.push_str(&format!(
                    ", resumes in {}",
                    msb_proto::units::format_duration(Duration::from_millis(ms))
                )),
                None => text.push_str(", until resumed"),
            }
            text
        }
        TaskState::Stalled => format!(
            "cycle has run longer than {}",
            msb_proto::units::format_duration(record.stall_after)
        ),
        TaskState::Failed => format!("failed: {last_error}"),
        TaskState::Backoff => format!("restarting after: {last_error}"),
        TaskState::Stopped => "stopped".to_string(),
        TaskState::Running => format!("last cycle failed: {last_error}"),
    })
}
