//! The in-memory session registry: the sessions, an index ordered by deadline, and running
//! totals of what they use. Every change goes through `insert`, `update` and `remove`, which
//! keep the index and the totals in step, so `status` and expiry never scan all sessions.

use crate::session::Session;
use msb_proto::{Flavor, FlavorCounts, SessionStatus};
use std::collections::{BTreeSet, HashMap, HashSet};

/// What the sessions use together, kept up to date on every change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub sessions: u64,
    pub memory_mb: u64,
    pub cpus: u64,
    pub by_flavor: FlavorCounts,
}

impl Totals {
    fn apply(&mut self, flavor: Flavor, add: bool) {
        let count = match flavor {
            Flavor::Small => &mut self.by_flavor.small,
            Flavor::Medium => &mut self.by_flavor.medium,
            Flavor::Large => &mut self.by_flavor.large,
        };
        if add {
            self.sessions += 1;
            self.memory_mb += flavor.memory_mb();
            self.cpus += u64::from(flavor.cpus());
            *count += 1;
        } else {
            self.sessions -= 1;
            self.memory_mb -= flavor.memory_mb();
            self.cpus -= u64::from(flavor.cpus());
            *count -= 1;
        }
    }
}

pub struct Registry {
    sessions: HashMap<String, Session>,
    /// Every session's sandbox name, to tell whose a directory is without a scan.
    sandboxes: HashSet<String>,
    /// (deadline in unix ms, id) of every session that can expire. Idle sessions share one
    /// timeout, so among them this is also least-recently-used order.
    index: BTreeSet<(u64, String)>,
    totals: Totals,
    /// What sessions being stopped still hold: freed as soon as their stops end, so an
    /// eviction plan counts it as free and never evicts for it twice.
    freeing: Totals,
    /// Sessions being created or stopped right now.
    in_flight: usize,
    /// Sessions by the status clients see, indexed by `SessionStatus as usize`.
    by_status: [u64; SessionStatus::ALL.len()],
    timeout_ms: u64,
    busy_timeout_ms: u64,
}

impl Registry {
    pub fn new(timeout_ms: u64, busy_timeout_ms: u64) -> Self {
        Self {
            sessions: HashMap::new(),
            sandboxes: HashSet::new(),
            index: BTreeSet::new(),
            totals: Totals::default(),
            freeing: Totals::default(),
            in_flight: 0,
            by_status: [0; SessionStatus::ALL.len()],
            timeout_ms,
            busy_timeout_ms,
        }
    }

    /// Takes new timeouts, re-filing every session under its new deadline.
    pub fn set_timeouts(&mut self, timeout_ms: u64, busy_timeout_ms: u64) {
        if (timeout_ms, busy_timeout_ms) == (self.timeout_ms, self.busy_timeout_ms) {
            return;
        }
        self.timeout_ms = timeout_ms;
        self.busy_timeout_ms = busy_timeout_ms;
        let index = self
            .sessions
            .values()
            .filter_map(|s| Some((self.deadline(s)?, s.id.clone())))
            .collect();
        self.index = index;
    }

    /// The idle and busy timeouts, in ms.
    pub fn timeouts(&self) -> (u64, u64) {
        (self.timeout_ms, self.busy_timeout_ms)
    }

    /// When the session expires (idle) or its busy mark lapses (`processing`); `None` while
    /// it is being created or stopped, or while work runs in it.
    pub fn deadline(&self, s: &Session) -> Option<u64> {
        if in_flight(s) || s.working > 0 {
            return None;
        }
        Some(match s.busy_since_ms {
            Some(since) if s.status == SessionStatus::Processing => since + self.busy_timeout_ms,
            _ => s.last_accessed_ms + self.timeout_ms,
        })
    }

    pub fn get(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// True when some session, whatever its state, has this sandbox.
    pub fn has_sandbox(&self, sandbox: &str) -> bool {
        self.sandboxes.contains(sandbox)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// What the sessions will use once the stops under way have ended: what eviction plans
    /// with.
    pub fn planned(&self) -> Totals {
        let mut planned = self.totals;
        planned.sessions -= self.freeing.sessions;
        planned.memory_mb -= self.freeing.memory_mb;
        planned.cpus -= self.freeing.cpus;
        planned.by_flavor.small -= self.freeing.by_flavor.small;
        planned.by_flavor.medium -= self.freeing.by_flavor.medium;
        planned.by_flavor.large -= self.freeing.by_flavor.large;
        planned
    }

    /// How many sessions there are of each status, as clients see it.
    pub fn by_status(&self) -> impl Iterator<Item = (SessionStatus, u64)> + '_ {
        SessionStatus::ALL
            .into_iter()
            .map(|status| (status, self.by_status[status as usize]))
    }

    /// How many sessions are being created or stopped.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Files `s` into (or, with `add` false, out of) the index and every running count.
    fn account(&mut self, s: &Session, add: bool) {
        if let Some(deadline) = self.deadline(s) {
            let key = (deadline, s.id.clone());
            if add {
                self.index.insert(key);
            } else {
                self.index.remove(&key);
            }
        }
        self.totals.apply(s.flavor, add);
        let by_status = &mut self.by_status[s.shown_status() as usize];
        if add {
            *by_status += 1;
        } else {
            *by_status -= 1;
        }
        if s.stopping {
            self.freeing.apply(s.flavor, add);
        }
        if in_flight(s) {
            if add {
                self.in_flight += 1;
            } else {
                self.in_flight -= 1;
            }
        }
    }

    /// Adds a session (replacing none: the caller checked the id is free).
    pub fn insert(&mut self, session: Session) {
        self.account(&session, true);
        self.sandboxes.insert(session.sandbox.clone());
        self.sessions.insert(session.id.clone(), session);
    }

    /// Changes a session in place and re-files it.
    pub fn update<T>(&mut self, id: &str, change: impl FnOnce(&mut Session) -> T) -> Option<T> {
        let mut session = self.sessions.remove(id)?;
        self.account(&session, false);
        let flavor = session.flavor;
        let out = change(&mut session);
        debug_assert_eq!(flavor, session.flavor, "a session's flavor never changes");
        debug_assert!(self.sandboxes.contains(&session.sandbox), "nor its sandbox");
        self.account(&session, true);
        self.sessions.insert(id.to_string(), session);
        Some(out)
    }

    pub fn remove(&mut self, id: &str) -> Option<Session> {
        let session = self.sessions.remove(id)?;
        self.account(&session, false);
        self.sandboxes.remove(&session.sandbox);
        Some(session)
    }

    /// Ids whose deadline is at or before `now`, soonest first.
    pub fn due(&self, now: u64) -> Vec<String> {
        self.index
            .range(..(now + 1, String::new()))
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// Sessions that may be evicted, least recently used first: idle and healthy, never
    /// busy, being created, stopping, or in error.
    pub fn evictable(&self) -> impl Iterator<Item = &Session> {
        self.index
            .iter()
            .filter_map(|(_, id)| self.sessions.get(id))
            .filter(|s| matches!(s.status, SessionStatus::Ready | SessionStatus::Running))
    }
}

/// Being created or stopped: an operation is under way on it.
fn in_flight(s: &Session) -> bool {
    s.stopping || s.status == SessionStatus::Creating
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, flavor: Flavor, last: u64) -> Session {
        Session {
            id: id.into(),
            template: "default".into(),
            flavor,
            status: SessionStatus::Ready,
            sandbox: format!("msb-{id}"),
            created_at_ms: last,
            last_accessed_ms: last,
            busy_since_ms: None,
            error: None,
            owner: None,
            labels: Default::default(),
            stopping: false,
            working: 0,
        }
    }

    #[test]
    fn totals_follow_every_change() {
        let mut r = Registry::new(1000, 5000);
        r.insert(session("a", Flavor::Medium, 0));
        r.insert(session("b", Flavor::Small, 0));
        assert_eq!(r.totals().memory_mb, 3072);
        r.update("b", |s| s.working = 1);
        let count = |r: &Registry, status| {
            r.by_status()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| n)
        };
        assert_eq!(count(&r, SessionStatus::Processing), 1, "work shows");
        assert_eq!(count(&r, SessionStatus::Ready), 1);
        assert_eq!(r.totals().cpus, 3);
        assert_eq!(r.totals().by_flavor.medium, 1);
        r.remove("a");
        assert_eq!(count(&r, SessionStatus::Ready), 0);
        assert_eq!(
            r.totals(),
            Totals {
                sessions: 1,
                memory_mb: 1024,
                cpus: 1,
                by_flavor: FlavorCounts {
                    small: 1,
                    medium: 0,
                    large: 0
                }
            }
        );
    }

    #[test]
    fn due_sessions_come_from_the_index_in_deadline_order() {
        let mut r = Registry::new(1000, 5000);
        r.insert(session("late", Flavor::Small, 500));
        r.insert(session("early", Flavor::Small, 100));
        assert_eq!(r.due(1099), Vec::<String>::new());
        assert_eq!(r.due(1100), vec!["early".to_string()]);
        assert_eq!(r.due(2000), vec!["early".to_string(), "late".to_string()]);
        r.update("early", |s| s.last_accessed_ms = 900);
        assert_eq!(r.due(1600), vec!["late".to_string()]);
    }

    #[test]
    fn new_timeouts_move_every_deadline() {
        let mut r = Registry::new(1000, 5000);
        r.insert(session("a", Flavor::Small, 100));
        r.insert(session("b", Flavor::Small, 200));
        assert_eq!(r.due(1050), Vec::<String>::new());
        r.set_timeouts(50, 5000);
        assert_eq!(r.due(1050), vec!["a".to_string(), "b".to_string()]);
        r.set_timeouts(10_000, 5000);
        assert_eq!(r.due(1050), Vec::<String>::new());
        assert_eq!(r.evictable().count(), 2, "still filed");
    }

    #[test]
    fn a_busy_session_is_due_only_when_its_mark_lapses_and_is_never_evictable() {
        let mut r = Registry::new(1000, 5000);
        r.insert(session("busy", Flavor::Small, 0));
        r.insert(session("idle", Flavor::Small, 10));
        r.update("busy", |s| {
            s.status = SessionStatus::Processing;
            s.busy_since_ms = Some(0);
        });
        assert_eq!(r.due(4000), vec!["idle".to_string()]);
        assert_eq!(r.due(5000), vec!["idle".to_string(), "busy".to_string()]);
        let evictable: Vec<&str> = r.evictable().map(|s| s.id.as_str()).collect();
        assert_eq!(evictable, ["idle"]);
    }

    #[test]
    fn stopping_sessions_leave_the_index_and_count_as_freed_for_planning() {
        let mut r = Registry::new(1000, 5000);
        r.insert(session("a", Flavor::Small, 0));
        r.insert(session("b", Flavor::Medium, 0));
        r.update("a", |s| s.stopping = true);
        assert!(!r.due(10_000).contains(&"a".to_string()));
        assert_eq!(r.evictable().count(), 1);
        assert_eq!(r.in_flight(), 1);
        assert_eq!(
            r.totals().sessions,
            2,
            "it still uses its resources until stopped"
        );
        assert_eq!(r.planned().sessions, 1);
        assert_eq!(r.planned().memory_mb, 2048);
        r.update("a", |s| s.stopping = false);
        assert_eq!((r.planned().sessions, r.in_flight()), (2, 0));
        r.remove("b");
        assert_eq!(r.planned(), r.totals());
    }
}
