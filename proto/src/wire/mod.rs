//! Every message on the socket, one module a concern. The same types are the `--json`
//! contract of `msbctl`, so field names are chosen for scripts.
//!
//! bincode encodes by position: a variant is known by its index and a struct by the order of
//! its fields. So a new variant goes at the end of its enum, and a new field anywhere changes
//! the encoding and bumps [`crate::PROTOCOL`]; the golden-byte tests fail when an encoding
//! changes without that bump.

mod config;
mod errors;
mod events;
mod handshake;
mod sessions;
mod shutdown;
mod status;
mod tasks;
mod work;

pub use config::*;
pub use errors::*;
pub use events::*;
pub use handshake::*;
pub use sessions::*;
pub use shutdown::*;
pub use status::*;
pub use tasks::*;
pub use work::*;

use serde::{Deserialize, Serialize};

/// What a client asks, after the handshake. Each variant with data carries its own struct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
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
    /// Runs a command in a session: `ExecStarted`, `ExecOutput` chunks, `ExecExit`.
    Exec(ExecRequest),
    /// Stdin, end of input or a cancel for the stream running on this connection.
    Input(Input),
    /// Copies a tar archive sent as `Input` into a session: `ExecStarted`, then `Copied`.
    CopyIn(CopyRequest),
    /// Copies a path out of a session as a tar archive: `ExecStarted`, `ExecOutput`
    /// chunks, `Copied`.
    CopyOut(CopyRequest),
    /// The sandbox's own log: `Log` chunks, then `LogEnd`.
    Logs(LogsRequest),
    /// The effective settings, each with its source: `Config`.
    Config,
    /// The daemon's recent events, then with `follow` the new ones: `Event` frames (and
    /// `EventsMissed` when a follower fell behind), then a final `Ack`.
    Events(EventsRequest),
    /// The Prometheus text exposition of the daemon's metrics: `Metrics`.
    Metrics,
    /// Only the ids of the sessions `SessionList` would return, in its order: `SessionIds`.
    SessionIds(SessionFilter),
}

/// What the daemon answers. A request gets one frame, except the streams (`Shutdown`,
/// `Exec`, `CopyIn`, `CopyOut`, `Logs`, `Events`), which get several and then a final one.
// A response is built once and sent at once; boxing the status report would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum Response {
    Error(ErrorBody),
    /// Boxed: the largest answer by far, it would make every `Response` its size.
    Status(Box<StatusReport>),
    Health(HealthReport),
    Tasks(Vec<TaskAction>),
    Cycle(CycleReport),
    Progress(String),
    Stopped(StopReport),
    Sessions(Vec<SessionInfo>),
    /// Boxed: the answer to the frequent `touch`, kept from costing a large move.
    Session(Box<SessionInfo>),
    Ack(String),
    Orphans(Vec<OrphanInfo>),
    ExecStarted(ExecStarted),
    ExecOutput(ExecOutput),
    ExecExit(ExecExit),
    Copied(CopyReport),
    Log(
        #[serde(with = "serde_bytes")]
        #[cfg_attr(feature = "schemars", schemars(with = "Vec<u8>"))]
        Vec<u8>,
    ),
    LogEnd(LogEnd),
    Config(ConfigReport),
    Event(Event),
    /// A follower fell behind and missed this many events.
    EventsMissed(u64),
    /// Prometheus text exposition format 0.0.4.
    Metrics(String),
    SessionIds(Vec<String>),
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
            Self::ExecStarted(_) => "exec started",
            Self::ExecOutput(_) => "exec output",
            Self::ExecExit(_) => "exec exit",
            Self::Copied(_) => "copied",
            Self::Log(_) => "log",
            Self::LogEnd(_) => "log end",
            Self::Config(_) => "config",
            Self::Event(_) => "event",
            Self::EventsMissed(_) => "events missed",
            Self::Metrics(_) => "metrics",
            Self::SessionIds(_) => "session ids",
        }
    }
}
