//! The generic background-task machinery: schedules cycles, catches panics, notices stalls,
//! restarts with backoff, and carries out pause, resume, restart, run-now and stop.

mod backoff;
mod error;
mod health;
mod runner;
mod state;
mod task;

pub use backoff::RestartPolicy;
pub use error::{CycleError, LeaseError, TaskError};
pub use health::overall;
pub use state::Lease;
pub use task::{CycleContext, CycleResult, Task};

/// Called with a task's name and its new pause lease (`None` when the pause ends); resolves
/// once the lease is stored. A pause is taken only if its lease was stored; the end of a
/// pause stands either way, and an error only says it is not stored yet.
pub type LeaseHook = Arc<
    dyn Fn(&'static str, Option<&Lease>) -> BoxFuture<'static, Result<(), LeaseError>>
        + Send
        + Sync,
>;

use crate::backend::BoxFuture;
use crate::events::Events;
use msb_proto::{CycleReport, Fault, TaskAction, TaskHealth, TaskSelection, TaskStatus};
use runner::{Control, Runner};
use state::Shared;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How one task is run.
pub struct TaskSpec {
    pub task: Arc<dyn Task>,
    pub tuning: Tuning,
    /// A pause lease to start under, kept from before a restart.
    pub pause: Option<Lease>,
}

/// The settings of a task that a reload may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    pub interval: Duration,
    pub stall_after: Duration,
    pub policy: RestartPolicy,
}

struct Handle {
    shared: Arc<Shared>,
    control: mpsc::Sender<Control>,
}

pub struct Supervisor {
    tasks: Vec<Handle>,
}

impl Supervisor {
    /// Starts a runner per task; each runs its first cycle at once unless it starts paused.
    /// What the tasks do is told to `events`.
    pub fn start(specs: Vec<TaskSpec>, on_lease: LeaseHook, events: &Events) -> Self {
        let tasks = specs
            .into_iter()
            .map(|spec| {
                let shared = Arc::new(Shared::new(
                    spec.task.name(),
                    spec.tuning.interval,
                    spec.tuning.stall_after,
                    spec.pause,
                    events.clone(),
                ));
                let (control, rx) = mpsc::channel(32);
                tokio::spawn(
                    Runner::new(
                        shared.clone(),
                        on_lease.clone(),
                        spec.task,
                        spec.tuning.policy,
                        rx,
                    )
                    .run(),
                );
                Handle { shared, control }
            })
            .collect();
        Self { tasks }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.tasks.iter().map(|h| h.shared.name).collect()
    }

    fn find(&self, name: &str) -> Result<&Handle, TaskError> {
        self.tasks
            .iter()
            .find(|h| h.shared.name == name)
            .ok_or_else(|| TaskError::Unknown {
                name: name.to_string(),
                known: self.names().join(", "),
            })
    }

    fn select(&self, selection: &TaskSelection) -> Result<Vec<&Handle>, TaskError> {
        match selection {
            TaskSelection::Named(names) if !names.is_empty() => {
                names.iter().map(|n| self.find(n)).collect()
            }
            _ => Ok(self.tasks.iter().collect()),
        }
    }

    pub fn status(&self) -> Vec<TaskStatus> {
        self.tasks.iter().map(|h| h.shared.status()).collect()
    }

    pub fn health(&self) -> Vec<TaskHealth> {
        self.tasks.iter().map(|h| h.shared.health()).collect()
    }

    pub fn status_of(&self, name: &str) -> Result<TaskStatus, TaskError> {
        Ok(self.find(name)?.shared.status())
    }

    /// Sends one control message to every selected task, then collects every answer, so
    /// tasks in long cycles are waited for side by side.
    async fn ask_all<T>(
        &self,
        selection: &TaskSelection,
        make: impl Fn(oneshot::Sender<T>) -> Control,
    ) -> Result<Vec<T>, TaskError> {
        let mut answers = Vec::new();
        for handle in self.select(selection)? {
            let (reply, answer) = oneshot::channel();
            handle
                .control
                .send(make(reply))
                .await
                .map_err(|_| gone(handle))?;
            answers.push((handle, answer));
        }
        let mut out = Vec::with_capacity(answers.len());
        for (handle, answer) in answers {
            out.push(answer.await.map_err(|_| gone(handle))?);
        }
        Ok(out)
    }

    /// Pauses at the next safe point; returns once each task is parked (or cannot park now
    /// because it is stalled or failed, which the answer says).
    pub async fn pause(
        &self,
        selection: &TaskSelection,
        lease_for: Option<Duration>,
        reason: Option<String>,
        by_uid: Option<u32>,
    ) -> Result<Vec<TaskAction>, TaskError> {
        let lease = Lease {
            by_uid,
            reason,
            since: SystemTime::now(),
            until: lease_for.map(|d| (Instant::now() + d, SystemTime::now() + d)),
        };
        self.ask_all(selection, |reply| Control::Pause {
            lease: lease.clone(),
            reply,
        })
        .await?
        .into_iter()
        .collect()
    }

    /// Ends the pauses now; `by_uid` asked.
    pub async fn resume(
        &self,
        selection: &TaskSelection,
        by_uid: Option<u32>,
    ) -> Result<Vec<TaskAction>, TaskError> {
        self.ask_all(selection, |reply| Control::Resume { by_uid, reply })
            .await
    }

    pub async fn restart(
        &self,
        selection: &TaskSelection,
        force: bool,
    ) -> Result<Vec<TaskAction>, TaskError> {
        self.ask_all(selection, |reply| Control::Restart { force, reply })
            .await
    }

    pub async fn run_now(&self, name: &str) -> Result<CycleReport, TaskError> {
        let handle = self.find(name)?;
        let (reply, answer) = oneshot::channel();
        handle
            .control
            .send(Control::RunNow { reply })
            .await
            .map_err(|_| gone(handle))?;
        answer.await.map_err(|_| gone(handle))?
    }

    /// Gives task `name` new settings; returns once its runner has taken them (a cycle due
    /// sooner under a shorter interval then runs at once).
    pub async fn retune(&self, name: &str, tuning: Tuning) -> Result<(), TaskError> {
        let handle = self.find(name)?;
        let (reply, answer) = oneshot::channel();
        handle
            .control
            .send(Control::Retune { tuning, reply })
            .await
            .map_err(|_| gone(handle))?;
        answer.await.map_err(|_| gone(handle))
    }

    pub fn inject(&self, name: &str, fault: Fault) -> Result<(), TaskError> {
        self.find(name)?.shared.inject(fault);
        Ok(())
    }

    /// Stops every task: a cycle in progress gets `grace` to reach a safe point, then is
    /// abandoned (cycles are written so that abandoning one loses nothing).
    pub async fn stop(&self, grace: Duration) {
        let _ = self
            .ask_all(&TaskSelection::All, |reply| Control::Stop { grace, reply })
            .await;
    }
}

fn gone(handle: &Handle) -> TaskError {
    TaskError::Gone {
        name: handle.shared.name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msb_proto::{Health, TaskState};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Counts its cycles; its first `panics` cycles panic.
    struct Counter {
        cycles: AtomicU64,
        panics: u64,
    }

    impl Task for Counter {
        fn name(&self) -> &'static str {
            "counter"
        }

        fn counts(&self) -> &'static [&'static str] {
            &[]
        }

        fn run_cycle(
            self: Arc<Self>,
            _ctx: CycleContext,
        ) -> BoxFuture<'static, Result<CycleResult, CycleError>> {
            Box::pin(async move {
                let n = self.cycles.fetch_add(1, Ordering::SeqCst) + 1;
                assert!(n > self.panics, "cycle {n} panics on purpose");
                Ok(CycleResult::default())
            })
        }
    }

    fn start(panics: u64, policy: RestartPolicy) -> (Supervisor, Arc<Counter>) {
        let counter = Arc::new(Counter {
            cycles: AtomicU64::new(0),
            panics,
        });
        let spec = TaskSpec {
            task: counter.clone(),
            tuning: Tuning {
                interval: Duration::from_secs(60),
                stall_after: Duration::from_secs(600),
                policy,
            },
            pause: None,
        };
        let hook: LeaseHook = Arc::new(|_, _| Box::pin(async { Ok(()) }));
        (
            Supervisor::start(vec![spec], hook, &Events::new(16)),
            counter,
        )
    }

    /// Lets every task that can run do so, without moving the clock.
    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    fn state(supervisor: &Supervisor) -> TaskStatus {
        supervisor.status_of("counter").expect("the task")
    }

    #[tokio::test(start_paused = true)]
    async fn runs_at_start_then_once_per_interval_and_not_before() {
        let (supervisor, counter) = start(0, RestartPolicy::Never);
        settle().await;
        assert_eq!(
            counter.cycles.load(Ordering::SeqCst),
            1,
            "the first cycle runs at start-up"
        );
        tokio::time::advance(Duration::from_secs(59)).await;
        settle().await;
        assert_eq!(counter.cycles.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        settle().await;
        assert_eq!(counter.cycles.load(Ordering::SeqCst), 2);
        assert_eq!(state(&supervisor).health, Health::Healthy);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_interval_brings_the_next_cycle_forward() {
        let (supervisor, counter) = start(0, RestartPolicy::Never);
        settle().await;
        tokio::time::advance(Duration::from_secs(20)).await;
        let tuning = Tuning {
            interval: Duration::from_secs(5),
            stall_after: Duration::from_secs(600),
            policy: RestartPolicy::Never,
        };
        supervisor.retune("counter", tuning).await.expect("retune");
        settle().await;
        assert_eq!(
            counter.cycles.load(Ordering::SeqCst),
            2,
            "20s have passed since the last cycle: one is due at once"
        );
        assert_eq!(state(&supervisor).interval_secs, 5.0);
        tokio::time::advance(Duration::from_secs(5)).await;
        settle().await;
        assert_eq!(counter.cycles.load(Ordering::SeqCst), 3, "then every 5s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_lease_ends_at_its_deadline() {
        let (supervisor, counter) = start(0, RestartPolicy::Never);
        settle().await;
        let paused = supervisor
            .pause(
                &TaskSelection::All,
                Some(Duration::from_secs(120)),
                Some("test".into()),
                Some(0),
            )
            .await
            .expect("pause");
        assert_eq!(paused[0].state, TaskState::Paused);
        tokio::time::advance(Duration::from_secs(90)).await;
        settle().await;
        assert_eq!(state(&supervisor).state, TaskState::Paused);
        assert_eq!(
            counter.cycles.load(Ordering::SeqCst),
            1,
            "no cycle while paused, though one was due"
        );
        tokio::time::advance(Duration::from_secs(30)).await;
        settle().await;
        assert_eq!(state(&supervisor).state, TaskState::Running);
        assert_eq!(
            counter.cycles.load(Ordering::SeqCst),
            2,
            "the overdue cycle runs on resume"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_panic_backs_off_then_restarts() {
        let (supervisor, counter) = start(2, RestartPolicy::OnFailure);
        settle().await;
        assert_eq!(state(&supervisor).state, TaskState::Backoff);
        tokio::time::advance(Duration::from_secs(1)).await;
        settle().await;
        // The second cycle panics too: the next wait is twice as long.
        assert_eq!(state(&supervisor).state, TaskState::Backoff);
        tokio::time::advance(Duration::from_secs(1)).await;
        settle().await;
        assert_eq!(state(&supervisor).state, TaskState::Backoff);
        tokio::time::advance(Duration::from_secs(1)).await;
        settle().await;
        let status = state(&supervisor);
        assert_eq!(status.state, TaskState::Running);
        assert_eq!(status.restarts, 2);
        assert_eq!(counter.cycles.load(Ordering::SeqCst), 3);
        assert_eq!(status.health, Health::Healthy, "the last cycle succeeded");
    }
}
