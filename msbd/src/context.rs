//! The shared parts every request reaches: the supervisor, the managers, the store, the
//! event bus, and the facts about this daemon. It imports neither the server nor the daemon:
//! the server hands requests to `dispatch` with a context, and the daemon builds the context
//! and carries out the shutdowns it is handed through it. It also holds the configuration in
//! effect and carries out a reload: every part takes the settings it may change at run time.

use crate::admission::Admission;
use crate::backend::Backend;
use crate::config::{Config, ConfigError};
use crate::events::Events;
use crate::reply::Reply;
use crate::resources::{Limits, ResourceManager};
use crate::sessions::{SessionManager, SessionSettings};
use crate::store::Store;
use crate::supervisor::{Supervisor, Tuning};
use msb_proto::{ConfigChange, ConfigStatus, TASK_NAMES};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

/// A shutdown to carry out, from `msbctl stop` (with the reply its progress and report go
/// to) or from a signal.
#[derive(Debug)]
pub struct ShutdownOrder {
    pub timeout: Duration,
    /// Leave the sandboxes running for the next daemon to adopt.
    pub keep_sandboxes: bool,
    pub reply: Option<Reply>,
}

/// What a reload applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub changed: Vec<ConfigChange>,
    /// What the file or environment changed that only a restart applies.
    pub needs_restart: Vec<ConfigChange>,
}

/// The history of the configuration in effect, for `status`.
#[derive(Debug)]
struct Loads {
    loaded_at: SystemTime,
    reloads: u64,
    last: Reloaded,
    last_error: Option<String>,
}

pub struct Context {
    /// Replaced whole by a reload; readers take the `Arc` and let go of the lock at once.
    config: RwLock<Arc<Config>>,
    loads: Mutex<Loads>,
    pub supervisor: Supervisor,
    pub sessions: Arc<SessionManager>,
    pub resources: Arc<ResourceManager>,
    pub store: Store,
    pub backend: Arc<dyn Backend>,
    /// Who may use the socket, and how many connections each uid holds.
    pub admission: Arc<Admission>,
    /// What happens, for `msbctl events` and the metrics.
    pub events: Events,
    started_wall: SystemTime,
    started: Instant,
    /// This process's id, asked once: every `status` reports it, and asking is a system call.
    pid: u32,
    /// The door: set once a shutdown begins, after which only reads are served.
    stopping: AtomicBool,
    /// Where shutdown orders go; the daemon takes the first one.
    orders: mpsc::Sender<ShutdownOrder>,
    /// Requests being answered, so that msbd exits only once their answers are out.
    answering: AtomicUsize,
    answered: Notify,
}

/// A request being answered; dropped once its answer has been written.
pub struct Answering<'a>(&'a Context);

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        if self.0.answering.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.answered.notify_waiters();
        }
    }
}

/// What the daemon builds before the context, for the context to hold.
pub struct Parts {
    pub supervisor: Supervisor,
    pub sessions: Arc<SessionManager>,
    pub resources: Arc<ResourceManager>,
    pub store: Store,
    pub backend: Arc<dyn Backend>,
    pub events: Events,
}

impl Context {
    pub fn new(config: Config, parts: Parts, orders: mpsc::Sender<ShutdownOrder>) -> Self {
        let Parts {
            supervisor,
            sessions,
            resources,
            store,
            backend,
            events,
        } = parts;
        Self {
            admission: Admission::new(config.socket_group.clone(), config.max_connections_per_uid),
            config: RwLock::new(Arc::new(config)),
            loads: Mutex::new(Loads {
                loaded_at: SystemTime::now(),
                reloads: 0,
                last: Reloaded {
                    changed: Vec::new(),
                    needs_restart: Vec::new(),
                },
                last_error: None,
            }),
            supervisor,
            sessions,
            resources,
            store,
            backend,
            events,
            started_wall: SystemTime::now(),
            started: Instant::now(),
            pid: std::process::id(),
            stopping: AtomicBool::new(false),
            orders,
            answering: AtomicUsize::new(0),
            answered: Notify::new(),
        }
    }

    /// The configuration in effect.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn loads(&self) -> std::sync::MutexGuard<'_, Loads> {
        self.loads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the settings again (the config file as it is now, with the environment and
    /// flags msbd started with) and applies what may change at run time: intervals,
    /// timeouts, limits, templates and languages. A configuration with a bad value changes
    /// nothing. Returns what changed. Reloads are not meant to overlap: one caller (the
    /// SIGHUP handler) makes them one at a time.
    pub async fn reload(&self) -> Result<Reloaded, ConfigError> {
        let running = self.config();
        let reading = running.clone();
        let loaded = tokio::task::spawn_blocking(move || reading.reread())
            .await
            .unwrap_or_else(|err| {
                Err(ConfigError::File {
                    file: running.file().display().to_string(),
                    error: format!("reading it failed: {err}"),
                })
            });
        let mut config = match loaded {
            Ok(config) => config,
            Err(err) => {
                self.loads().last_error = Some(err.to_string());
                return Err(err);
            }
        };
        let (changed, needs_restart) = config.applicable(&running);
        for (task, tuning) in task_tunings(&config) {
            // Only a task that has stopped (msbd is shutting down) does not take it.
            let _ = self.supervisor.retune(task, tuning).await;
        }
        self.sessions.retune(session_settings(&config));
        self.resources.set_limits(limits(&config));
        self.admission.set_per_uid(config.max_connections_per_uid);
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        let reloaded = Reloaded {
            changed,
            needs_restart,
        };
        let mut loads = self.loads();
        loads.loaded_at = SystemTime::now();
        loads.reloads += 1;
        loads.last = reloaded.clone();
        loads.last_error = None;
        drop(loads);
        self.events.emit(msb_proto::EventKind::ConfigReloaded {
            changed: reloaded.changed.iter().map(|c| c.name.clone()).collect(),
        });
        Ok(reloaded)
    }

    pub fn config_status(&self) -> ConfigStatus {
        let config = self.config();
        let loads = self.loads();
        ConfigStatus {
            file: config.file().to_string_lossy().into_owned(),
            found: config.file_found,
            loaded_at: crate::clock::unix_secs(loads.loaded_at),
            reloads: loads.reloads,
            changed: loads.last.changed.clone(),
            needs_restart: loads.last.needs_restart.clone(),
            last_error: loads.last_error.clone(),
        }
    }

    /// Counts a request as being answered until the guard is dropped.
    pub fn answering(&self) -> Answering<'_> {
        self.answering.fetch_add(1, Ordering::SeqCst);
        Answering(self)
    }

    /// Waits until no request is being answered, or `timeout` has passed.
    pub async fn answered(&self, timeout: Duration) {
        let waited = tokio::time::timeout(timeout, async {
            loop {
                let answered = self.answered.notified();
                if self.answering.load(Ordering::SeqCst) == 0 {
                    return;
                }
                answered.await;
            }
        })
        .await;
        if waited.is_err() {
            tracing::warn!("some answers were still being written when msbd exited");
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn started_at(&self) -> u64 {
        crate::clock::unix_secs(self.started_wall)
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Closes the door: from now on requests that change anything are refused.
    pub fn close_door(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Hands a shutdown to the daemon; false when one is already under way.
    pub fn order_shutdown(&self, order: ShutdownOrder) -> bool {
        !self.is_stopping() && self.orders.try_send(order).is_ok()
    }
}

/// Each task's settings, by its name.
pub fn task_tunings(config: &Config) -> [(&'static str, Tuning); 2] {
    let tuning = |interval| Tuning {
        interval,
        stall_after: config.stall_after,
        policy: config.restart_policy,
    };
    [
        (TASK_NAMES[0], tuning(config.cleanup_interval)),
        (TASK_NAMES[1], tuning(config.orphan_cleanup_interval)),
    ]
}

pub fn session_settings(config: &Config) -> SessionSettings {
    SessionSettings {
        templates: config.templates.clone(),
        timeout: config.session_timeout,
        busy_timeout: config.busy_timeout,
        stop_grace: config.stop_grace,
    }
}

pub fn limits(config: &Config) -> Limits {
    Limits {
        max_sessions: config.max_sessions,
        max_memory_mb: config.max_total_memory_mb,
        lru_eviction: config.lru_eviction,
        default_flavor: config.default_flavor,
    }
}
