//! Where results and errors go: tables or JSON on stdout, messages on stderr, and the exit
//! code each failure maps to. A closed pipe (`msbctl status | head`) ends quietly. Every
//! failure that came from msbd, or from the way to it, names the socket.

use crate::exit;
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
    /// Nobody reads our output any more.
    BrokenPipe,
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        Self::Client(error)
    }
}

fn written(result: std::io::Result<()>) -> Result<(), Failure> {
    match result {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::BrokenPipe),
        Err(err) => Err(Failure::Local(format!("cannot write output: {err}"))),
    }
}

#[derive(Serialize)]
struct JsonError {
    error: JsonErrorBody,
}

#[derive(Serialize)]
struct JsonErrorBody {
    code: Code,
    message: String,
    /// The socket msbctl talked to, when msbd or the way to it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    socket: Option<String>,
}

/// The daemon's own error code, or one of msbctl's (`unreachable`, `client`).
#[derive(Serialize)]
#[serde(untagged)]
enum Code {
    Daemon(ErrorCode),
    Client(&'static str),
}

pub struct Out {
    pub json: bool,
    /// The msbd this run talks to, which failures name.
    target: Target,
}

impl Out {
    pub fn new(json: bool, target: Target) -> Self {
        Self { json, target }
    }

    /// Writes `text` (a newline is added) to stdout.
    pub fn line(&self, text: &str) -> Result<(), Failure> {
        let mut stdout = std::io::stdout().lock();
        written(writeln!(stdout, "{text}").and_then(|()| stdout.flush()))
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
        let at = &self.target;
        let within = |after: &Duration| msb_proto::units::format_duration(*after);
        let (code, message, status) = match failure {
            Failure::Unreachable { error } => (
                Code::Client("unreachable"),
                format!("{error}\n{}", at.unreachable_hint()),
                exit::UNREACHABLE,
            ),
            Failure::Refused { message } => (
                Code::Client("permission_denied"),
                format!("{message} (msbd at {at})"),
                exit::UNREACHABLE,
            ),
            Failure::TimedOut { after } => (
                Code::Client("timeout"),
                format!(
                    "msbd at {at} did not answer within {}; it may be overloaded or stuck (msbctl --timeout sets the wait)",
                    within(after)
                ),
                exit::UNREACHABLE,
            ),
            Failure::NotReady { after, why } => (
                Code::Client("not_ready"),
                format!("msbd at {at} was not ready within {}: {why}", within(after)),
                exit::UNREACHABLE,
            ),
            Failure::Client(ClientError::Daemon(body)) => (
                Code::Daemon(body.code),
                body.message.clone(),
                exit::FAILED,
            ),
            Failure::Client(error) => (Code::Client("client"), error.to_string(), exit::FAILED),
            Failure::Local(message) => (Code::Client("client"), message.clone(), exit::FAILED),
            Failure::BrokenPipe => return exit::OK,
        };
        // What msbd itself said is told as its words; the rest names the socket already.
        let socket = (!matches!(failure, Failure::Local(_))).then(|| at.to_string());
        match failure {
            Failure::Client(ClientError::Daemon(_)) => eprintln!("msbctl: msbd at {at}: {message}"),
            Failure::Client(_) => eprintln!("msbctl: {message} (msbd at {at})"),
            _ => eprintln!("msbctl: {message}"),
        }
        if self.json {
            let body = JsonError {
                error: JsonErrorBody {
                    code,
                    message,
                    socket,
                },
            };
            if let Ok(text) = serde_json::to_string_pretty(&body) {
                let _ = self.line(&text);
            }
        }
        status
    }
}
