//! One runner per task: a tokio task that owns the schedule, runs each cycle as a child task
//! (so a panic is caught by its JoinHandle and a hang can be abandoned), and answers control
//! messages at any time, in or between cycles.

use super::backoff::{Backoff, RestartPolicy};
use super::state::{Lease, Record, Shared};
use super::task::{CycleContext, CycleResult, Task};
use super::{CycleError, LeaseHook, TaskError, Tuning};
use crate::clock::unix_secs;
use msb_proto::{ActionResult, CycleOutcome, CycleReport, EventKind, Fault, TaskAction, TaskState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::{sleep_until, Instant};

/// What a pause of a stalled task says: it cannot park until the cycle ends or is abandoned.
const STALLED_PAUSE: &str = "task is stalled; the pause holds once it runs again";

pub(crate) type RunNowReply = oneshot::Sender<Result<CycleReport, TaskError>>;
/// A pause's answer: refused when its lease could not be stored.
pub(crate) type PauseReply = oneshot::Sender<Result<TaskAction, TaskError>>;

pub(crate) enum Control {
    Pause {
        lease: Lease,
        reply: PauseReply,
    },
    Resume {
        by_uid: Option<u32>,
        reply: oneshot::Sender<TaskAction>,
    },
    Restart {
        force: bool,
        reply: oneshot::Sender<TaskAction>,
    },
    RunNow {
        reply: RunNowReply,
    },
    Stop {
        grace: Duration,
        reply: oneshot::Sender<()>,
    },
    /// New settings from a reload; a cycle under way keeps its stall deadline.
    Retune {
        tuning: Tuning,
        reply: oneshot::Sender<()>,
    },
}

enum Flow {
    Continue,
    Exit,
}

/// What the runner keeps track of while a cycle runs.
struct InCycle {
    /// Raised to ask the cycle to stop at its next safe point.
    interrupt: Arc<AtomicBool>,
    stalled: bool,
    /// A stop in progress: abandon the cycle at this deadline, then answer.
    stop: Option<(Instant, oneshot::Sender<()>)>,
    /// An operator's restart, answered once the cycle is abandoned.
    restart: Option<oneshot::Sender<TaskAction>>,
}

impl InCycle {
    /// A pause that ended or was lifted no longer interrupts the cycle; a stop still does.
    fn keep_going_unless_stopping(&self) {
        if self.stop.is_none() {
            self.interrupt.store(false, Ordering::SeqCst);
        }
    }
}

/// How a cycle ended, as seen by the runner.
enum End {
    Finished(Result<Result<CycleResult, CycleError>, JoinError>),
    /// Abandoned by a restart or at the stop deadline.
    Abandoned,
}

pub(crate) struct Runner {
    shared: Arc<Shared>,
    /// Told of every pause lease taken or ended, to keep it across restarts.
    on_lease: LeaseHook,
    task: Arc<dyn Task>,
    policy: RestartPolicy,
    rx: mpsc::Receiver<Control>,
    backoff: Backoff,
    backoff_until: Option<Instant>,
    /// Run-now requests that arrived during a cycle; served by the next one.
    queued_runs: Vec<RunNowReply>,
    /// Pause requests that arrived during a cycle; answered once the task is parked.
    pause_waiters: Vec<PauseReply>,
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Runner {
    pub(crate) fn new(
        shared: Arc<Shared>,
        on_lease: LeaseHook,
        task: Arc<dyn Task>,
        policy: RestartPolicy,
        rx: mpsc::Receiver<Control>,
    ) -> Self {
        Self {
            shared,
            on_lease,
            task,
            policy,
            rx,
            backoff: Backoff::default(),
            backoff_until: None,
            queued_runs: Vec::new(),
            pause_waiters: Vec::new(),
        }
    }

    fn action(&self, result: ActionResult, detail: Option<String>) -> TaskAction {
        TaskAction {
            task: self.shared.name.to_string(),
            result,
            state: self.shared.lock().reported_state(),
            detail,
        }
    }

    pub(crate) async fn run(mut self) {
        loop {
            let (due, lease_end) = {
                let record = self.shared.lock();
                let due = (record.state == TaskState::Running && record.pause.is_none())
                    .then_some(record.next_run)
                    .flatten();
                (due, record.lease_end())
            };
            let flow = tokio::select! {
                control = self.rx.recv() => match control {
                    Some(control) => self.on_control_idle(control).await,
                    None => Flow::Exit,
                },
                () = sleep_until_some(due) => self.cycle(Vec::new()).await,
                () = sleep_until_some(lease_end) => { self.end_lease().await; Flow::Continue }
                () = sleep_until_some(self.backoff_until) => { self.finish_backoff(); Flow::Continue }
            };
            if let Flow::Exit = flow {
                return;
            }
        }
    }

    async fn on_control_idle(&mut self, control: Control) -> Flow {
        match control {
            Control::Pause { lease, reply } => {
                let action = match self.already_paused() {
                    Some(skip) => Ok(self.action(ActionResult::Skipped, Some(skip))),
                    None => self
                        .take_pause(lease)
                        .await
                        .map(|()| self.action(ActionResult::Paused, self.pause_detail())),
                };
                let _ = reply.send(action);
            }
            Control::Resume { by_uid, reply } => {
                let _ = reply.send(self.resume(by_uid).await);
            }
            Control::Restart { force, reply } => {
                let state = self.shared.lock().state;
                let decision = self.restart_decision(state, force);
                let action = match decision {
                    Some(skip) => self.action(ActionResult::Skipped, Some(skip)),
                    None => self.restart(),
                };
                let _ = reply.send(action);
            }
            Control::RunNow { reply } => {
                let state = self.shared.lock().state;
                if matches!(
                    state,
                    TaskState::Failed | TaskState::Backoff | TaskState::Stopped
                ) {
                    let _ = reply.send(Err(TaskError::Unavailable {
                        name: self.shared.name,
                        state,
                    }));
                } else {
                    return self.cycle(vec![reply]).await;
                }
            }
            Control::Stop { reply, .. } => {
                self.shared.update(|r| r.state = TaskState::Stopped);
                let _ = reply.send(());
                return Flow::Exit;
            }
            // The loop then waits for the cycle the new interval makes due.
            Control::Retune { tuning, reply } => self.retune(tuning, reply),
        }
        Flow::Continue
    }

    fn retune(&mut self, tuning: Tuning, reply: oneshot::Sender<()>) {
        self.policy = tuning.policy;
        self.shared.update(|r| {
            r.set_interval(tuning.interval);
            r.stall_after = tuning.stall_after;
        });
        let _ = reply.send(());
    }

    /// Why a restart is skipped, or `None` to go ahead. Only unhealthy tasks restart unless
    /// forced, and a restart never lifts a pause.
    fn restart_decision(&self, state: TaskState, force: bool) -> Option<String> {
        if matches!(state, TaskState::Failed | TaskState::Stalled) {
            return None;
        }
        if self.shared.lock().pause.is_some() {
            return Some("paused; restart never resumes a pause (use msbctl resume)".into());
        }
        (!force).then(|| format!("{state} and not unhealthy; use --force to restart it anyway"))
    }

    /// Tells of a restart, before the state it leads to.
    fn restarted(&self, by_operator: bool) {
        self.shared.events.emit(EventKind::TaskRestarted {
            task: self.shared.name.to_string(),
            by_operator,
        });
    }

    fn restart(&mut self) -> TaskAction {
        self.backoff.reset();
        self.backoff_until = None;
        self.restarted(true);
        self.shared.update(|r| {
            r.state = TaskState::Running;
            r.restarts += 1;
            r.next_run = Some(Instant::now());
        });
        tracing::info!(task = self.shared.name, "task restarted by an operator");
        let detail = self
            .shared
            .lock()
            .pause
            .is_some()
            .then(|| "still paused".to_string());
        self.action(ActionResult::Restarted, detail)
    }

    /// Takes a pause lease once it is stored; a lease that cannot be stored is not taken.
    async fn take_pause(&self, lease: Lease) -> Result<(), TaskError> {
        let name = self.shared.name;
        (self.on_lease)(name, Some(&lease))
            .await
            .map_err(|source| TaskError::Lease { name, source })?;
        self.shared.events.emit(EventKind::TaskPaused {
            task: name.to_string(),
            by_uid: lease.by_uid,
            reason: lease.reason.clone(),
            until: lease.until.map(|(_, wall)| unix_secs(wall)),
        });
        self.shared.update(|r| r.pause = Some(lease));
        Ok(())
    }

    /// Ends the pause, lifted by `by_uid` or at the end of its lease; returns whether there
    /// was one, and a note when its end is not stored yet (it stands anyway, and is written
    /// once the store recovers).
    async fn end_pause(&self, by_uid: Option<u32>, lease_ended: bool) -> (bool, Option<String>) {
        // Only this runner changes the lease, so what it sees here still holds below.
        if self.shared.lock().pause.is_none() {
            return (false, None);
        }
        self.shared.events.emit(EventKind::TaskResumed {
            task: self.shared.name.to_string(),
            by_uid,
            lease_ended,
        });
        self.shared.update(|r| r.pause = None);
        let note = (self.on_lease)(self.shared.name, None)
            .await
            .err()
            .map(|err| {
                format!(
                    "the store does not take writes ({err}); the resume is written once it does"
                )
            });
        (true, note)
    }

    async fn resume(&mut self, by_uid: Option<u32>) -> TaskAction {
        match self.end_pause(by_uid, false).await {
            (true, note) => {
                tracing::info!(task = self.shared.name, "task resumed");
                self.action(ActionResult::Resumed, note)
            }
            (false, _) => self.action(ActionResult::Skipped, Some("not paused".into())),
        }
    }

    async fn end_lease(&mut self) {
        self.end_pause(None, true).await;
        tracing::info!(task = self.shared.name, "pause lease ended; task resumed");
    }

    fn finish_backoff(&mut self) {
        self.backoff_until = None;
        self.backoff.record_restart(Instant::now());
        self.restarted(false);
        self.shared.update(|r| {
            r.state = TaskState::Running;
            r.restarts += 1;
            r.next_run = Some(Instant::now());
        });
        tracing::info!(task = self.shared.name, "task restarted after backoff");
    }

    /// A pause never replaces another's lease (nor would its end lift that one): a second
    /// pause is skipped and says whose pause holds.
    fn already_paused(&self) -> Option<String> {
        let record = self.shared.lock();
        let lease = record.pause.as_ref()?;
        let mut text = match lease.by_uid {
            Some(uid) => format!("already paused by uid {uid}"),
            None => "already paused".to_string(),
        };
        if let Some(reason) = &lease.reason {
            text.push_str(&format!(" ({reason})"));
        }
        Some(text)
    }

    fn pause_detail(&self) -> Option<String> {
        let record = self.shared.lock();
        match record.state {
            TaskState::Running | TaskState::Paused => None,
            state => Some(format!(
                "task is {state}; it stays paused once it runs again"
            )),
        }
    }

    fn answer_pause_waiters(&mut self, detail: Option<String>) {
        for waiter in std::mem::take(&mut self.pause_waiters) {
            let _ = waiter.send(Ok(self.action(ActionResult::Paused, detail.clone())));
        }
    }

    /// Runs one cycle (and then any run-now requests queued meanwhile) to its end.
    async fn cycle(&mut self, mut replies: Vec<RunNowReply>) -> Flow {
        loop {
            let (flow, report) = self.one_cycle().await;
            for reply in replies.drain(..) {
                let _ = reply.send(Ok(report.clone()));
            }
            if let Flow::Exit = flow {
                return Flow::Exit;
            }
            let runnable = self.shared.lock().state == TaskState::Running;
            if self.queued_runs.is_empty() || !runnable {
                for reply in self.queued_runs.drain(..) {
                    let _ = reply.send(Err(TaskError::NoLongerRunning {
                        name: self.shared.name,
                    }));
                }
                return Flow::Continue;
            }
            replies = std::mem::take(&mut self.queued_runs);
        }
    }

    /// Starts the task's cycle as its own tokio task, acting out an injected fault first.
    fn spawn_cycle(&self, ctx: CycleContext) -> JoinHandle<Result<CycleResult, CycleError>> {
        let fault = self.shared.take_fault();
        let task = self.task.clone();
        let name = self.shared.name;
        tokio::spawn(async move {
            match fault {
                Some(Fault::Panic) => panic!("injected fault: panic in {name}"),
                Some(Fault::Hang) => std::future::pending::<()>().await,
                Some(Fault::Error) => return Err(CycleError::Injected),
                Some(Fault::Clear) | None => {}
            }
            task.run_cycle(ctx).await
        })
    }

    async fn one_cycle(&mut self) -> (Flow, CycleReport) {
        let mut cycle = InCycle {
            interrupt: Arc::new(AtomicBool::new(false)),
            stalled: false,
            stop: None,
            restart: None,
        };
        let started = Instant::now();
        let started_wall = SystemTime::now();
        self.shared.update(|r| {
            r.in_cycle = true;
            r.next_run = None;
        });
        let mut handle = self.spawn_cycle(CycleContext::new(cycle.interrupt.clone()));
        let stall_after = self.shared.lock().stall_after;
        let stall_at = started + stall_after;
        let end = loop {
            let lease_end = self.shared.lock().lease_end();
            let stop_at = cycle.stop.as_ref().map(|(at, _)| *at);
            let abandon = tokio::select! {
                result = &mut handle => break End::Finished(result),
                () = sleep_until(stall_at), if !cycle.stalled => {
                    cycle.stalled = true;
                    self.shared.update(|r| r.state = TaskState::Stalled);
                    tracing::warn!(task = self.shared.name, after = ?stall_after, "cycle stalled");
                    self.answer_pause_waiters(Some(STALLED_PAUSE.into()));
                    false
                }
                () = sleep_until_some(stop_at) => true,
                () = sleep_until_some(lease_end) => {
                    self.end_lease().await;
                    cycle.keep_going_unless_stopping();
                    false
                }
                control = self.rx.recv() => match control {
                    Some(control) => self.on_control_in_cycle(control, &mut cycle).await,
                    None => {
                        handle.abort();
                        let report = self.report(started.elapsed(), started_wall, CycleOutcome::Interrupted, 0, None, Default::default());
                        return (Flow::Exit, report);
                    }
                },
            };
            if abandon {
                handle.abort();
                break End::Abandoned;
            }
        };
        let report = self.record_end(end, started.elapsed(), started_wall);
        self.shared.update(|r| {
            r.in_cycle = false;
            if r.state == TaskState::Stalled {
                r.state = TaskState::Running;
            }
            if r.state == TaskState::Running {
                r.next_run = Some(Instant::now() + r.interval);
            }
        });
        if let Some((_, reply)) = cycle.stop {
            self.shared.update(|r| r.state = TaskState::Stopped);
            self.answer_pause_waiters(Some("the daemon is stopping".into()));
            let _ = reply.send(());
            return (Flow::Exit, report);
        }
        if let Some(reply) = cycle.restart {
            let _ = reply.send(self.restart());
        }
        self.answer_pause_waiters(None);
        (Flow::Continue, report)
    }

    /// Handles a control message that arrives during a cycle; true when the cycle must be
    /// abandoned now (a restart).
    async fn on_control_in_cycle(&mut self, control: Control, cycle: &mut InCycle) -> bool {
        let name = self.shared.name;
        match control {
            Control::Pause { lease, reply } => {
                if let Some(skip) = self.already_paused() {
                    let _ = reply.send(Ok(self.action(ActionResult::Skipped, Some(skip))));
                } else if let Err(err) = self.take_pause(lease).await {
                    let _ = reply.send(Err(err));
                } else {
                    cycle.interrupt.store(true, Ordering::SeqCst);
                    if cycle.stalled {
                        let _ = reply.send(Ok(
                            self.action(ActionResult::Paused, Some(STALLED_PAUSE.into()))
                        ));
                    } else {
                        self.pause_waiters.push(reply);
                    }
                }
            }
            Control::Resume { by_uid, reply } => {
                cycle.keep_going_unless_stopping();
                let action = self.resume(by_uid).await;
                self.answer_pause_waiters(Some("resumed before the pause took effect".into()));
                let _ = reply.send(action);
            }
            Control::Restart { force, reply } => {
                let state = if cycle.stalled {
                    TaskState::Stalled
                } else {
                    TaskState::Running
                };
                match self.restart_decision(state, force) {
                    Some(skip) => {
                        let _ = reply.send(self.action(ActionResult::Skipped, Some(skip)));
                    }
                    None => {
                        cycle.restart = Some(reply);
                        return true;
                    }
                }
            }
            Control::RunNow { reply } if cycle.stalled => {
                let _ = reply.send(Err(TaskError::Stalled { name }));
            }
            Control::RunNow { reply } => self.queued_runs.push(reply),
            Control::Stop { grace, reply } => {
                cycle.interrupt.store(true, Ordering::SeqCst);
                cycle.stop = Some((Instant::now() + grace, reply));
            }
            Control::Retune { tuning, reply } => self.retune(tuning, reply),
        }
        false
    }

    fn report(
        &self,
        took: Duration,
        started_wall: SystemTime,
        outcome: CycleOutcome,
        processed: u64,
        error: Option<String>,
        mut counts: std::collections::BTreeMap<String, u64>,
    ) -> CycleReport {
        for key in self.task.counts() {
            counts.entry(key.to_string()).or_default();
        }
        CycleReport {
            task: self.shared.name.to_string(),
            started_at: unix_secs(started_wall),
            duration_ms: took.as_millis() as u64,
            outcome,
            processed,
            error,
            counts,
        }
    }

    /// Books the cycle's outcome into the counters and applies the restart policy to a panic.
    fn record_end(&mut self, end: End, took: Duration, started_wall: SystemTime) -> CycleReport {
        let name = self.shared.name;
        let report = match end {
            End::Finished(Ok(Ok(result))) => {
                let outcome = if result.interrupted {
                    CycleOutcome::Interrupted
                } else {
                    CycleOutcome::Ok
                };
                self.report(
                    took,
                    started_wall,
                    outcome,
                    result.processed,
                    None,
                    result.counts,
                )
            }
            End::Finished(Ok(Err(error))) => {
                tracing::warn!(task = name, %error, "cycle failed");
                self.report(
                    took,
                    started_wall,
                    CycleOutcome::Failed,
                    0,
                    Some(error.to_string()),
                    Default::default(),
                )
            }
            End::Finished(Err(join)) if join.is_panic() => {
                let message = panic_message(join);
                tracing::error!(task = name, %message, "cycle panicked");
                self.report(
                    took,
                    started_wall,
                    CycleOutcome::Panicked,
                    0,
                    Some(format!("cycle panicked: {message}")),
                    Default::default(),
                )
            }
            End::Finished(Err(_)) | End::Abandoned => self.report(
                took,
                started_wall,
                CycleOutcome::Interrupted,
                0,
                None,
                Default::default(),
            ),
        };
        // Told before the state the cycle leads to (a backoff, a failure).
        self.shared.events.emit_cycle(report.clone(), took);
        let next_state = (report.outcome == CycleOutcome::Panicked).then(|| self.after_panic());
        self.shared.update(|r: &mut Record| {
            r.cycles += 1;
            r.processed_total += report.processed;
            match report.outcome {
                CycleOutcome::Ok | CycleOutcome::Interrupted => r.consecutive_failures = 0,
                CycleOutcome::Failed | CycleOutcome::Panicked => {
                    r.failed_cycles += 1;
                    r.consecutive_failures += 1;
                    r.last_error = report.error.clone();
                }
            }
            if let Some((state, note)) = &next_state {
                r.state = *state;
                if let Some(note) = note {
                    r.last_error =
                        Some(format!("{}; {note}", report.error.as_deref().unwrap_or("")));
                }
            }
            r.last_cycle = Some(report.clone());
        });
        report
    }

    /// The state after a panic, with a note when the policy gave up.
    fn after_panic(&mut self) -> (TaskState, Option<String>) {
        match self.policy {
            RestartPolicy::Never => (TaskState::Failed, None),
            RestartPolicy::OnFailure => match self.backoff.next_delay(Instant::now()) {
                Some(delay) => {
                    self.backoff_until = Some(Instant::now() + delay);
                    (TaskState::Backoff, None)
                }
                None => (
                    TaskState::Failed,
                    Some(format!(
                        "gave up after {} restarts within {}s; needs msbctl restart",
                        super::backoff::BURST_LIMIT,
                        super::backoff::WINDOW.as_secs()
                    )),
                ),
            },
        }
    }
}

fn panic_message(err: JoinError) -> String {
    let payload = err.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}
