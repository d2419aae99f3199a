//! What can go wrong with a session, with enough context to say which and why.

use crate::backend::BackendError;
use crate::ids::SESSION_ID_RULE;
use crate::labels::LabelError;
use crate::store::StoreError;
use msb_proto::SessionStatus;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no session '{id}' (msbctl sessions list shows them)")]
    Unknown { id: String },
    #[error("session id '{id}' is not allowed: use {SESSION_ID_RULE}")]
    InvalidId { id: String },
    #[error(transparent)]
    InvalidLabels(#[from] LabelError),
    #[error("no template named '{name}'; templates are: {known}")]
    UnknownTemplate { name: String, known: String },
    /// Another operation is under way on the session.
    #[error("session '{id}' is being {doing}; try again once that is done")]
    Conflict { id: String, doing: &'static str },
    #[error("permission denied: session '{id}' belongs to uid {owner}; only it, root and msbd's own uid may use, stop or mark it (you are {caller})")]
    NotOwner {
        id: String,
        owner: u32,
        caller: String,
    },
    #[error("session '{id}' is {status} and cannot be marked")]
    NotMarkable { id: String, status: SessionStatus },
    #[error(
        "session '{id}' is {status}; commands run only in a ready, running or processing session"
    )]
    NotWorkable { id: String, status: SessionStatus },
    #[error("session '{id}' already runs {limit} commands, its limit (msbd --max-execs-per-session); wait for one to end")]
    TooMuchWork { id: String, limit: u32 },
    /// A limit that eviction could not make room under; the message names it.
    #[error("{0}")]
    LimitReached(String),
    #[error("could not evict session '{victim}' to make room: {source}")]
    Evict {
        victim: String,
        source: Box<SessionError>,
    },
    #[error(
        "the sandbox of session '{id}' exited as soon as it started ({how}); check its template's command"
    )]
    ExitedAtStart { id: String, how: String },
    #[error("session '{id}': {source}")]
    Backend { id: String, source: BackendError },
    #[error("session '{id}' was not changed: {source}")]
    Store { id: String, source: StoreError },
    #[error("msbd is stopping and takes no new sessions")]
    ShuttingDown,
    #[error("cannot {what}: {detail}")]
    Internal { what: &'static str, detail: String },
}
