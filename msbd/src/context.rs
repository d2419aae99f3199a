//! The shared parts every request reaches: the supervisor, the managers, the store, the
//! event bus, and the facts about this daemon. It imports neither the server nor the daemon:
//! the server hands requests to `dispatch` with a context, and the daemon builds the context
//! and carries out the shutdowns it is handed through it.

use crate::admission::Admission;
use crate::backend::Backend;
use crate::config::Config;
use crate::events::Events;
use crate::languages::Languages;
use crate::reply::Reply;
use crate::resources::ResourceManager;
use crate::sessions::SessionManager;
use crate::store::Store;
use crate::supervisor::Supervisor;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
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

pub struct Context {
    pub config: Config,
    pub supervisor: Supervisor,
    pub sessions: Arc<SessionManager>,
    pub resources: Arc<ResourceManager>,
    pub store: Store,
    pub backend: Arc<dyn Backend>,
    pub languages: Languages,
    /// Who may use the socket, and how many connections each uid holds.
    pub admission: Arc<Admission>,
    /// What happens, for `msbctl events` and the metrics.
    pub events: Events,
    started_wall: SystemTime,
    started: Instant,
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
            languages: Languages::new(&config.languages),
            admission: Admission::new(config.socket_group.clone(), config.max_connections_per_uid),
            config,
            supervisor,
            sessions,
            resources,
            store,
            backend,
            events,
            started_wall: SystemTime::now(),
            started: Instant::now(),
            stopping: AtomicBool::new(false),
            orders,
            answering: AtomicUsize::new(0),
            answered: Notify::new(),
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
