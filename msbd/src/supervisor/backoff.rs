//! Auto-restart policy: exponential backoff from 1 s doubling to 60 s, and a burst limit
//! after which the task is left `failed` for an operator.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    OnFailure,
    Never,
}

const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// At most this many automatic restarts within `WINDOW`.
pub const BURST_LIMIT: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(60);

/// Remembers recent automatic restarts to pace the next one.
#[derive(Debug, Default)]
pub struct Backoff {
    recent: VecDeque<Instant>,
}

impl Backoff {
    /// The delay before the next automatic restart, or `None` when the burst limit is spent.
    pub fn next_delay(&mut self, now: Instant) -> Option<Duration> {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= BURST_LIMIT {
            return None;
        }
        let doublings = self.recent.len() as u32;
        Some(FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY))
    }

    pub fn record_restart(&mut self, at: Instant) {
        self.recent.push_back(at);
    }

    /// An operator's restart starts a fresh window.
    pub fn reset(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn doubles_then_gives_up_after_the_burst() {
        let mut backoff = Backoff::default();
        let mut delays = Vec::new();
        while let Some(delay) = backoff.next_delay(Instant::now()) {
            delays.push(delay.as_secs());
            tokio::time::advance(delay).await;
            backoff.record_restart(Instant::now());
        }
        assert_eq!(delays, vec![1, 2, 4, 8, 16]);
    }

    #[tokio::test(start_paused = true)]
    async fn old_restarts_leave_the_window() {
        let mut backoff = Backoff::default();
        for _ in 0..BURST_LIMIT {
            backoff.record_restart(Instant::now());
        }
        assert_eq!(backoff.next_delay(Instant::now()), None);
        tokio::time::advance(WINDOW).await;
        assert_eq!(backoff.next_delay(Instant::now()), Some(FIRST_DELAY));
    }
}
