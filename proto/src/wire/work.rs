//! Work inside a session: running commands (`Exec`), copying files in and out, and reading
//! the sandbox's own log. Each is a stream: the daemon answers with a start frame, data
//! frames and a final frame, and the client may send `Input` frames while it runs.

use super::CreateSession;
use serde::{Deserialize, Serialize};

/// Runs a command inside a session's sandbox. Answered by `ExecStarted`, `ExecOutput`
/// chunks and a final `ExecExit` (or an `Error` before it starts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ExecRequest {
    pub session_id: String,
    pub command: ExecCommand,
    /// Added to the sandbox's environment.
    pub env: Vec<EnvVar>,
    /// Where it runs [default: the sandbox's working directory].
    pub workdir: Option<String>,
    pub stdin: ExecStdin,
    /// Kills the command's whole process tree once it has run this long.
    pub timeout_ms: Option<u64>,
    pub output: OutputMode,
    /// Creates the session first when it does not exist (get-or-create).
    pub create: Option<CreateSession>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum ExecCommand {
    /// Program and arguments; the program is looked up in the sandbox's PATH.
    Argv(Vec<String>),
    /// A command line run by `/bin/sh -c`.
    Shell(String),
    /// Code in this language (`python`, `node`, `shell`, or one msbd was given), sent as
    /// stdin to the language's interpreter.
    Code(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum ExecStdin {
    /// Reads end-of-file at once.
    None,
    /// These bytes, then end-of-file.
    Bytes(
        #[serde(with = "serde_bytes")]
        #[cfg_attr(feature = "schemars", schemars(with = "Vec<u8>"))]
        Vec<u8>,
    ),
    /// `Input` frames from the client, until `Input::End`.
    Streamed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum OutputMode {
    /// Output is sent as it comes; a client that reads slowly slows its command.
    Stream,
    /// The daemon reads everything, keeps up to its per-stream cap and sends it after the
    /// command has ended; the exit says how much was dropped.
    Collect,
}

/// What a client sends while a stream it started runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum Input {
    /// Bytes for the command's stdin (or the archive of a copy in).
    Data(
        #[serde(with = "serde_bytes")]
        #[cfg_attr(feature = "schemars", schemars(with = "Vec<u8>"))]
        Vec<u8>,
    ),
    /// End of input: stdin is closed.
    End,
    /// Ends the command (its whole process tree) now.
    Cancel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ExecStarted {
    pub session_id: String,
    /// The session was made for this request (`create`).
    pub session_created: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// A chunk of a command's output, in the order the sandbox wrote it on that stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ExecOutput {
    pub stream: OutputStream,
    #[serde(with = "serde_bytes")]
    #[cfg_attr(feature = "schemars", schemars(with = "Vec<u8>"))]
    pub data: Vec<u8>,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ExecExit {
    /// Its exit status, when it exited.
    pub code: Option<i32>,
    /// The signal that killed it, when one did.
    pub signal: Option<i32>,
    /// Killed because it ran past its timeout.
    pub timed_out: bool,
    /// Killed because the client cancelled it.
    pub cancelled: bool,
    pub duration_ms: u64,
    /// Output was dropped (collect mode, over the cap).
    pub truncated: bool,
    /// How many bytes were dropped, both streams together.
    pub dropped_bytes: u64,
}

impl ExecExit {
    /// The status a shell would report: the exit code, 128+N for a signal, 124 for a
    /// timeout (as `timeout(1)` does).
    pub fn status(&self) -> i32 {
        if self.timed_out {
            124
        } else if let Some(code) = self.code {
            code
        } else {
            128 + self.signal.unwrap_or(0)
        }
    }
}

/// A whole command's result in one document: the `--json` of `msbctl sessions exec` and
/// `run`, and what upper-level servers return to their callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ExecResult {
    pub session_id: String,
    /// As [`ExecExit::status`]: the code, 128+N for a signal, 124 for a timeout.
    pub exit_code: i32,
    pub signal: Option<i32>,
    /// Decoded as UTF-8, invalid sequences replaced.
    pub stdout: String,
    pub stderr: String,
    /// Exited with code 0.
    pub success: bool,
    pub timed_out: bool,
    pub truncated: bool,
    pub duration_ms: u64,
    pub session_created: bool,
}

/// Copies into or out of a session, as a tar archive. In: answered by `ExecStarted`, then
/// the client sends the archive as `Input::Data` chunks and `Input::End`, and gets `Copied`.
/// Out: answered by `ExecStarted`, the archive as `ExecOutput` (stdout) chunks, then
/// `Copied`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct CopyRequest {
    pub session_id: String,
    /// A path in the sandbox's own view; relative paths start at its working directory.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct CopyReport {
    pub session_id: String,
    pub path: String,
    /// Size of the archive that travelled.
    pub bytes: u64,
}

/// The sandbox's own log (its command's stdout and stderr). Answered by `Log` chunks, then
/// `LogEnd`; with `follow`, chunks keep coming until the sandbox ends or the client leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct LogsRequest {
    pub session_id: String,
    pub follow: bool,
    /// Only the last N lines of what is kept.
    pub tail: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct LogEnd {
    /// The sandbox has ended: nothing more will be written.
    pub ended: bool,
}

/// How a sandbox that ended by itself ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SandboxExit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// Unix seconds.
    pub ended_at: u64,
    /// The last lines of its log.
    pub log_tail: Vec<String>,
}
