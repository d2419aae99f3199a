//! Start-up, signals and the shutdown order: claims the socket and the state dir, builds the
//! context, runs the server, and carries out the drained shutdown.
//!
//! A shutdown closes the door (only reads are served from then on), brings every stop under
//! way forward to its deadline, stops the tasks, lets the creates and stops in flight finish,
//! stops every other sandbox (SIGTERM, SIGKILL at the deadline), reports each session's fate,
//! and exits only once the report has been written to the client that asked.

use crate::backend::msb::MsbBackend;
use crate::backend::process::{Isolation, ProcessBackend};
use crate::backend::{Backend, BackendError};
use crate::config::{BackendChoice, Config};
use crate::context::{self, Context, Parts, ShutdownOrder};
use crate::deadline::{Deadline, Hurry};
use crate::events::Events;
use crate::resources::{Descriptors, OrphanCleanup, ResourceManager};
use crate::sessions::{SessionCleanup, SessionManager};
use crate::socket::{self, ClaimError};
use crate::store::{Change, Store, StoreError, StoredPause};
use crate::supervisor::{Lease, LeaseError, LeaseHook, Supervisor, Task, TaskSpec};
use crate::{clock, fds, ids, metrics, notify, server};
use msb_proto::{Response, SessionFate, StopReport};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

/// The longest a shutdown waits for a task's cycle to reach a safe point.
const TASK_STOP_GRACE: Duration = Duration::from_secs(5);
/// How long the final report may take to reach the client that asked for the shutdown.
const REPORT_WAIT: Duration = Duration::from_secs(5);
/// Descriptors kept beside the connections' for start-ups in progress and everything else.
const FD_SPARE: u64 = 192;

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
    #[error("start-up failed: {0}")]
    Startup(String),
    #[error("cannot listen for metrics on {addr} (--metrics-listen): {source}")]
    Metrics {
        addr: String,
        source: std::io::Error,
    },
}

/// Waits for SIGTERM or SIGINT.
pub async fn termination() {
    use tokio::signal::unix::signal;
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

/// Runs blocking start-up work off the runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StartError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| StartError::Startup(err.to_string()))
}

/// Reloads the configuration on every SIGHUP, logging what changed, or why nothing did.
async fn reload_on_hangup(ctx: Arc<Context>, mut hangups: Signal) {
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP received: reloading the configuration");
        match ctx.reload().await {
            Ok(reloaded) => {
                for change in &reloaded.changed {
                    tracing::info!(setting = %change.name, from = ?change.from, to = ?change.to, "setting changed");
                }
                for change in &reloaded.needs_restart {
                    tracing::warn!(setting = %change.name, from = ?change.from, to = ?change.to, "setting needs a restart; it keeps its value until then");
                }
                tracing::info!(
                    changed = reloaded.changed.len(),
                    needs_restart = reloaded.needs_restart.len(),
                    "configuration reloaded"
                );
            }
            Err(err) => {
                tracing::error!(error = %err, "configuration not reloaded; the one in effect is kept")
            }
        }
    }
}

/// Runs the daemon until a shutdown order or `signal`, then shuts down gracefully; SIGHUP
/// reloads the configuration.
pub async fn run(
    mut config: Config,
    signal: impl Future<Output = ()>,
) -> Result<StopReport, StartError> {
    // From here on a SIGHUP reloads instead of ending msbd.
    let hangups = tokio::signal::unix::signal(SignalKind::hangup())
        .map_err(|err| StartError::Startup(format!("cannot watch for SIGHUP: {err}")))?;
    // Under socket activation msbd serves on the socket it was handed, wherever that is.
    let passed = socket::passed()?;
    if let Some((_, path)) = &passed {
        if *path != config.socket {
            tracing::info!(socket = %path.display(), configured = %config.socket.display(), "serving on the socket the service manager passed");
        }
        config.socket = path.clone();
    }
    let state = |source| StartError::State {
        path: config.state_dir.display().to_string(),
        source,
    };
    socket::private_dir(&config.state_dir)?;
    let _state_lock = socket::lock_dir(&config.state_dir)?;
    if let Some(parent) = config.socket.parent() {
        socket::private_dir(parent)?;
    }
    let _socket_lock = socket::lock(&socket::lock_path(&config.socket), "the socket")?;
    let fd_limit = fds::raise_limit();
    let instance = ids::instance_id(&config.state_dir).map_err(state)?;
    let dir = config.state_dir.clone();
    let (store, loaded) = blocking(move || Store::open(&dir)).await??;
    let (exits, mut exited) = mpsc::unbounded_channel();
    let (backend, isolation_report): (Arc<dyn Backend>, String) = match &config.backend {
        BackendChoice::Process => {
            let (mode, uids, id) = (config.isolation, config.uid_range, instance.clone());
            let isolation = blocking(move || Isolation::detect(mode, uids, &id))
                .await?
                .map_err(StartError::Isolation)?;
            let report = isolation.describe();
            let process = ProcessBackend::new(instance, &config.state_dir, exits, isolation)
                .map_err(state)?;
            (Arc::new(process), report)
        }
        BackendChoice::Msb(settings) => {
            let msb = MsbBackend::start(instance, &config.state_dir, settings.clone(), exits)
                .await
                .map_err(state)?;
            let report = msb.isolation();
            (Arc::new(msb), report)
        }
    };
    let hurry = Arc::new(Hurry::default());
    let events = Events::new(config.event_buffer);
    let sessions = Arc::new(SessionManager::new(
        store.clone(),
        backend.clone(),
        context::session_settings(&config),
        hurry.clone(),
        events.clone(),
    ));
    // Adopt what the previous daemon left running before anything can take it for an orphan.
    let running = backend.list().await?;
    let (adopted, lost) = sessions.restore(loaded.sessions, &running).await;
    if adopted + lost > 0 {
        tracing::info!(adopted, lost, "restored the session registry");
    }
    let pauses = restore_pauses(&store, loaded.pauses);
    // Before the socket, so that a port already taken leaves nothing bound.
    let metrics = match config.metrics_listen {
        Some(addr) => {
            Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Metrics {
                        addr: addr.to_string(),
                        source,
                    })?,
            )
        }
        None => None,
    };
    // A passed socket has the mode and group its socket unit gave it.
    let listener = match passed {
        Some((listener, _)) => listener,
        None => {
            let listener = socket::bind(&config.socket)?;
            if let Some(group) = &config.socket_group {
                socket::share_with(&config.socket, group.gid)?;
            }
            listener
        }
    };

    let descriptors = Descriptors {
        limit: fd_limit,
        reserved: fds::open_now() + server::MAX_CONNECTIONS as u64 + FD_SPARE,
        per_sandbox: backend.fds_per_sandbox(),
    };
    let resources = Arc::new(ResourceManager::new(
        context::limits(&config),
        descriptors,
        sessions.clone(),
        backend.clone(),
        hurry.clone(),
        isolation_report,
    ));
    let helpers = [
        // A sandbox that ends by itself ends its session.
        tokio::spawn({
            let sessions = sessions.clone();
            async move {
                while let Some(gone) = exited.recv().await {
                    sessions.sandbox_ended(gone).await;
                }
            }
        }),
        tokio::spawn(sessions.clone().write_touches()),
        tokio::spawn(sessions.clone().tell_touches()),
    ];
    let tunings = context::task_tunings(&config);
    let tasks: [Arc<dyn Task>; 2] = [
        Arc::new(SessionCleanup(sessions.clone())),
        Arc::new(OrphanCleanup(resources.clone())),
    ];
    let specs = tasks
        .into_iter()
        .filter_map(|task| {
            let (_, tuning) = tunings.iter().find(|(name, _)| *name == task.name())?;
            Some(TaskSpec {
                pause: pauses
                    .iter()
                    .find(|(name, _)| name == task.name())
                    .map(|(_, lease)| lease.clone()),
                tuning: *tuning,
                task,
            })
        })
        .collect();
    let supervisor = Supervisor::start(specs, lease_keeper(store.clone()), &events);
    let (orders, mut order_rx) = mpsc::channel(1);
    let backend_name = backend.name();
    let ctx = Arc::new(Context::new(
        config,
        Parts {
            supervisor,
            sessions,
            resources,
            store,
            backend: backend.clone(),
            events,
        },
        orders,
    ));
    let server = tokio::spawn(server::serve(listener, ctx.clone()));
    let metrics = metrics.map(|listener| {
        let local = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(address = %local, "serving metrics at http://{local}/metrics");
        tokio::spawn(metrics::http::serve(listener, ctx.clone()))
    });
    let reloader = tokio::spawn(reload_on_hangup(ctx.clone(), hangups));
    let config = ctx.config();
    tracing::info!(
        config = %config.file().display(),
        socket = %config.socket.display(),
        state_dir = %config.state_dir.display(),
        backend = backend_name,
        fd_limit,
        "msbd is ready"
    );
    notify::ready(&ctx);
    let alive = tokio::spawn(notify::keep_alive(ctx.clone()));

    let order = tokio::select! {
        Some(order) = order_rx.recv() => order,
        () = signal => ShutdownOrder {
            timeout: ctx.config().shutdown_timeout,
            keep_sandboxes: false,
            reply: None,
        },
    };
    reloader.abort();
    // The watchdog ends with the running state; a stale status line must not follow.
    alive.abort();
    notify::stopping();
    let report = shutdown(&ctx, &hurry, &backend, &order).await;
    // Every stop has been told: followers end once they have read it.
    ctx.events.close();
    ctx.sessions.flush_touches();
    ctx.store.close().await;
    if let Some(reply) = order.reply {
        let delivered = timeout(REPORT_WAIT, async {
            reply.send(Response::Stopped(report.clone())).await?;
            reply.flush().await
        })
        .await;
        if !matches!(delivered, Ok(Ok(()))) {
            tracing::warn!("the client that asked for the shutdown did not take its report");
        }
    }
    // Requests that were under way when the door closed (a stop, a create) get their
    // answers too.
    server.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    ctx.answered(REPORT_WAIT).await;
    for helper in helpers {
        helper.abort();
    }
    Ok(report)
}

/// The stored pause leases still in force, by task; ended ones are dropped from the store.
fn restore_pauses(store: &Store, stored: Vec<StoredPause>) -> Vec<(String, Lease)> {
    let now = clock::now_ms();
    let mut leases = Vec::new();
    for pause in stored {
        match pause.until_ms {
            Some(until) if until <= now => {
                drop(store.keep(Change::Pause(pause.task, None)));
            }
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
    leases
}

/// Stores every pause lease taken (it must be stored to be taken) or ended.
fn lease_keeper(store: Store) -> LeaseHook {
    Arc::new(move |task, lease| {
        let stored = lease.map(|lease| StoredPause {
            task: task.to_string(),
            by_uid: lease.by_uid,
            reason: lease.reason.clone(),
            since_ms: clock::unix_ms(lease.since),
            until_ms: lease.until.map(|(_, wall)| clock::unix_ms(wall)),
        });
        let taken = stored.is_some();
        let change = Change::Pause(task.to_string(), stored);
        let written: crate::backend::BoxFuture<'static, Result<(), StoreError>> = if taken {
            Box::pin(store.write(change))
        } else {
            Box::pin(store.keep(change))
        };
        Box::pin(async move { written.await.map_err(|err| Box::new(err) as LeaseError) })
    })
}

async fn shutdown(
    ctx: &Context,
    hurry: &Hurry,
    backend: &Arc<dyn Backend>,
    order: &ShutdownOrder,
) -> StopReport {
    let started = Instant::now();
    let until = started + order.timeout;
    let say = |line: String| {
        tracing::info!("{line}");
        if let Some(reply) = &order.reply {
            // Progress never waits for a slow client; the report does.
            reply.offer(Response::Progress(line));
        }
    };
    ctx.close_door();
    let ledger = ctx.sessions.close();
    hurry.set(until);
    say("stopping background tasks".into());
    ctx.supervisor
        .stop(TASK_STOP_GRACE.min(order.timeout / 4))
        .await;
    let total = ctx.sessions.totals().sessions;
    let fates = if order.keep_sandboxes {
        say(format!(
            "keeping {total} sandbox(es) running for the next msbd to adopt"
        ));
        ctx.sessions.keep_all(ledger, until).await
    } else {
        // To the nearest second: the tasks took some of it.
        let left = until.saturating_duration_since(Instant::now()) + Duration::from_millis(500);
        say(format!(
            "stopping {total} sandbox(es); any still running in {} is killed",
            msb_proto::units::format_duration(Duration::from_secs(left.as_secs()))
        ));
        let fates = ctx
            .sessions
            .stop_all(ledger, until, |fate, done, total| {
                say(progress_line(fate, done, total))
            })
            .await;
        stop_strays(backend).await;
        fates
    };
    let report = StopReport::from_fates(fates, started.elapsed().as_millis() as u64);
    say(format!(
        "shutdown {} in {} ms",
        report.outcome, report.duration_ms
    ));
    report
}

fn progress_line(fate: &SessionFate, done: usize, total: usize) -> String {
    let mut line = format!("[{done}/{total}] session {} {}", fate.id, fate.fate);
    if let Some(error) = &fate.error {
        line.push_str(&format!(": {error}"));
    }
    line
}

/// Kills any marked sandbox still running once every session has its fate: orphans not
/// reaped yet, and sandboxes of creates the shutdown stopped waiting for.
async fn stop_strays(backend: &Arc<dyn Backend>) {
    let strays = match backend.list().await {
        Ok(strays) => strays,
        Err(err) => {
            tracing::error!(error = %err, "cannot look for sandboxes left running");
            return;
        }
    };
    if strays.is_empty() {
        return;
    }
    let found = strays.len();
    let mut stops = tokio::task::JoinSet::new();
    for stray in strays {
        let backend = backend.clone();
        stops.spawn(async move {
            let now = Deadline::fixed(Instant::now());
            (backend.stop(&stray.name, now).await, stray.name)
        });
    }
    let mut stopped = 0;
    while let Some(joined) = stops.join_next().await {
        match joined {
            Ok((Ok(_), _)) => stopped += 1,
            Ok((Err(err), name)) => {
                tracing::error!(sandbox = %name, error = %err, "cannot stop a sandbox left running")
            }
            Err(err) => tracing::error!(error = %err, "a stop of a sandbox left running failed"),
        }
    }
    tracing::warn!(stopped, found, "stopped sandboxes no session owned");
}
