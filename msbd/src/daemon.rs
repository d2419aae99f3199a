//! Wires the parts together, runs until asked to stop, and carries out the graceful
//! shutdown: stop the tasks, stop every sandbox (SIGTERM, SIGKILL at the deadline), report.

use crate::backend::isolation::Isolation;
use crate::backend::process::ProcessBackend;
use crate::backend::{Backend, BackendError};
use crate::config::Config;
use crate::resources::{Limits, OrphanCleanup, ResourceManager};
use crate::sessions::{SessionCleanup, SessionManager};
use crate::socket::{self, ClaimError};
use crate::store::{Store, StoreError, StoredPause};
use crate::supervisor::{Lease, LeaseHook, Supervisor, Task, TaskSpec};
use crate::templates::Templates;
use crate::{clock, ids, server};
use interprocess::local_socket::tokio::Stream;
use msb_proto::frame::write_frame;
use msb_proto::{ErrorBody, ErrorCode, Response, ShutdownRequest, StopReport};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The longest a shutdown waits for a task's cycle to reach a safe point.
const TASK_STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Claim(#[from] ClaimError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("{0}")]
    Isolation(String),
    #[error("cannot set up the state dir {path}: {source}")]
    State {
        path: String,
        source: std::io::Error,
    },
}

/// A request to shut down, from `msbctl stop` (with a channel for progress) or a signal.
struct Order {
    timeout: Duration,
    progress: Option<mpsc::UnboundedSender<Response>>,
    /// Told once the final report has been written to the client.
    delivered: Option<oneshot::Receiver<()>>,
    /// Leave the sandboxes running for the next daemon to adopt.
    keep_sandboxes: bool,
}

/// The running daemon's parts. It owns no state of its own beyond the `stopping` flag: the
/// managers, the supervisor and the server each own theirs.
pub struct Daemon {
    pub config: Config,
    pub supervisor: Supervisor,
    pub sessions: Arc<SessionManager>,
    pub resources: Arc<ResourceManager>,
    pub backend_name: &'static str,
    started_wall: SystemTime,
    started: Instant,
    /// Set once a shutdown begins; changes are refused from then on.
    stopping: AtomicBool,
    orders: mpsc::Sender<Order>,
}

impl Daemon {
    pub fn started_at(&self) -> u64 {
        clock::unix_secs(self.started_wall)
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Serves a `Shutdown` request: streams progress and the final report to `stream`.
    pub async fn shutdown_for(&self, stream: &mut Stream, request: ShutdownRequest) {
        let (progress, mut frames) = mpsc::unbounded_channel();
        let (delivered_tx, delivered) = oneshot::channel();
        let order = Order {
            timeout: request
                .timeout_ms
                .map_or(self.config.shutdown_timeout, Duration::from_millis),
            progress: Some(progress),
            delivered: Some(delivered),
            keep_sandboxes: request.keep_sandboxes,
        };
        let already = ErrorBody::new(ErrorCode::ShuttingDown, "msbd is already stopping");
        if self.is_stopping() || self.orders.try_send(order).is_err() {
            let _ = write_frame(stream, &Response::Error(already)).await;
            return;
        }
        let mut reported = false;
        while let Some(frame) = frames.recv().await {
            reported |= matches!(frame, Response::Stopped(_));
            if write_frame(stream, &frame).await.is_err() {
                break;
            }
        }
        if reported {
            let _ = delivered_tx.send(());
        } else {
            let _ = write_frame(stream, &Response::Error(already)).await;
        }
    }
}

/// Waits for SIGTERM or SIGINT.
pub async fn termination() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        _ => {
            tracing::error!("cannot watch for SIGTERM/SIGINT; stop msbd with msbctl stop");
            std::future::pending::<()>().await
        }
    }
}

/// Runs the daemon until a shutdown order or `signal`, then shuts down gracefully.
pub async fn run(
    config: Config,
    signal: impl Future<Output = ()>,
) -> Result<StopReport, StartError> {
    let state = |source| StartError::State {
        path: config.state_dir.display().to_string(),
        source,
    };
    socket::private_dir(&config.state_dir)?;
    let _state_lock = socket::lock(&config.state_dir.join("msbd.lock"), "the state dir")?;
    if let Some(parent) = config.socket.parent() {
        socket::private_dir(parent)?;
    }
    let _socket_lock = socket::lock(&socket::lock_path(&config.socket), "the socket")?;
    let instance = ids::instance_id(&config.state_dir).map_err(state)?;
    let store = Arc::new(Store::open(&config.state_dir)?);
    let isolation =
        Isolation::detect(config.isolation, &instance).map_err(StartError::Isolation)?;
    let isolation_report = isolation.describe();
    let (exits, mut exited) = mpsc::unbounded_channel();
    let backend: Arc<dyn Backend> = Arc::new(
        ProcessBackend::new(instance, &config.state_dir, exits, isolation).map_err(state)?,
    );

    let sessions = Arc::new(SessionManager::new(
        store.clone(),
        backend.clone(),
        Templates::new(&config.templates),
        config.session_timeout,
        config.busy_timeout,
        config.stop_grace,
    ));
    // Adopt what the previous daemon left running before anything can take it for an orphan.
    let running = backend.list().await?;
    let (adopted, lost) = sessions.restore(&running)?;
    if adopted + lost > 0 {
        tracing::info!(adopted, lost, "restored the session registry");
    }
    let pauses = restore_pauses(&store)?;
    let listener = socket::bind(&config.socket)?;

    let limits = Limits {
        max_sessions: config.max_sessions,
        max_memory_mb: config.max_total_memory_mb,
        lru_eviction: config.lru_eviction,
        default_flavor: config.default_flavor,
    };
    let resources = Arc::new(ResourceManager::new(
        limits,
        sessions.clone(),
        backend.clone(),
        config.stop_grace,
        isolation_report,
    ));
    let helpers = [
        // A sandbox that ends by itself ends its session.
        tokio::spawn({
            let sessions = sessions.clone();
            async move {
                while let Some(gone) = exited.recv().await {
                    sessions
                        .sandbox_ended(&gone.session_id, &gone.sandbox)
                        .await;
                }
            }
        }),
        tokio::spawn(sessions.clone().write_touches()),
    ];
    let task = |task: Arc<dyn Task>, interval| TaskSpec {
        pause: pauses
            .iter()
            .find(|(name, _)| name == task.name())
            .map(|(_, lease)| lease.clone()),
        task,
        interval,
        stall_after: config.stall_after,
        policy: config.restart_policy,
    };
    let supervisor = Supervisor::start(
        vec![
            task(
                Arc::new(SessionCleanup(sessions.clone())),
                config.cleanup_interval,
            ),
            task(
                Arc::new(OrphanCleanup(resources.clone())),
                config.orphan_cleanup_interval,
            ),
        ],
        lease_keeper(store.clone()),
    );
    let (orders, mut order_rx) = mpsc::channel(1);
    let daemon = Arc::new(Daemon {
        config,
        supervisor,
        sessions,
        resources,
        backend_name: backend.name(),
        started_wall: SystemTime::now(),
        started: Instant::now(),
        stopping: AtomicBool::new(false),
        orders,
    });
    let server = tokio::spawn(server::serve(listener, daemon.clone()));
    tracing::info!(
        socket = %daemon.config.socket.display(),
        state_dir = %daemon.config.state_dir.display(),
        backend = daemon.backend_name,
        "msbd is ready"
    );

    let order = tokio::select! {
        Some(order) = order_rx.recv() => order,
        () = signal => Order {
            timeout: daemon.config.shutdown_timeout,
            progress: None,
            delivered: None,
            keep_sandboxes: false,
        },
    };
    let report = shutdown(&daemon, &order).await;
    daemon.sessions.flush_touches();
    if let Some(progress) = order.progress {
        let _ = progress.send(Response::Stopped(report.clone()));
        drop(progress);
        if let Some(delivered) = order.delivered {
            let _ = tokio::time::timeout(Duration::from_secs(2), delivered).await;
        }
    }
    server.abort();
    for helper in helpers {
        helper.abort();
    }
    Ok(report)
}

/// The stored pause leases still in force, by task; ended ones are dropped from the store.
fn restore_pauses(store: &Store) -> Result<Vec<(String, Lease)>, StoreError> {
    let now = clock::now_ms();
    let mut leases = Vec::new();
    for pause in store.pauses()? {
        match pause.until_ms {
            Some(until) if until <= now => store.set_pause(&pause.task, None)?,
            until => {
                let wall = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
                let lease = Lease {
                    by_uid: pause.by_uid,
                    reason: pause.reason,
                    since: wall(pause.since_ms),
                    until: until
                        .map(|ms| (Instant::now() + Duration::from_millis(ms - now), wall(ms))),
                };
                tracing::info!(task = %pause.task, "the task stays paused: its lease outlived the restart");
                leases.push((pause.task, lease));
            }
        }
    }
    Ok(leases)
}

/// Writes every pause lease taken or ended to the store.
fn lease_keeper(store: Arc<Store>) -> LeaseHook {
    Arc::new(move |task, lease| {
        let stored = lease.map(|lease| StoredPause {
            task: task.to_string(),
            by_uid: lease.by_uid,
            reason: lease.reason.clone(),
            since_ms: clock::unix_ms(lease.since),
            until_ms: lease.until.map(|(_, wall)| clock::unix_ms(wall)),
        });
        if let Err(err) = store.set_pause(task, stored.as_ref()) {
            tracing::error!(task, error = %err, "cannot store the pause lease; it will not outlive a restart");
        }
    })
}

async fn shutdown(daemon: &Arc<Daemon>, order: &Order) -> StopReport {
    let (timeout, progress) = (order.timeout, order.progress.as_ref());
    let started = Instant::now();
    let say = |line: String| {
        tracing::info!("{line}");
        if let Some(progress) = progress {
            let _ = progress.send(Response::Progress(line));
        }
    };
    daemon.stopping.store(true, Ordering::SeqCst);
    say("stopping background tasks".into());
    daemon
        .supervisor
        .stop(TASK_STOP_GRACE.min(timeout / 4))
        .await;
    let remaining = timeout.saturating_sub(started.elapsed());
    let total = daemon.sessions.totals().sessions;
    let fates = if order.keep_sandboxes {
        say(format!(
            "keeping {total} sandbox(es) running for the next msbd to adopt"
        ));
        daemon.sessions.keep_all()
    } else {
        say(format!(
            "stopping {total} sandbox(es); any still running in {} is killed",
            msb_proto::units::format_duration(remaining)
        ));
        daemon
            .sessions
            .stop_all(remaining, |fate, done, total| {
                let mut line = format!("[{done}/{total}] session {} {}", fate.id, fate.fate);
                if let Some(error) = &fate.error {
                    line.push_str(&format!(": {error}"));
                }
                say(line);
            })
            .await
    };
    let report = StopReport::from_fates(fates, started.elapsed().as_millis() as u64);
    say(format!(
        "shutdown {} in {} ms",
        report.outcome, report.duration_ms
    ));
    report
}
