//! What a supervised task is: a periodic cycle plus the context it checks for safe points.

use super::CycleError;
use crate::backend::BoxFuture;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::task::JoinSet;

pub trait Task: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// The keys of its cycle reports' `counts`. Every report has each of them, zero when
    /// nothing of the kind happened, so a script can read any without checking it is there.
    fn counts(&self) -> &'static [&'static str];

    /// One cycle. It checks `ctx.interrupted()` between items and returns early when asked,
    /// leaving nothing half-done: an item is either finished or untouched.
    fn run_cycle(
        self: Arc<Self>,
        ctx: CycleContext,
    ) -> BoxFuture<'static, Result<CycleResult, CycleError>>;
}

/// Handed to each cycle; the supervisor raises `interrupt` for a pause, restart or stop.
#[derive(Debug, Clone, Default)]
pub struct CycleContext {
    interrupt: Arc<AtomicBool>,
}

impl CycleContext {
    pub(crate) fn new(interrupt: Arc<AtomicBool>) -> Self {
        Self { interrupt }
    }

    /// True when the cycle should stop at its next safe point.
    pub fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst)
    }

    /// Runs `work` over `items` with at most `limit` at a time, starting no new item once
    /// interrupted. Returns the finished items' outputs and whether it was interrupted.
    pub async fn for_each_bounded<T, F, Fut>(
        &self,
        items: Vec<T>,
        limit: usize,
        work: F,
    ) -> (Vec<Fut::Output>, bool)
    where
        F: Fn(T) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let mut running = JoinSet::new();
        let mut outputs = Vec::with_capacity(items.len());
        let mut items = items.into_iter();
        let mut interrupted = false;
        loop {
            while running.len() < limit.max(1) && !interrupted {
                if self.interrupted() {
                    interrupted = items.len() > 0;
                    break;
                }
                match items.next() {
                    Some(item) => {
                        running.spawn(work(item));
                    }
                    None => break,
                }
            }
            match running.join_next().await {
                Some(Ok(output)) => outputs.push(output),
                // An item that panicked is re-raised so the supervisor sees the cycle panic.
                Some(Err(err)) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                Some(Err(_)) => {}
                None => return (outputs, interrupted),
            }
        }
    }
}

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleResult {
    pub processed: u64,
    pub counts: BTreeMap<String, u64>,
    /// It stopped early at a safe point.
    pub interrupted: bool,
}

impl CycleResult {
    pub fn add(&mut self, key: &str, n: u64) {
        *self.counts.entry(key.to_string()).or_default() += n;
    }

    /// The cycle's outcome: failed (degrading the task) when any item failed, naming how
    /// many and the first error, else this result.
    pub fn unless_failed(
        self,
        failures: Vec<String>,
        what: &'static str,
    ) -> Result<Self, CycleError> {
        let failed = failures.len();
        match failures.into_iter().next() {
            Some(first) => Err(CycleError::Items {
                failed,
                what,
                first,
            }),
            None => Ok(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn runs_every_item_within_the_limit() {
        let ctx = CycleContext::default();
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (out, interrupted) = ctx
            .for_each_bounded((0..20).collect(), 3, |i: u32| {
                let (live, peak) = (live.clone(), peak.clone());
                async move {
                    let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    live.fetch_sub(1, Ordering::SeqCst);
                    i
                }
            })
            .await;
        assert!(!interrupted);
        assert_eq!(out.len(), 20);
        assert!(peak.load(Ordering::SeqCst) <= 3);
    }

    #[tokio::test]
    async fn starts_nothing_new_once_interrupted() {
        let flag = Arc::new(AtomicBool::new(false));
        let ctx = CycleContext::new(flag.clone());
        let (out, interrupted) = ctx
            .for_each_bounded((0..10).collect(), 1, |i: u32| {
                let flag = flag.clone();
                async move {
                    if i == 2 {
                        flag.store(true, Ordering::SeqCst);
                    }
                    i
                }
            })
            .await;
        assert!(interrupted);
        assert_eq!(out, vec![0, 1, 2]);
    }
}
