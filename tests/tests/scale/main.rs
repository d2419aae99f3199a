//! Tests at scale and under faults: hundreds of sandboxes, shutdowns amid work, crashes and
//! a small open-file limit. A test binary of its own, so that cargo runs it after the
//! end-to-end tests rather than beside them, and its tests one at a time: each loads the
//! machine on its own.

mod crash;
mod fds;
mod shutdown;

use std::sync::{Mutex, MutexGuard};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Held for a test's whole run.
fn alone() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}
