//! Work inside sessions: commands (`exec`, and `run` as a command fed code on stdin) and
//! copies in and out. Each holds a work lease on its session (`processing` while it runs),
//! runs through the backend, and streams into its reply while it reads the client's input.

mod copy;
mod drive;
mod exec;

pub use copy::{copy, Direction};
pub use exec::exec;

use crate::backend::BackendError;
use crate::sessions::SessionError;

#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("session '{id}': {source}")]
    Backend { id: String, source: BackendError },
    #[error("{0}")]
    Invalid(String),
    #[error("the copy {direction} session '{id}' is larger than the limit of {limit_mb} MiB (msbd --copy-limit-mb)")]
    TooLarge {
        id: String,
        direction: &'static str,
        limit_mb: u64,
    },
    #[error("the copy {direction} session '{id}' failed: {message}")]
    Copy {
        id: String,
        direction: &'static str,
        message: String,
    },
    #[error("the copy {direction} session '{id}' was cancelled")]
    Cancelled { id: String, direction: &'static str },
}
