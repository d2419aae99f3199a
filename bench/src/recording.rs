//! A backend that records what msbd asks of it instead of running anything: it lets the
//! in-process section run whole cycles of msbd's own session logic at a scale no host holds
//! in processes, and count what the cycles asked for.

use msb_proto::BackendHealth;
use msbd::backend::{
    Backend, BackendError, BoxFuture, ExecSpec, Keep, OpenedLog, Running, SandboxInfo, SandboxSpec,
    SandboxState, Stopped,
};
use msbd::deadline::Deadline;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many of each request came.
#[derive(Debug, Default)]
pub struct Recording {
    stops: AtomicU64,
    adopted: AtomicU64,
}

impl Recording {
    pub fn stops(&self) -> u64 {
        self.stops.load(Ordering::Relaxed)
    }

    pub fn adopted(&self) -> u64 {
        self.adopted.load(Ordering::Relaxed)
    }
}

/// What is asked of it that it has no answer for.
fn refused() -> BackendError {
    BackendError::Refused("the recording backend of msb-bench runs nothing".into())
}

impl Backend for Recording {
    fn name(&self) -> &'static str {
        "recording"
    }

    fn health(&self) -> BackendHealth {
        BackendHealth::unchecked()
    }

    fn admits(&self, _spec: &SandboxSpec) -> Result<(), BackendError> {
        Err(refused())
    }

    fn create(&self, _spec: SandboxSpec) -> BoxFuture<'_, Result<SandboxInfo, BackendError>> {
        Box::pin(async { Err(refused()) })
    }

    fn touch(&self, _names: Vec<String>) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async { Ok(()) })
    }

    fn stop<'a>(
        &'a self,
        _name: &'a str,
        _deadline: Deadline,
    ) -> BoxFuture<'a, Result<Stopped, BackendError>> {
        self.stops.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(Stopped::Graceful) })
    }

    fn adopt<'a>(&'a self, _sandbox: &'a SandboxInfo) -> BoxFuture<'a, Result<(), BackendError>> {
        self.adopted.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(()) })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<SandboxInfo>, BackendError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn inspect<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, SandboxState> {
        Box::pin(async {
            SandboxState {
                running: true,
                pid: None,
                workdir: None,
                isolation: "none".into(),
            }
        })
    }

    fn open_log<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, Result<OpenedLog, BackendError>> {
        Box::pin(async { Err(refused()) })
    }

    fn discard<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn remove_debris(
        &self,
        _live: Vec<SandboxInfo>,
        _keep: Keep,
    ) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(async { Ok(0) })
    }

    fn fds_per_sandbox(&self) -> u64 {
        0
    }

    fn exec<'a>(
        &'a self,
        _name: &'a str,
        _spec: ExecSpec,
    ) -> BoxFuture<'a, Result<Running, BackendError>> {
        Box::pin(async { Err(refused()) })
    }
}
