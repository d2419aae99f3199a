//! Where results and errors go: tables or JSON on stdout, messages on stderr, and the exit
//! code each failure maps to. Nothing here panics on a stream that cannot be written: a
//! closed pipe (`msbctl status | head`) ends quietly, a full disk is one line on stderr.
//! Every failure that came from msbd, or from the way to it, names the socket.

use crate::exit;
use crate::paint::Paint;
use crate::target::Target;
use msb_proto::{ClientError, ErrorCode};
use serde::Serialize;
use std::io::Write;
use std::time::Duration;

#[derive(Debug)]
pub enum Failure {
    /// The daemon could not be reached (exit 3).
    Unreachable { error: ClientError },
    /// msbd refused this user (exit 3).
    Refused { message: String },
    /// msbd did not answer in time (exit 3).
    TimedOut { after: Duration },
    /// msbd was not ready by the deadline of `wait`, for the reason given (exit 3).
    NotReady { after: Duration, why: String },
    /// The request failed or the answer made no sense (exit 1).
    Client(ClientError),
    /// Something on this side failed (exit 1).
    Local(String),
    /// The command line asks for something that cannot be done (exit 2).
    Usage(String),
    /// Nobody reads our output any more.
    BrokenPipe,
}

/// The handshake travels with the first request, so any answer may be msbd refusing this
/// user or being unreachable, not only the request's own error.
impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Refused(body) if body.code == ErrorCode::PermissionDenied => {
                Self::Refused {
                    message: body.message,
                }
            }
            error if error.is_unreachable() => Self::Unreachable { error },
            error => Self::Client(error),
        }
    }
}

impl Failure {
    /// What a script reads (the code), what a person reads, and the exit status; `None` for
    /// a closed pipe, which is not reported. `at` is the msbd this run talks to.
    fn parts(&self, at: &Target) -> Option<(JsonErrorBody, u8)> {
        let within = |after: &Duration| msb_proto::units::format_duration(*after);
        let (code, message, status) = match self {
            Self::Unreachable { error } => (
                Code::Client("unreachable"),
                format!("{error}\n{}", at.unreachable_hint()),
                exit::UNREACHABLE,
            ),
            Self::Refused { message } => (
                Code::Client("permission_denied"),
                format!("{message} (msbd at {at})"),
                exit::UNREACHABLE,
            ),
            Self::TimedOut { after } => (
                Code::Client("timeout"),
                format!(
                    "msbd at {at} did not answer within {}; it may be overloaded or stuck (msbctl --timeout sets the wait)",
                    within(after)
                ),
                exit::UNREACHABLE,
            ),
            Self::NotReady { after, why } => (
                Code::Client("not_ready"),
                format!("msbd at {at} was not ready within {}: {why}", within(after)),
                exit::UNREACHABLE,
            ),
            Self::Client(ClientError::Daemon(body) | ClientError::Refused(body)) => {
                (Code::Daemon(body.code), body.message.clone(), exit::FAILED)
            }
            Self::Client(error) => (Code::Client("client"), error.to_string(), exit::FAILED),
            Self::Local(message) => (Code::Client("client"), message.clone(), exit::FAILED),
            Self::Usage(message) => (Code::Client("usage"), message.clone(), exit::USAGE),
            Self::BrokenPipe => return None,
        };
        let socket = (!matches!(self, Self::Local(_) | Self::Usage(_))).then(|| at.to_string());
        Some((
            JsonErrorBody {
                code,
                message,
                socket,
            },
            status,
        ))
    }
}

/// The message of an I/O error without the `(os error 28)` that only helps a programmer.
pub fn io_message(err: &std::io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(n) => text
            .strip_suffix(&format!(" (os error {n})"))
            .unwrap_or(&text)
            .to_string(),
        None => text,
    }
}

/// Maps a failed write to stdout: a closed pipe ends quietly, anything else is reported.
pub fn written(result: std::io::Result<()>) -> Result<(), Failure> {
    match result {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::BrokenPipe),
        Err(err) => Err(Failure::Local(format!(
            "cannot write output: {}",
            io_message(&err)
        ))),
    }
}

/// Writes a line for people to stderr. A stderr that cannot be written has nowhere to report
/// that to, so its errors are dropped instead of panicking as `eprintln!` does.
pub fn note(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{text}").and_then(|()| stderr.flush());
}

#[derive(Debug, Serialize)]
struct JsonError {
    error: JsonErrorBody,
}

/// `{"code": …, "message": …}`, as every `--json` error prints it.
#[derive(Debug, Serialize)]
pub struct JsonErrorBody {
    code: Code,
    message: String,
    /// The msbd msbctl talked to, when msbd or the way to it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    socket: Option<String>,
}

/// The daemon's own error code, or one of msbctl's (`unreachable`, `usage`, `client`, …).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Code {
    Daemon(ErrorCode),
    Client(&'static str),
}

pub struct Out {
    pub json: bool,
    /// How tables and states are coloured for people.
    pub paint: Paint,
    /// The msbd this run talks to, which failures name.
    target: Target,
}

impl Out {
    pub fn new(json: bool, paint: Paint, target: Target) -> Self {
        Self {
            json,
            paint,
            target,
        }
    }

    /// Writes `text` (a newline is added) to stdout, in one write: stdout's line buffering
    /// would split a table in two, waking whoever reads it twice.
    pub fn line(&self, text: &str) -> Result<(), Failure> {
        let mut whole = String::with_capacity(text.len() + 1);
        whole.push_str(text);
        whole.push('\n');
        self.raw(whole.as_bytes())
    }

    /// Writes `bytes` as they are to stdout, at once, for output that streams.
    pub fn raw(&self, bytes: &[u8]) -> Result<(), Failure> {
        let mut stdout = std::io::stdout().lock();
        written(stdout.write_all(bytes).and_then(|()| stdout.flush()))
    }

    /// Prints `value` as JSON in `--json` mode, else the human rendering.
    pub fn show<T: Serialize + ?Sized>(
        &self,
        value: &T,
        human: impl FnOnce(&T) -> String,
    ) -> Result<(), Failure> {
        if self.json {
            let text =
                serde_json::to_string_pretty(value).map_err(|e| Failure::Local(e.to_string()))?;
            self.line(&text)
        } else {
            self.line(human(value).trim_end())
        }
    }

    /// Reports a failure on stderr (and as JSON on stdout with `--json`); returns its exit code.
    pub fn fail(&self, failure: &Failure) -> u8 {
        let Some((error, status)) = self.report(failure) else {
            return exit::OK;
        };
        if self.json {
            if let Ok(text) = serde_json::to_string_pretty(&JsonError { error }) {
                // The message is on stderr already; a stdout that fails has nothing to add.
                let _ = self.line(&text);
            }
        }
        status
    }

    /// Tells a person about `failure` on stderr and hands back what a document says of it,
    /// for commands that report a failure inside their own document (`version`).
    pub fn report(&self, failure: &Failure) -> Option<(JsonErrorBody, u8)> {
        let (error, status) = failure.parts(&self.target)?;
        let at = &self.target;
        // What msbd itself said is told as its words, after the socket that said it; the
        // other messages that concern msbd name it already.
        match failure {
            Failure::Client(ClientError::Daemon(_) | ClientError::Refused(_)) => {
                note(&format!("msbctl: msbd at {at}: {}", error.message))
            }
            Failure::Client(_) => note(&format!("msbctl: {} (msbd at {at})", error.message)),
            _ => note(&format!("msbctl: {}", error.message)),
        }
        Some((error, status))
    }
}
