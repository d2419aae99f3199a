//! Deadlines for stopping sandboxes. A stop gets its own grace, and a shutdown can bring
//! every deadline in flight forward at once ([`Hurry`]), so that no stop started before the
//! shutdown waits past the shutdown's own deadline.

use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

/// The shared "hurry" signal: `None` until a shutdown sets the time by which every stop must
/// have forced its sandbox down.
#[derive(Debug)]
pub struct Hurry(watch::Sender<Option<Instant>>);

impl Default for Hurry {
    fn default() -> Self {
        Self(watch::channel(None).0)
    }
}

impl Hurry {
    /// Brings every deadline, present and future, forward to `at` at the latest.
    pub fn set(&self, at: Instant) {
        self.0.send_replace(Some(at));
    }

    /// A deadline `grace` from now, or earlier when hurried.
    pub fn after(&self, grace: std::time::Duration) -> Deadline {
        self.at(Instant::now() + grace)
    }

    pub fn at(&self, at: Instant) -> Deadline {
        Deadline {
            at,
            hurry: self.0.subscribe(),
        }
    }
}

/// When a stop stops asking and forces a sandbox down.
#[derive(Debug, Clone)]
pub struct Deadline {
    at: Instant,
    hurry: watch::Receiver<Option<Instant>>,
}

impl Deadline {
    /// A deadline nothing can hurry, for stops outside any daemon's life (tests, start-up).
    pub fn fixed(at: Instant) -> Self {
        Self {
            at,
            hurry: watch::channel(None).1,
        }
    }

    /// The effective time: the own deadline or the hurry, whichever is sooner.
    pub fn when(&self) -> Instant {
        match *self.hurry.borrow() {
            Some(hurry) => hurry.min(self.at),
            None => self.at,
        }
    }

    /// Resolves once the deadline has passed, following any hurry that comes meanwhile.
    pub async fn reached(&mut self) {
        loop {
            let when = self.when();
            tokio::select! {
                () = sleep_until(when) => return,
                changed = self.hurry.changed() => {
                    if changed.is_err() {
                        // Nobody can hurry any more: the own deadline is final.
                        sleep_until(self.when()).await;
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_hurry_brings_a_waiting_deadline_forward() {
        let hurry = Hurry::default();
        let mut deadline = hurry.after(Duration::from_secs(60));
        let started = Instant::now();
        let waiter = tokio::spawn(async move {
            deadline.reached().await;
            Instant::now()
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        hurry.set(Instant::now() + Duration::from_secs(2));
        let done = waiter.await.expect("waiter");
        assert_eq!(done - started, Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_hurry_never_extends_a_deadline() {
        let hurry = Hurry::default();
        let mut deadline = hurry.after(Duration::from_secs(5));
        hurry.set(Instant::now() + Duration::from_secs(60));
        let started = Instant::now();
        deadline.reached().await;
        assert_eq!(Instant::now() - started, Duration::from_secs(5));
    }
}
