//! The `session-cleanup` task: stops the sandboxes of sessions idle past their timeout, lifts
//! busy marks that have lapsed (a client that crashed mid-work), and forgets ended sessions
//! kept long enough.

use super::stop::Cause;
use super::SessionManager;
use crate::backend::BoxFuture;
use crate::clock::now_ms;
use crate::store::Change;
use crate::supervisor::{CycleContext, CycleError, CycleResult, Task};
use msb_proto::SessionStatus;
use std::sync::Arc;

/// How many sandboxes one cycle stops side by side.
const STOP_CONCURRENCY: usize = 32;

/// What the cycle did with one due session.
enum Outcome {
    Stopped,
    Released,
    /// Touched (or stopped by someone else) since it was found due.
    Skipped,
    Failed(String),
}

impl SessionManager {
    /// Handles one due session: a lapsed busy mark is lifted (the session then expires by
    /// the idle rule), an idle session is stopped.
    async fn expire(self: &Arc<Self>, id: &str) -> Outcome {
        let lapsed_busy = {
            let mut state = self.lock();
            let registry = &mut state.registry;
            let due = registry.get(id).is_some_and(|s| {
                s.status == SessionStatus::Processing
                    && registry.deadline(s).is_some_and(|d| d <= now_ms())
            });
            if due {
                registry.update(id, |s| {
                    s.status = SessionStatus::Ready;
                    s.busy_since_ms = None;
                });
                if let Some(row) = registry.get(id).cloned() {
                    drop(self.store.keep(Change::Put(row)));
                }
            }
            due
        };
        if lapsed_busy {
            tracing::warn!(
                session = id,
                "busy mark lapsed; the client that set it did not lift it"
            );
            return Outcome::Released;
        }
        match self.begin_stop(id, true) {
            Ok(Some(sandbox)) => {
                let deadline = self.hurry.after(self.stop_grace());
                match self
                    .finish_stop(id, &sandbox, deadline, Cause::Expired)
                    .await
                {
                    Ok(_) => Outcome::Stopped,
                    Err(err) => Outcome::Failed(err.to_string()),
                }
            }
            Ok(None) | Err(_) => Outcome::Skipped,
        }
    }
}

pub struct SessionCleanup(pub Arc<SessionManager>);

impl Task for SessionCleanup {
    fn name(&self) -> &'static str {
        msb_proto::TASK_NAMES[0]
    }

    fn counts(&self) -> &'static [&'static str] {
        &[
            "expired",
            "stopped",
            "released",
            "skipped",
            "failed",
            "forgotten",
        ]
    }

    fn run_cycle(
        self: Arc<Self>,
        ctx: CycleContext,
    ) -> BoxFuture<'static, Result<CycleResult, CycleError>> {
        Box::pin(async move {
            let manager = self.0.clone();
            let mut result = CycleResult::default();
            result.add("forgotten", manager.forget_ended().await);
            let due = manager.lock().registry.due(now_ms());
            result.add("expired", due.len() as u64);
            let (outcomes, interrupted) = ctx
                .for_each_bounded(due, STOP_CONCURRENCY, |id| {
                    let manager = manager.clone();
                    async move { manager.expire(&id).await }
                })
                .await;
            result.interrupted = interrupted;
            let mut errors = Vec::new();
            for outcome in outcomes {
                match outcome {
                    Outcome::Stopped => {
                        result.processed += 1;
                        result.add("stopped", 1);
                    }
                    Outcome::Released => result.add("released", 1),
                    Outcome::Skipped => result.add("skipped", 1),
                    Outcome::Failed(error) => errors.push(error),
                }
            }
            result.add("failed", errors.len() as u64);
            result.unless_failed(
                errors,
                "expired session(s) could not be stopped and are kept for the next cycle",
            )
        })
    }
}
