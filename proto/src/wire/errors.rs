//! Errors: a stable code for scripts and a message for people.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Stable error codes; scripts match on these, people read the message. New codes go at
/// the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    ProtocolMismatch,
    FrameTooLarge,
    UnknownTask,
    UnknownSession,
    UnknownTemplate,
    InvalidArgument,
    LimitReached,
    TaskUnavailable,
    FaultInjectionDisabled,
    ShuttingDown,
    Backend,
    Internal,
    /// The session is busy with another operation (being created or stopped); try again.
    Conflict,
    /// The session store could not be written; nothing was changed.
    Store,
    /// This user may not use msbd (the socket's admission rule), or may not touch that
    /// session (it belongs to another user).
    PermissionDenied,
}
