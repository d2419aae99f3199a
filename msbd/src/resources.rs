//! ResourceManager: the limits a create must fit in, and the `orphan-cleanup` task that
//! stops marked sandboxes no live session owns.
//!
//! An orphan is stopped only when it was seen without a session in two consecutive cycles,
//! so a sandbox whose session is being created right now is never reaped.

use crate::backend::{Backend, BoxFuture, SandboxInfo};
use crate::sessions::{SessionManager, Usage};
use crate::supervisor::{CycleContext, CycleResult, Task};
use msb_proto::{CreateSession, ErrorBody, ErrorCode, Flavor, SessionInfo, SessionsSummary};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many orphans one cycle stops side by side.
const ORPHAN_CONCURRENCY: usize = 5;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_sessions: u64,
    pub default_flavor: Flavor,
}

pub struct ResourceManager {
    limits: Limits,
    sessions: Arc<SessionManager>,
    backend: Arc<dyn Backend>,
    stop_grace: Duration,
    /// Sandboxes seen without a session in the previous cycle.
    suspects: Mutex<HashSet<String>>,
}

impl ResourceManager {
    pub fn new(
        limits: Limits,
        sessions: Arc<SessionManager>,
        backend: Arc<dyn Backend>,
        stop_grace: Duration,
    ) -> Self {
        Self {
            limits,
            sessions,
            backend,
            stop_grace,
            suspects: Mutex::new(HashSet::new()),
        }
    }

    fn admit(&self, usage: Usage) -> Result<(), ErrorBody> {
        if usage.sessions >= self.limits.max_sessions {
            return Err(ErrorBody::new(
                ErrorCode::LimitReached,
                format!(
                    "session limit reached: {} of {} sessions in use (max_sessions); stop a session or raise --max-sessions",
                    usage.sessions, self.limits.max_sessions
                ),
            ));
        }
        Ok(())
    }

    pub async fn create_session(&self, request: CreateSession) -> Result<SessionInfo, ErrorBody> {
        self.sessions
            .create(request, self.limits.default_flavor, |usage| {
                self.admit(usage)
            })
            .await
    }

    pub fn summary(&self) -> SessionsSummary {
        SessionsSummary {
            active: self.sessions.active(),
            max: self.limits.max_sessions,
        }
    }

    /// Splits this cycle's orphans into those seen last cycle too (to stop now) and the rest,
    /// and remembers all of them as suspects for the next cycle.
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
            let listed = resources.backend.list().await.map_err(|e| e.to_string())?;
            let orphans: Vec<SandboxInfo> = listed
                .into_iter()
                .filter(|s| !resources.sessions.owns(&s.session_id, &s.name))
                .collect();
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
