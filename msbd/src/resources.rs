//! ResourceManager: the limits a new session must fit in (evicting least-recently-used idle
//! sessions to make room, when allowed), the usage report, and the `orphan-cleanup` task that
//! stops marked sandboxes no live session owns.
//!
//! An orphan is stopped only when it was seen without a session twice (two cycles, or
//! `msbctl orphans` then a cycle), so a sandbox whose session is being created right now is
//! never reaped.

use crate::backend::{Backend, BoxFuture, SandboxInfo};
use crate::sessions::{Registry, SessionManager};
use crate::supervisor::{CycleContext, CycleResult, Task};
use msb_proto::{
    CreateSession, ErrorBody, ErrorCode, Flavor, OrphanInfo, ResourceReport, SessionInfo, Usage,
};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many orphans one cycle stops side by side.
const ORPHAN_CONCURRENCY: usize = 5;

#[derive(Debug, Clone, Copy)]
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
    /// `flavor` fits; an error naming the limit when it cannot fit.
    pub fn plan(&self, registry: &Registry, flavor: Flavor) -> Result<Vec<String>, ErrorBody> {
        let totals = registry.totals();
        let (mut sessions, mut memory) = (totals.sessions, totals.memory_mb);
        let Some(first) = self.breach(sessions, memory, flavor) else {
            return Ok(Vec::new());
        };
        let refuse = |why: &str| {
            Err(ErrorBody::new(
                ErrorCode::LimitReached,
                format!("{first}; {why}"),
            ))
        };
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

pub struct ResourceManager {
    limits: Limits,
    sessions: Arc<SessionManager>,
    backend: Arc<dyn Backend>,
    stop_grace: Duration,
    /// How sandboxes are isolated on this host, for the report.
    isolation: String,
    /// Sandboxes seen without a session the last time anyone looked.
    suspects: Mutex<HashSet<String>>,
}

impl ResourceManager {
    pub fn new(
        limits: Limits,
        sessions: Arc<SessionManager>,
        backend: Arc<dyn Backend>,
        stop_grace: Duration,
        isolation: String,
    ) -> Self {
        Self {
            limits,
            sessions,
            backend,
            stop_grace,
            isolation,
            suspects: Mutex::new(HashSet::new()),
        }
    }

    pub async fn create_session(&self, request: CreateSession) -> Result<SessionInfo, ErrorBody> {
        let limits = self.limits;
        self.sessions
            .create(
                request,
                limits.default_flavor,
                Box::new(move |registry, flavor| limits.plan(registry, flavor)),
            )
            .await
    }

    pub fn max_sessions(&self) -> u64 {
        self.limits.max_sessions
    }

    pub fn report(&self) -> ResourceReport {
        let totals = self.sessions.totals();
        ResourceReport {
            sessions: Usage {
                used: totals.sessions,
                max: Some(self.limits.max_sessions),
            },
            memory_mb: Usage {
                used: totals.memory_mb,
                max: self.limits.max_memory_mb,
            },
            cpus: Usage {
                used: totals.cpus,
                max: None,
            },
            by_flavor: totals.by_flavor,
            lru_eviction: self.limits.lru_eviction,
            evictions: self.sessions.evictions(),
            isolation: self.isolation.clone(),
        }
    }

    /// The marked sandboxes no live session owns, each saying whether it was seen so before.
    /// Remembers them, so the next cycle stops every one listed.
    pub async fn orphans(&self) -> Result<Vec<OrphanInfo>, ErrorBody> {
        let orphans = self
            .find_orphans()
            .await
            .map_err(|e| ErrorBody::new(ErrorCode::Backend, e))?;
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

    async fn find_orphans(&self) -> Result<Vec<SandboxInfo>, String> {
        let listed = self.backend.list().await.map_err(|e| e.to_string())?;
        Ok(listed
            .into_iter()
            .filter(|s| !self.sessions.owns(&s.session_id, &s.name))
            .collect())
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

    fn run_cycle(
        self: Arc<Self>,
        ctx: CycleContext,
    ) -> BoxFuture<'static, Result<CycleResult, String>> {
        Box::pin(async move {
            let resources = self.0.clone();
            let orphans = resources.find_orphans().await?;
            let (confirmed, fresh) = resources.confirm(&orphans);
            let mut result = CycleResult::default();
            result.add("found", orphans.len() as u64);
            result.add("suspected", fresh);
            let (outcomes, interrupted) = ctx
                .for_each_bounded(confirmed, ORPHAN_CONCURRENCY, |orphan| {
                    let resources = resources.clone();
                    async move {
                        let outcome = resources
                            .backend
                            .stop(&orphan.name, resources.stop_grace)
                            .await;
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
            result.unless_failed(&failures, "orphan(s) could not be stopped")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::Session;
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
                stopping: false,
            });
        }
        registry
    }

    #[test]
    fn evicts_the_least_recently_used_idle_sessions_until_it_fits() {
        let r = registry(&[
            ("old", Flavor::Small, SessionStatus::Ready, 1),
            ("busy", Flavor::Small, SessionStatus::Processing, 0),
            ("new", Flavor::Small, SessionStatus::Ready, 5),
        ]);
        assert_eq!(
            limits(3, None, true).plan(&r, Flavor::Small),
            Ok(vec!["old".to_string()])
        );
        assert_eq!(limits(4, None, true).plan(&r, Flavor::Small), Ok(vec![]));
    }

    #[test]
    fn memory_counts_by_flavor() {
        let r = registry(&[
            ("m", Flavor::Medium, SessionStatus::Ready, 1),
            ("s", Flavor::Small, SessionStatus::Ready, 2),
        ]);
        assert_eq!(
            limits(10, Some(3100), true).plan(&r, Flavor::Medium),
            Ok(vec!["m".to_string()])
        );
        let err = limits(10, Some(3100), false)
            .plan(&r, Flavor::Small)
            .expect_err("over memory");
        assert!(
            err.message.contains("3072 of 3100 MB") && err.message.contains("1024 MB"),
            "{}",
            err.message
        );
    }

    #[test]
    fn refuses_when_only_busy_sessions_could_make_room() {
        let r = registry(&[("busy", Flavor::Small, SessionStatus::Processing, 0)]);
        let err = limits(1, None, true)
            .plan(&r, Flavor::Small)
            .expect_err("all busy");
        assert_eq!(err.code, ErrorCode::LimitReached);
        assert!(
            err.message.contains("1 of 1 sessions") && err.message.contains("busy"),
            "{}",
            err.message
        );
    }
}
