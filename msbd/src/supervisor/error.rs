//! What can go wrong asking the supervisor, and what a failed cycle reports.

use crate::backend::BackendError;
use msb_proto::TaskState;

/// Why a pause lease could not be stored (the store's own error, boxed so that the
/// supervisor depends on no store).
pub type LeaseError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("no task named '{name}'; tasks are: {known}")]
    Unknown { name: String, known: String },
    #[error("task {name} is {state}; restart it first (msbctl restart {name})")]
    Unavailable {
        name: &'static str,
        state: TaskState,
    },
    #[error("task {name} is stalled in a cycle; restart it first (msbctl restart {name})")]
    Stalled { name: &'static str },
    #[error("task {name} is no longer running; restart it first (msbctl restart {name})")]
    NoLongerRunning { name: &'static str },
    #[error("the pause of task {name} was not taken, since it could not be stored: {source}")]
    Lease {
        name: &'static str,
        source: LeaseError,
    },
    #[error("the runner of task {name} has exited")]
    Gone { name: &'static str },
}

/// Why a cycle failed.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// Some items failed; the others were done.
    #[error("{failed} {what}; first: {first}")]
    Items {
        failed: usize,
        what: &'static str,
        first: String,
    },
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("injected fault: error")]
    Injected,
}
