//! ResourceManager: the limits a new session must fit in (evicting least-recently-used idle
//! sessions to make room, when allowed), the file-descriptor budget, the usage report, and
//! the `orphan-cleanup` task that stops marked sandboxes no live session owns and removes
//! what crashed creates left on disk.
//!
//! An orphan is stopped only when it was seen without a session twice (two cycles, or
//! `msbctl orphans` then a cycle), so a sandbox whose session is being created right now is
//! never reaped.

use crate::backend::{Backend, BoxFuture, Keep, SandboxInfo};
use crate::deadline::Hurry;
use crate::sessions::{Registry, SessionError, SessionManager};
use crate::supervisor::{CycleContext, CycleError, CycleResult, Task};
use msb_proto::{CreateSession, FdBudget, Flavor, OrphanInfo, ResourceReport, SessionInfo, Usage};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// How many orphans one cycle stops side by side.
const ORPHAN_CONCURRENCY: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_sessions: u64,
    /// `None`: memory is not limited.
    pub max_memory_mb: Option<u64>,
    pub lru_eviction: bool,
    pub default_flavor: Flavor,
}

impl Limits {
    /// Which limit a new session of `flavor` would break with `sessions` and `memory_mb` in
    /// use, as a message naming the limit, the usage and the ask.
    fn breach(&self, sessions: u64, memory_mb: u64, flavor: Flavor) -> Option<String> {
        if sessions >= self.max_sessions {
            return Some(format!(
                "session limit reached: {sessions} of {} sessions in use (max_sessions), a new session asks for 1",
                self.max_sessions
            ));
        }
        match self.max_memory_mb {
            Some(max) if memory_mb + flavor.memory_mb() > max => Some(format!(
                "memory limit reached: {memory_mb} of {max} MB in use (max_total_memory_mb), a {flavor} session asks for {} MB",
                flavor.memory_mb()
            )),
            _ => None,
        }
    }

    /// The idle sessions to evict, least recently used first, so that a new session of
    /// `flavor` fits; an error naming the limit when it cannot fit. What stops under way will
    /// free counts as free already, so concurrent creates never evict for the same room.
    pub fn plan(&self, registry: &Registry, flavor: Flavor) -> Result<Vec<String>, SessionError> {
        let planned = registry.planned();
        let (mut sessions, mut memory) = (planned.sessions, planned.memory_mb);
        let Some(first) = self.breach(sessions, memory, flavor) else {
            return Ok(Vec::new());
        };
        let refuse = |why: &str| Err(SessionError::LimitReached(format!("{first}; {why}")));
        if !self.lru_eviction {
            return refuse("LRU eviction is off");
        }
        let mut victims = Vec::new();
        for candidate in registry.evictable() {
            victims.push(candidate.id.clone());
            sessions -= 1;
            memory -= candidate.flavor.memory_mb();
            if self.breach(sessions, memory, flavor).is_none() {
                return Ok(victims);
            }
        }
        refuse("evicting every idle session would not make room (busy sessions are never evicted)")
    }
}

/// How many sandboxes the open-file limit leaves room for.
#[derive(Debug, Clone, Copy)]
pub struct Descriptors {
    pub limit: u64,
    /// Kept for connections, the store and start-ups in progress.
    pub reserved: u64,
    pub per_sandbox: u64,
}

impl Descriptors {
    pub fn max_sandboxes(&self) -> u64 {
        self.limit.saturating_sub(self.reserved) / self.per_sandbox.max(1)
    }

    fn warn_if_short(&self, limits: &Limits) {
        if limits.max_sessions > self.max_sandboxes() {
            tracing::warn!(
                max_sessions = limits.max_sessions,
                fd_limit = self.limit,
                allows = self.max_sandboxes(),
                "max_sessions is more than the open-file limit allows; creates beyond it are refused"
            );
        }
    }

    /// An error when one more sandbox would not fit; checked before anything is made.
    fn check(&self, sandboxes: u64) -> Result<(), SessionError> {
        let max = self.max_sandboxes();
        if sandboxes < max {
            return Ok(());
        }
        Err(SessionError::LimitReached(format!(
            "file descriptor budget reached: {sandboxes} of {max} sandboxes that msbd's open-file limit allows \
             (RLIMIT_NOFILE {}, {} reserved, {} per sandbox); raise msbd's limit (LimitNOFILE= in its unit, ulimit -n) or lower --max-sessions",
            self.limit, self.reserved, self.per_sandbox
        )))
    }
}

pub struct ResourceManager {
    /// A plain mutex around a copy: a reload replaces it, a create copies it out.
    limits: Mutex<Limits>,
    fds: Descriptors,
    sessions: Arc<SessionManager>,
    backend: Arc<dyn Backend>,
    hurry: Arc<Hurry>,
    /// How sandboxes are isolated on this host, for the report.
    isolation: String,
    /// Sandboxes seen without a session the last time anyone looked.
    suspects: Mutex<HashSet<String>>,
}

impl ResourceManager {
    pub fn new(
        limits: Limits,
        fds: Descriptors,
        sessions: Arc<SessionManager>,
        backend: Arc<dyn Backend>,
        hurry: Arc<Hurry>,
        isolation: String,
    ) -> Self {
        fds.warn_if_short(&limits);
        Self {
            limits: Mutex::new(limits),
            fds,
            sessions,
            backend,
            hurry,
            isolation,
            suspects: Mutex::new(HashSet::new()),
        }
    }

    /// Gets or creates a session for `owner`.
    pub async fn create_session(
        &self,
        request: CreateSession,
        owner: Option<u32>,
    ) -> Result<SessionInfo, SessionError> {
        let (limits, fds) = (self.limits(), self.fds);
        self.sessions
            .create(
                request,
                limits.default_flavor,
                Box::new(move |registry, flavor| {
                    fds.check(registry.totals().sessions)?;
                    limits.plan(registry, flavor)
                }),
                owner,
            )
            .await
    }

    fn limits(&self) -> Limits {
        *self.limits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the limits of a reload; creates from now on must fit in them.
    pub fn set_limits(&self, limits: Limits) {
        self.fds.warn_if_short(&limits);
        *self.limits.lock().unwrap_or_else(|e| e.into_inner()) = limits;
    }

    pub fn max_sessions(&self) -> u64 {
        self.limits().max_sessions
    }

    pub fn report(&self) -> ResourceReport {
        let totals = self.sessions.totals();
        let limits = self.limits();
        ResourceReport {
            sessions: Usage {
                used: totals.sessions,
                max: Some(limits.max_sessions),
            },
            memory_mb: Usage {
                used: totals.memory_mb,
                max: limits.max_memory_mb,
            },
            cpus: Usage {
                used: totals.cpus,
                max: None,
            },
            by_flavor: totals.by_flavor,
            lru_eviction: limits.lru_eviction,
            evictions: self.sessions.evictions(),
            isolation: match self.sessions.template_exceptions() {
                Some(exceptions) => format!("{}; {exceptions}", self.isolation),
                None => self.isolation.clone(),
            },
            fds: FdBudget {
                limit: self.fds.limit,
                reserved: self.fds.reserved,
                per_sandbox: self.fds.per_sandbox,
                max_sandboxes: self.fds.max_sandboxes(),
                sandboxes: totals.sessions,
            },
        }
    }

    /// The marked sandboxes no live session owns, each saying whether it was seen so before.
    /// Remembers them, so the next cycle stops every one listed.
    pub async fn orphans(&self) -> Result<Vec<OrphanInfo>, crate::backend::BackendError> {
        let listed = self.backend.list().await?;
        let orphans = self.orphans_among(&listed);
        let (confirmed, _) = self.confirm(&orphans);
        Ok(orphans
            .into_iter()
            .map(|o| OrphanInfo {
                confirmed: confirmed.iter().any(|c| c.name == o.name),
                sandbox: o.name,
                session_id: o.session_id,
                pid: o.pid,
            })
            .collect())
    }

    fn orphans_among(&self, listed: &[SandboxInfo]) -> Vec<SandboxInfo> {
        listed
            .iter()
            .filter(|s| !self.sessions.owns(&s.session_id, &s.name))
            .cloned()
            .collect()
    }

    /// Splits `orphans` into those seen before too (to stop now) and the count of new ones,
    /// and remembers all of them for next time.
    fn confirm(&self, orphans: &[SandboxInfo]) -> (Vec<SandboxInfo>, u64) {
        let mut suspects = self.suspects.lock().unwrap_or_else(|e| e.into_inner());
        let confirmed: Vec<SandboxInfo> = orphans
            .iter()
            .filter(|o| suspects.contains(&o.name))
            .cloned()
            .collect();
        let fresh = (orphans.len() - confirmed.len()) as u64;
        *suspects = orphans.iter().map(|o| o.name.clone()).collect();
        (confirmed, fresh)
    }

    fn forget_suspect(&self, name: &str) {
        self.suspects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }
}

/// The `orphan-cleanup` task.
pub struct OrphanCleanup(pub Arc<ResourceManager>);

impl Task for OrphanCleanup {
    fn name(&self) -> &'static str {
        msb_proto::TASK_NAMES[1]
    }

    fn counts(&self) -> &'static [&'static str] {
        &["found", "suspected", "stopped", "failed", "debris"]
    }

    fn run_cycle(
        self: Arc<Self>,
        ctx: CycleContext,
    ) -> BoxFuture<'static, Result<CycleResult, CycleError>> {
        Box::pin(async move {
            let resources = self.0.clone();
            let listed = resources.backend.list().await?;
            let orphans = resources.orphans_among(&listed);
            let (confirmed, fresh) = resources.confirm(&orphans);
            let mut result = CycleResult::default();
            result.add("found", orphans.len() as u64);
            result.add("suspected", fresh);
            let (outcomes, interrupted) = ctx
                .for_each_bounded(confirmed, ORPHAN_CONCURRENCY, |orphan| {
                    let resources = resources.clone();
                    async move {
                        let deadline = resources.hurry.after(resources.sessions.stop_grace());
                        let outcome = resources.backend.stop(&orphan.name, deadline).await;
                        (orphan, outcome)
                    }
                })
                .await;
            result.interrupted = interrupted;
            let mut failures = Vec::new();
            for (orphan, outcome) in outcomes {
                match outcome {
                    Ok(how) => {
                        tracing::info!(sandbox = %orphan.name, session = %orphan.session_id, ?how, "orphan stopped");
                        resources.forget_suspect(&orphan.name);
                        result.processed += 1;
                        result.add("stopped", 1);
                    }
                    Err(err) => {
                        tracing::warn!(sandbox = %orphan.name, error = %err, "could not stop an orphan");
                        failures.push(err.to_string());
                    }
                }
            }
            result.add("failed", failures.len() as u64);
            if !interrupted {
                let sessions = resources.sessions.clone();
                let keep: Keep = Arc::new(move |sandbox| sessions.has_sandbox(sandbox));
                result.add(
                    "debris",
                    resources.backend.remove_debris(listed, keep).await?,
                );
            }
            result.unless_failed(failures, "orphan(s) could not be stopped")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Session;
    use msb_proto::SessionStatus;

    fn limits(max_sessions: u64, max_memory_mb: Option<u64>, lru_eviction: bool) -> Limits {
        Limits {
            max_sessions,
            max_memory_mb,
            lru_eviction,
            default_flavor: Flavor::Small,
        }
    }

    fn registry(sessions: &[(&str, Flavor, SessionStatus, u64)]) -> Registry {
        let mut registry = Registry::new(1_000_000, 1_000_000);
        for (id, flavor, status, last) in sessions {
            registry.insert(Session {
                id: id.to_string(),
                template: "default".into(),
                flavor: *flavor,
                status: *status,
                sandbox: format!("msb-{id}"),
                created_at_ms: *last,
                last_accessed_ms: *last,
                busy_since_ms: (*status == SessionStatus::Processing).then_some(*last),
                error: None,
                owner: None,
                labels: Default::default(),
                stopping: false,
                working: 0,
            });
        }
        registry
    }

    fn planned(result: Result<Vec<String>, SessionError>) -> Vec<String> {
        result.unwrap_or_else(|err| panic!("refused: {err}"))
    }

    #[test]
    fn evicts_the_least_recently_used_idle_sessions_until_it_fits() {
        let r = registry(&[
            ("old", Flavor::Small, SessionStatus::Ready, 1),
            ("busy", Flavor::Small, SessionStatus::Processing, 0),
            ("new", Flavor::Small, SessionStatus::Ready, 5),
        ]);
        assert_eq!(
            planned(limits(3, None, true).plan(&r, Flavor::Small)),
            ["old"]
        );
        assert!(planned(limits(4, None, true).plan(&r, Flavor::Small)).is_empty());
    }

    #[test]
    fn room_being_freed_is_not_evicted_for_twice() {
        let mut r = registry(&[
            ("a", Flavor::Small, SessionStatus::Ready, 1),
            ("b", Flavor::Small, SessionStatus::Ready, 2),
            ("c", Flavor::Small, SessionStatus::Ready, 3),
        ]);
        let limits = limits(3, None, true);
        // Each create marks its victim stopping and adds itself, as `create` does.
        for (n, expected) in [(1, "a"), (2, "b"), (3, "c")] {
            let victims = planned(limits.plan(&r, Flavor::Small));
            assert_eq!(victims, [expected], "create {n}");
            r.update(expected, |s| s.stopping = true);
            r.insert(Session {
                status: SessionStatus::Creating,
                ..r.get(expected)
                    .cloned()
                    .map(|mut s| {
                        s.id = format!("new-{n}");
                        s.sandbox = format!("msb-new-{n}");
                        s.stopping = false;
                        s
                    })
                    .expect("victim")
            });
        }
        assert_eq!(
            r.totals().sessions,
            6,
            "three stopping, three being created"
        );
        assert_eq!(r.planned().sessions, 3);
    }

    #[test]
    fn memory_counts_by_flavor() {
        let r = registry(&[
            ("m", Flavor::Medium, SessionStatus::Ready, 1),
            ("s", Flavor::Small, SessionStatus::Ready, 2),
        ]);
        assert_eq!(
            planned(limits(10, Some(3100), true).plan(&r, Flavor::Medium)),
            ["m"]
        );
        let err = limits(10, Some(3100), false)
            .plan(&r, Flavor::Small)
            .expect_err("over memory")
            .to_string();
        assert!(
            err.contains("3072 of 3100 MB") && err.contains("1024 MB"),
            "{err}"
        );
    }

    #[test]
    fn refuses_when_only_busy_sessions_could_make_room() {
        let r = registry(&[("busy", Flavor::Small, SessionStatus::Processing, 0)]);
        let err = limits(1, None, true)
            .plan(&r, Flavor::Small)
            .expect_err("all busy");
        assert!(matches!(err, SessionError::LimitReached(_)));
        let message = err.to_string();
        assert!(
            message.contains("1 of 1 sessions") && message.contains("busy"),
            "{message}"
        );
    }

    #[test]
    fn the_descriptor_budget_names_the_limit() {
        let fds = Descriptors {
            limit: 1024,
            reserved: 424,
            per_sandbox: 1,
        };
        assert_eq!(fds.max_sandboxes(), 600);
        assert!(fds.check(599).is_ok());
        let err = fds.check(600).expect_err("full").to_string();
        assert!(
            err.contains("file descriptor budget") && err.contains("RLIMIT_NOFILE 1024"),
            "{err}"
        );
    }
}
