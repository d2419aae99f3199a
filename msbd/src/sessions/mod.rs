//! SessionManager: the session registry and what changes it: get-or-create, touch, busy
//! marks, stops, the stops that eviction and expiry ask for, the drained stop of a shutdown,
//! and the sessions whose sandbox ended by itself, kept for a while as `ended`.
//!
//! A session is removed only after its sandbox is confirmed stopped. A stop that fails leaves
//! the session in `error`, to be retried by the next cleanup cycle. Creates and stops run to
//! their end in tasks of their own, so a caller that goes away (a client, a cycle cut short)
//! never leaves a half-made session or a half-stopped sandbox.

mod cleanup;
mod create;
mod durable;
mod ended;
mod error;
mod log;
mod registry;
mod stop;
mod work;

pub use cleanup::SessionCleanup;
pub use error::SessionError;
pub use log::SessionLog;
pub use registry::{Registry, Totals};
pub use work::WorkLease;

use crate::backend::Backend;
use crate::clock::now_ms;
use crate::deadline::Hurry;
use crate::events::Events;
use crate::session::Session;
use crate::store::{Change, Store};
use crate::templates::Templates;
use ended::{Ended, EndedSession};
use msb_proto::{
    SandboxDetails, SandboxExit, SessionFate, SessionFilter, SessionInfo, SessionStatus,
};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// Decides whether a new session of `Flavor` fits, and which idle sessions to evict so that
/// it does. Called with the registry locked.
pub type Admit<'a> =
    dyn FnOnce(&Registry, msb_proto::Flavor) -> Result<Vec<String>, SessionError> + Send + 'a;

/// The session settings a reload may change.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub templates: Templates,
    /// Idle time after which a session expires.
    pub timeout: Duration,
    /// Time after which a busy mark nobody lifted lapses.
    pub busy_timeout: Duration,
    /// How long a sandbox gets between SIGTERM and SIGKILL when its session is stopped.
    pub stop_grace: Duration,
}

/// What `SessionSettings` sets beside the registry's timeouts.
struct Tunables {
    templates: Templates,
    stop_grace: Duration,
}

/// What the registry lock guards.
struct State {
    registry: Registry,
    /// Set once a shutdown begins: no session is admitted any more, and the fate of every
    /// stop that ends is told here.
    closing: Option<mpsc::UnboundedSender<SessionFate>>,
    /// Sessions whose sandbox ended while they were still being created, and how.
    ended_while_creating: HashMap<String, SandboxExit>,
    /// Sessions whose sandbox ended by itself, kept for a while.
    ended: Ended,
}

pub struct SessionManager {
    /// A plain mutex: held for a few map operations, never across `.await`. Store changes
    /// are queued under it, so they reach the store in the order they happened.
    state: Mutex<State>,
    /// Woken whenever a create or a stop ends, for a shutdown waiting on them.
    settled: Notify,
    store: Store,
    /// Sessions touched since the last batch was written to the store.
    touched: Mutex<HashSet<String>>,
    /// Wakes the touch writer when there is something to write.
    touch_pending: Notify,
    /// Sandboxes of touched sessions the backend has not been told of yet: gathered while a
    /// call to it is under way, so that a slow backend holds up neither the store's writes
    /// nor more than one call.
    untold: Mutex<HashSet<String>>,
    /// Wakes the teller when there is something to tell.
    untold_pending: Notify,
    /// (adopted, lost) when the registry was restored at start-up.
    restored: Mutex<(u64, u64)>,
    backend: Arc<dyn Backend>,
    /// What a reload may change (the timeouts live in the registry).
    tunables: Mutex<Tunables>,
    /// Brings every stop's deadline forward when the daemon shuts down.
    hurry: Arc<Hurry>,
    evictions: AtomicU64,
    /// Told of every session created, stopped, expired, evicted or ended.
    events: Events,
}

impl SessionManager {
    pub fn new(
        store: Store,
        backend: Arc<dyn Backend>,
        settings: SessionSettings,
        hurry: Arc<Hurry>,
        events: Events,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                registry: Registry::new(
                    settings.timeout.as_millis() as u64,
                    settings.busy_timeout.as_millis() as u64,
                ),
                closing: None,
                ended_while_creating: HashMap::new(),
                ended: Ended::default(),
            }),
            settled: Notify::new(),
            store,
            touched: Mutex::new(HashSet::new()),
            touch_pending: Notify::new(),
            untold: Mutex::new(HashSet::new()),
            untold_pending: Notify::new(),
            restored: Mutex::new((0, 0)),
            backend,
            tunables: Mutex::new(Tunables {
                templates: settings.templates,
                stop_grace: settings.stop_grace,
            }),
            hurry,
            evictions: AtomicU64::new(0),
            events,
        }
    }

    /// Takes the settings of a reload: new sessions get the new templates, every session's
    /// deadline follows the new timeouts, stops from now on the new grace.
    pub fn retune(&self, settings: SessionSettings) {
        self.lock().registry.set_timeouts(
            settings.timeout.as_millis() as u64,
            settings.busy_timeout.as_millis() as u64,
        );
        *self.tunables() = Tunables {
            templates: settings.templates,
            stop_grace: settings.stop_grace,
        };
    }

    fn tunables(&self) -> MutexGuard<'_, Tunables> {
        self.tunables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long a sandbox may go untouched before its session would have ended in any case:
    /// twice the session and busy timeouts, for a backend's idle clock to stop it by should
    /// msbd be gone (never sooner than msbd itself would).
    fn idle_limit(&self) -> Duration {
        let (timeout_ms, busy_timeout_ms) = self.lock().registry.timeouts();
        Duration::from_millis(2 * (timeout_ms + busy_timeout_ms))
    }

    /// How long a sandbox gets between SIGTERM and SIGKILL when it is stopped.
    pub fn stop_grace(&self) -> Duration {
        self.tunables().stop_grace
    }

    /// The templates jailed less than the rest, for `status` (see `Templates::exceptions`).
    pub fn template_exceptions(&self) -> Option<String> {
        self.tunables().templates.exceptions()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn info(registry: &Registry, s: &Session) -> SessionInfo {
        // A stopped session (the answer to a stop) is not expiring any more.
        let expires = registry
            .deadline(s)
            .filter(|_| s.status != SessionStatus::Stopped);
        SessionInfo {
            id: s.id.clone(),
            template: s.template.clone(),
            flavor: s.flavor,
            status: s.shown_status(),
            sandbox: s.sandbox.clone(),
            created_at: s.created_at_ms / 1000,
            last_accessed: s.last_accessed_ms / 1000,
            expires_in_secs: expires.map(|at| at.saturating_sub(now_ms()) / 1000),
            error: s.error.clone(),
            busy_since: s.busy_since_ms.map(|ms| ms / 1000),
            details: None,
            fate: None,
            exit: None,
            owner: s.owner,
            labels: s.labels.clone(),
        }
    }

    /// The public view of session `id` as `registry` holds it.
    fn info_in(registry: &Registry, id: &str) -> Result<SessionInfo, SessionError> {
        registry
            .get(id)
            .map(|s| Self::info(registry, s))
            .ok_or_else(|| unknown(id))
    }

    pub fn totals(&self) -> Totals {
        self.lock().registry.totals()
    }

    /// How many sessions there are of each status, `ended` ones included.
    pub fn by_status(&self) -> Vec<(SessionStatus, u64)> {
        let state = self.lock();
        state
            .registry
            .by_status()
            .map(|(status, count)| match status {
                SessionStatus::Ended => (status, state.ended.len() as u64),
                _ => (status, count),
            })
            .collect()
    }

    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// True when `sandbox` is the sandbox of the live session `session_id`.
    pub fn owns(&self, session_id: &str, sandbox: &str) -> bool {
        self.lock()
            .registry
            .get(session_id)
            .is_some_and(|s| s.sandbox == sandbox)
    }

    /// Refuses `caller` on session `id` unless it may use it (see `Session::usable_by`); an
    /// unknown session passes, for the operation itself to report.
    pub fn check_owner(&self, id: &str, caller: Option<u32>) -> Result<(), SessionError> {
        match self.lock().registry.get(id) {
            Some(session) => owned_by(session, caller),
            None => Ok(()),
        }
    }

    /// True when session `id` exists, whatever its state.
    pub fn exists(&self, id: &str) -> bool {
        self.lock().registry.get(id).is_some()
    }

    /// True when some session (live, being created or being stopped, or ended) has this
    /// sandbox.
    pub fn has_sandbox(&self, sandbox: &str) -> bool {
        let state = self.lock();
        state.registry.has_sandbox(sandbox) || state.ended.has_sandbox(sandbox)
    }

    /// Sessions matching `filter`: least recently accessed first, or a page of them in
    /// creation order. Ended sessions only when the filter asks for them (`ended`, or that
    /// status).
    pub fn list(&self, filter: &SessionFilter) -> Vec<SessionInfo> {
        self.listed(filter, |registry, listed| match listed {
            Listed::Live(s) => Self::info(registry, s),
            Listed::Ended(e) => e.info(),
        })
    }

    /// The ids of the sessions `list` returns, in its order.
    pub fn ids(&self, filter: &SessionFilter) -> Vec<String> {
        self.listed(filter, |_, listed| listed.session().id.clone())
    }

    /// Picks, orders and pages the sessions matching `filter`, then shows only the page.
    fn listed<T>(
        &self,
        filter: &SessionFilter,
        show: impl Fn(&Registry, Listed<'_>) -> T,
    ) -> Vec<T> {
        let now = now_ms();
        let state = self.lock();
        let registry = &state.registry;
        let matches = |s: &Session| {
            filter
                .status
                .is_none_or(|status| s.shown_status() == status)
                && filter.template.as_ref().is_none_or(|t| &s.template == t)
                && filter
                    .idle_longer_than_ms
                    .is_none_or(|ms| now.saturating_sub(s.last_accessed_ms) > ms)
                && s.carries(&filter.labels)
        };
        let with_ended = filter.ended || filter.status == Some(SessionStatus::Ended);
        // A page is taken in creation order, which touching a session does not change, so
        // consecutive pages neither skip nor repeat one.
        fn key(s: &Session, paged: bool) -> (u64, &str) {
            let at = match paged {
                true => s.created_at_ms,
                false => s.last_accessed_ms,
            };
            (at, s.id.as_str())
        }
        let paged = filter.paged();
        let candidates = registry
            .iter()
            .filter(|s| matches(s))
            .map(Listed::Live)
            .chain(
                state
                    .ended
                    .iter()
                    .filter(|e| with_ended && matches(e.session()))
                    .map(Listed::Ended),
            )
            .map(|listed| (key(listed.session(), paged), listed));
        let offset = filter.offset as usize;
        let limit = filter.limit.map_or(usize::MAX, |limit| limit as usize);
        smallest(candidates, offset.saturating_add(limit))
            .into_iter()
            .skip(offset)
            .map(|(_, listed)| show(registry, listed))
            .collect()
    }

    /// Everything known about one session, its sandbox as the backend sees it included; an
    /// ended one with its exit.
    pub async fn show(&self, id: &str) -> Result<SessionInfo, SessionError> {
        let mut info = {
            let state = self.lock();
            if let Some(ended) = state.ended.get(id) {
                // No sandbox left to look at: its exit says the rest.
                return Ok(ended.info());
            }
            Self::info_in(&state.registry, id)?
        };
        let state = self.backend.inspect(&info.sandbox).await;
        info.details = Some(SandboxDetails {
            running: state.running,
            pid: state.pid,
            workdir: state.workdir.map(|p| p.display().to_string()),
            isolation: state.isolation,
            cpus: info.flavor.cpus(),
            memory_mb: info.flavor.memory_mb(),
        });
        Ok(info)
    }

    pub fn touch(&self, id: &str) -> Result<SessionInfo, SessionError> {
        let info = {
            let mut state = self.lock();
            state
                .registry
                .update(id, |s| s.last_accessed_ms = now_ms())
                .ok_or_else(|| unknown(id))?;
            Self::info_in(&state.registry, id)?
        };
        self.touched(id);
        Ok(info)
    }

    /// Marks a session busy (`processing`: never expired or evicted until the mark is lifted
    /// or lapses) or idle again. Marking a busy session busy again renews the mark. A mark is
    /// not an access: a session past its timeout when marked idle expires at the next cycle.
    /// The mark is stored before it is acknowledged; if it cannot be, it is taken back.
    pub async fn mark(&self, id: &str, busy: bool) -> Result<SessionInfo, SessionError> {
        let (info, before, after, stored) = {
            let mut state = self.lock();
            let session = state.registry.get(id).ok_or_else(|| unknown(id))?;
            if let Some(conflict) = under_way(session) {
                return Err(conflict);
            }
            if session.status == SessionStatus::Stopped {
                return Err(SessionError::NotMarkable {
                    id: id.to_string(),
                    status: session.status,
                });
            }
            let before = (session.status, session.busy_since_ms);
            let now = now_ms();
            let after = state.registry.update(id, |s| {
                if busy {
                    s.status = SessionStatus::Processing;
                    s.busy_since_ms = Some(now);
                } else if s.status == SessionStatus::Processing {
                    s.status = SessionStatus::Ready;
                    s.busy_since_ms = None;
                }
                (s.status, s.busy_since_ms)
            });
            let info = Self::info_in(&state.registry, id)?;
            let row = state.registry.get(id).cloned().ok_or_else(|| unknown(id))?;
            (info, before, after, self.store.write(Change::Put(row)))
        };
        if let Err(source) = stored.await {
            // Taken back, unless somebody changed the session meanwhile.
            let mut state = self.lock();
            let unchanged = state
                .registry
                .get(id)
                .is_some_and(|s| Some((s.status, s.busy_since_ms)) == after);
            if unchanged {
                state.registry.update(id, |s| {
                    (s.status, s.busy_since_ms) = before;
                });
            }
            return Err(SessionError::Store {
                id: id.to_string(),
                source,
            });
        }
        tracing::debug!(session = id, busy, "session marked");
        Ok(info)
    }
}

/// Refuses `caller` on a session that is not theirs.
fn owned_by(s: &Session, caller: Option<u32>) -> Result<(), SessionError> {
    if s.usable_by(caller) {
        return Ok(());
    }
    Err(SessionError::NotOwner {
        id: s.id.clone(),
        owner: s.owner.unwrap_or_default(),
        caller: caller.map_or_else(|| "an unknown uid".into(), |uid| format!("uid {uid}")),
    })
}

/// The conflict of starting something on a session that is being created or stopped.
fn under_way(s: &Session) -> Option<SessionError> {
    let doing = if s.stopping {
        "stopped"
    } else if s.status == SessionStatus::Creating {
        "created"
    } else {
        return None;
    };
    Some(SessionError::Conflict {
        id: s.id.clone(),
        doing,
    })
}

fn unknown(id: &str) -> SessionError {
    SessionError::Unknown { id: id.to_string() }
}

/// The `n` smallest of `items` by key, in order. A page (`n` of 100 among thousands) keeps
/// no more than `n` at a time: no copy of them all, no sort beyond the page.
fn smallest<K: Ord, T>(items: impl Iterator<Item = (K, T)>, n: usize) -> Vec<(K, T)> {
    /// Ordered by its key alone.
    struct ByKey<K, T>(K, T);
    impl<K: Ord, T> PartialEq for ByKey<K, T> {
        fn eq(&self, other: &Self) -> bool {
            self.0 == other.0
        }
    }
    impl<K: Ord, T> Eq for ByKey<K, T> {}
    impl<K: Ord, T> PartialOrd for ByKey<K, T> {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl<K: Ord, T> Ord for ByKey<K, T> {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0.cmp(&other.0)
        }
    }
    if n == usize::MAX {
        let mut all: Vec<_> = items.collect();
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        return all;
    }
    // A max-heap of the smallest seen so far: its top is the first to give way.
    let mut kept = BinaryHeap::with_capacity(n.min(1024));
    for (key, item) in items {
        if kept.len() < n {
            kept.push(ByKey(key, item));
        } else if let Some(mut top) = kept.peek_mut() {
            if key < top.0 {
                *top = ByKey(key, item);
            }
        }
    }
    kept.into_sorted_vec()
        .into_iter()
        .map(|ByKey(key, item)| (key, item))
        .collect()
}

/// A session a listing picked: live, or ended and kept for its exit.
#[derive(Clone, Copy)]
enum Listed<'a> {
    Live(&'a Session),
    Ended(&'a EndedSession),
}

impl<'a> Listed<'a> {
    fn session(self) -> &'a Session {
        match self {
            Self::Live(s) => s,
            Self::Ended(e) => e.session(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::smallest;

    #[test]
    fn smallest_gives_the_first_n_in_order_whatever_the_input_order() {
        // 0..50 in a scrambled order (7 and 50 are coprime), each with a payload.
        let items: Vec<(u64, String)> = (0..50u64)
            .map(|i| ((i * 7) % 50, format!("s{i}")))
            .collect();
        for n in [0, 1, 10, 49, 50, 80, usize::MAX] {
            let mut sorted = items.clone();
            sorted.sort();
            sorted.truncate(n);
            assert_eq!(smallest(items.clone().into_iter(), n), sorted, "n = {n}");
        }
    }
}
