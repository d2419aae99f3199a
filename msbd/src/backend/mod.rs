//! Backends create, stop, list and watch sandboxes. The daemon only speaks to this trait; the
//! `process` backend is the embedded default that needs nothing installed, the `msb` backend
//! drives microVMs of microsandbox.

mod child;
pub mod log;
pub mod msb;
pub mod process;
pub mod procfs;

use crate::deadline::Deadline;
use msb_proto::{BackendHealth, Flavor, SandboxExit};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A log opened: what follows it from its end, and what is kept of it.
pub type OpenedLog = (Box<dyn log::Follow>, Vec<u8>);

/// Says whether the sandbox of this name still belongs to someone (a session, one being
/// created), so that what it left on disk must stay.
pub type Keep = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// What a sandbox runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// An idle sandbox that needs nothing installed and exits on SIGTERM.
    Idle,
    /// A program and its arguments, looked up in the sandbox's PATH and run directly, so
    /// that a program that cannot be run fails the create.
    Argv(Vec<String>),
    /// A command line run by `/bin/sh -c`.
    Shell(String),
    /// The image a microVM boots: an OCI reference, or the absolute path of a root
    /// filesystem directory.
    Image(String),
}

#[derive(Debug, Clone)]
pub struct SandboxSpec {
    pub name: String,
    pub session_id: String,
    /// The template it is made from, for messages.
    pub template: String,
    pub command: Command,
    /// How the template lets its sandboxes out of the default jail.
    pub options: crate::template_options::TemplateOptions,
    pub flavor: Flavor,
    /// Untouched this long, its session would have ended in any case: a backend with an
    /// idle clock of its own lets the sandbox stop itself after that, should msbd be gone.
    pub idle_limit: Duration,
}

/// A sandbox that carries this daemon's marker: a running one, or, with a backend whose
/// sandboxes outlive their end (msb), one that ended and is not removed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxInfo {
    pub name: String,
    pub session_id: String,
    pub pid: Option<u32>,
}

/// A sandbox as the backend sees it now, for `sessions show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxState {
    pub running: bool,
    pub pid: Option<u32>,
    pub workdir: Option<std::path::PathBuf>,
    /// How it is isolated: `namespaces` or `none`.
    pub isolation: String,
}

/// Sent when a sandbox ends on its own, not through a stop; what it left is released by
/// then, except its log, kept until `discard`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exited {
    pub session_id: String,
    pub sandbox: String,
    /// How its command ended (unknown parts are `None`) and the last lines of its log.
    pub exit: SandboxExit,
}

/// How a sandbox ended when asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It exited on the polite signal before the deadline.
    Graceful,
    /// It had to be killed at the deadline.
    Killed,
    /// It was not running any more.
    Gone,
}

/// What runs inside a running sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// A program and its arguments, looked up in the sandbox's PATH.
    Command(Vec<String>),
    /// Unpacks the tar archive on stdin at this path of the sandbox's own view.
    CopyIn(String),
    /// Writes this path of the sandbox's own view to stdout as a tar archive.
    CopyOut(String),
}

#[derive(Debug, Clone)]
pub struct ExecSpec {
    pub work: Work,
    /// Added to the sandbox's environment.
    pub env: Vec<(String, String)>,
    /// Where it starts [default: the sandbox's working directory].
    pub workdir: Option<String>,
    /// Whether stdin is a pipe (else it reads end-of-file at once).
    pub stdin: bool,
    /// The sandbox's flavor, whose limits the command is held to.
    pub flavor: Flavor,
}

/// How a command run in a sandbox ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

/// A command running in a sandbox: its pipes and its process.
pub struct Running {
    pub stdin: Option<Pin<Box<dyn AsyncWrite + Send>>>,
    pub stdout: Pin<Box<dyn AsyncRead + Send>>,
    pub stderr: Pin<Box<dyn AsyncRead + Send>>,
    pub process: Box<dyn Process>,
}

/// The process tree of a command running in a sandbox.
pub trait Process: Send {
    /// Resolves once the command has ended. Cancel-safe: it may be called again.
    fn wait(&mut self) -> BoxFuture<'_, Result<Ended, BackendError>>;
    /// Starts killing the command's whole process tree (never the sandbox); `wait` then
    /// resolves once it is gone, forcing it if it takes long.
    fn kill(&mut self);
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot start sandbox {name}: {source}")]
    Spawn {
        name: String,
        source: std::io::Error,
    },
    #[error("sandbox {name} did not start: {message}")]
    Setup { name: String, message: String },
    #[error("cannot write the record of sandbox {name} at {path}: {source}")]
    Record {
        name: String,
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read the sandbox records in {path}: {source}")]
    List {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot signal sandbox {name}: {source}")]
    Signal { name: String, source: nix::Error },
    #[error("sandbox {name} is still running after SIGKILL")]
    Unkillable { name: String },
    #[error("cannot read the log of sandbox {name}: {source}")]
    Log {
        name: String,
        source: std::io::Error,
    },
    #[error("the backend failed inside: {0}")]
    Internal(String),
    #[error("sandbox {name} is not running")]
    NotRunning { name: String },
    #[error("cannot run a command in sandbox {name}: {message}")]
    Exec { name: String, message: String },
    /// What the backend cannot make now, said before anything is made.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Msb(#[from] msb::MsbFailure),
}

pub trait Backend: Send + Sync + 'static {
    /// Name shown in `status`.
    fn name(&self) -> &'static str;

    /// Whether this backend can make sandboxes on this host, by its own check.
    fn health(&self) -> BackendHealth;

    /// Refuses a sandbox this backend cannot make now, before anything is made or evicted
    /// for it.
    fn admits(&self, spec: &SandboxSpec) -> Result<(), BackendError>;

    /// Starts a sandbox and returns once its command has started (or failed to).
    fn create(&self, spec: SandboxSpec) -> BoxFuture<'_, Result<SandboxInfo, BackendError>>;

    /// Tells the backend these sandboxes were used just now: their sessions were touched.
    fn touch(&self, names: Vec<String>) -> BoxFuture<'_, Result<(), BackendError>>;

    /// Asks politely, and forces the sandbox down once the deadline has passed.
    fn stop<'a>(
        &'a self,
        name: &'a str,
        deadline: Deadline,
    ) -> BoxFuture<'a, Result<Stopped, BackendError>>;

    /// Watches a running sandbox this daemon did not start (adopted from its predecessor),
    /// so that its end is reported like that of any other.
    fn adopt<'a>(&'a self, sandbox: &'a SandboxInfo) -> BoxFuture<'a, Result<(), BackendError>>;

    /// The sandboxes that carry this daemon's marker, and no others.
    fn list(&self) -> BoxFuture<'_, Result<Vec<SandboxInfo>, BackendError>>;

    fn inspect<'a>(&'a self, name: &'a str) -> BoxFuture<'a, SandboxState>;

    /// Opens a sandbox's log, running or ended: a reader at its end, and what is kept of it.
    fn open_log<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<OpenedLog, BackendError>>;

    /// Removes what a sandbox that ended by itself still keeps (its log).
    fn discard<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ()>;

    /// Removes what sandboxes left behind (records, directories, cgroups, logs) that belongs to
    /// none of `live` and that `keep` does not claim; returns how many pieces.
    fn remove_debris(
        &self,
        live: Vec<SandboxInfo>,
        keep: Keep,
    ) -> BoxFuture<'_, Result<u64, BackendError>>;

    /// File descriptors msbd holds open for each running sandbox.
    fn fds_per_sandbox(&self) -> u64;

    /// Starts `spec` inside the running sandbox `name`, in its namespaces, cgroups and
    /// limits; returns once it has started.
    fn exec<'a>(
        &'a self,
        name: &'a str,
        spec: ExecSpec,
    ) -> BoxFuture<'a, Result<Running, BackendError>>;
}
