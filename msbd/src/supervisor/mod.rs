//! The generic background-task machinery: schedules cycles, catches panics, notices stalls,
//! restarts with backoff, and carries out pause, resume, restart, run-now and stop.

mod backoff;
mod health;
mod runner;
mod state;
mod task;

pub use backoff::RestartPolicy;
pub use health::overall;
pub use state::Lease;
pub use task::{CycleContext, CycleResult, Task};

/// Called with a task's name and its new pause lease (`None` when the pause ends).
pub type LeaseHook = Arc<dyn Fn(&'static str, Option<&Lease>) + Send + Sync>;

use msb_proto::{CycleReport, ErrorBody, ErrorCode, Fault, TaskAction, TaskSelection, TaskStatus};
use runner::{Control, Runner};
use state::Shared;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How one task is run.
pub struct TaskSpec {
    pub task: Arc<dyn Task>,
    pub interval: Duration,
    pub stall_after: Duration,
    pub policy: RestartPolicy,
    /// A pause lease to start under, kept from before a restart.
    pub pause: Option<Lease>,
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
    pub fn start(specs: Vec<TaskSpec>, on_lease: LeaseHook) -> Self {
        let tasks = specs
            .into_iter()
            .map(|spec| {
                let shared = Arc::new(Shared::new(
                    spec.task.name(),
                    spec.interval,
                    spec.stall_after,
                    spec.pause,
                ));
                let (control, rx) = mpsc::channel(32);
                tokio::spawn(
                    Runner::new(shared.clone(), on_lease.clone(), spec.task, spec.policy, rx).run(),
                );
                Handle { shared, control }
            })
            .collect();
        Self { tasks }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.tasks.iter().map(|h| h.shared.name).collect()
    }

    fn find(&self, name: &str) -> Result<&Handle, ErrorBody> {
        self.tasks
            .iter()
            .find(|h| h.shared.name == name)
            .ok_or_else(|| {
                ErrorBody::new(
                    ErrorCode::UnknownTask,
                    format!(
                        "no task named '{name}'; tasks are: {}",
                        self.names().join(", ")
                    ),
                )
            })
    }

    fn select(&self, selection: &TaskSelection) -> Result<Vec<&Handle>, ErrorBody> {
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

    pub fn status_of(&self, name: &str) -> Result<TaskStatus, ErrorBody> {
        Ok(self.find(name)?.shared.status())
    }

    /// Sends one control message to every selected task, then collects every answer, so
    /// tasks in long cycles are waited for side by side.
    async fn ask_all<T>(
        &self,
        selection: &TaskSelection,
        make: impl Fn(oneshot::Sender<T>) -> Control,
    ) -> Result<Vec<T>, ErrorBody> {
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
    ) -> Result<Vec<TaskAction>, ErrorBody> {
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
        .await
    }

    pub async fn resume(&self, selection: &TaskSelection) -> Result<Vec<TaskAction>, ErrorBody> {
        self.ask_all(selection, |reply| Control::Resume { reply })
            .await
    }

    pub async fn restart(
        &self,
        selection: &TaskSelection,
        force: bool,
    ) -> Result<Vec<TaskAction>, ErrorBody> {
        self.ask_all(selection, |reply| Control::Restart { force, reply })
            .await
    }

    pub async fn run_now(&self, name: &str) -> Result<CycleReport, ErrorBody> {
        let selection = TaskSelection::Named(vec![name.to_string()]);
        let mut answers = self
            .ask_all(&selection, |reply| Control::RunNow { reply })
            .await?;
        answers
            .pop()
            .unwrap_or_else(|| Err(ErrorBody::new(ErrorCode::Internal, "no answer")))
    }

    pub fn inject(&self, name: &str, fault: Fault) -> Result<(), ErrorBody> {
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

fn gone(handle: &Handle) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::Internal,
        format!("the runner of task {} has exited", handle.shared.name),
    )
}
