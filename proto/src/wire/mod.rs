//! Every message on the socket, one module a concern. The same types are the `--json`
//! contract of `msbctl`, so field names are chosen for scripts.
//!
//! bincode encodes by position: a variant is known by its index and a struct by the order of
//! its fields. So a new variant goes at the end of its enum, and a new field anywhere changes
//! the encoding and bumps [`crate::PROTOCOL`]; the golden-byte tests fail when an encoding
//! changes without that bump.

mod errors;
mod handshake;
mod sessions;
mod shutdown;
mod status;
mod tasks;

pub use errors::*;
pub use handshake::*;
pub use sessions::*;
pub use shutdown::*;
pub use status::*;
pub use tasks::*;

use serde::{Deserialize, Serialize};

/// What a client asks, after the handshake. Each variant with data carries its own struct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Status(StatusRequest),
    Health,
    Restart(RestartRequest),
    Pause(PauseRequest),
    Resume(ResumeRequest),
    RunNow(RunNowRequest),
    /// Answered by `Progress` frames and a final `Stopped`.
    Shutdown(ShutdownRequest),
    SessionList(SessionFilter),
    SessionShow(SessionRef),
    SessionCreate(CreateSession),
    SessionTouch(SessionRef),
    SessionStop(SessionRef),
    Fault(FaultRequest),
    /// Marks a session busy (`processing`: never expired or evicted) or idle again.
    SessionMark(MarkRequest),
    /// The sandboxes `orphan-cleanup` would stop, without stopping them.
    Orphans,
}

/// What the daemon answers. A request gets one frame, except the streams (`Shutdown`), which
/// get several and then a final one.
// A response is built once and sent at once; boxing the status report would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Error(ErrorBody),
    Status(StatusReport),
    Health(HealthReport),
    Tasks(Vec<TaskAction>),
    Cycle(CycleReport),
    Progress(String),
    Stopped(StopReport),
    Sessions(Vec<SessionInfo>),
    Session(SessionInfo),
    Ack(String),
    Orphans(Vec<OrphanInfo>),
}

impl Response {
    /// The variant's name, for messages about an unexpected answer.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Error(_) => "error",
            Self::Status(_) => "status",
            Self::Health(_) => "health",
            Self::Tasks(_) => "tasks",
            Self::Cycle(_) => "cycle",
            Self::Progress(_) => "progress",
            Self::Stopped(_) => "stopped",
            Self::Sessions(_) => "sessions",
            Self::Session(_) => "session",
            Self::Ack(_) => "ack",
            Self::Orphans(_) => "orphans",
        }
    }
}
