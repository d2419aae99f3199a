//! Where results and errors go: tables or JSON on stdout, messages on stderr, and the exit
//! code each failure maps to. A closed pipe (`msbctl status | head`) ends quietly.

use crate::exit;
use msb_proto::{ClientError, ErrorCode};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Failure {
    /// The daemon could not be reached (exit 3).
    Unreachable { socket: PathBuf, error: ClientError },
    /// msbd refused this user (exit 3).
    Refused { socket: PathBuf, message: String },
    /// msbd did not answer in time (exit 3).
    TimedOut {
        socket: PathBuf,
        after: std::time::Duration,
    },
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
}

impl Out {
    pub fn new(json: bool) -> Self {
        Self { json }
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
        let (code, message, status) = match failure {
            Failure::Unreachable { socket, error } => (
                Code::Client("unreachable"),
                format!(
                    "{error}\nis msbd running? start it with `msbd --socket {}`, or point msbctl at the right socket with --socket or MSB_SOCKET",
                    socket.display()
                ),
                exit::UNREACHABLE,
            ),
            Failure::Refused { socket, message } => (
                Code::Client("permission_denied"),
                format!("{message} (socket {})", socket.display()),
                exit::UNREACHABLE,
            ),
            Failure::TimedOut { socket, after } => (
                Code::Client("timeout"),
                format!(
                    "msbd at {} did not answer within {}; it may be overloaded or stuck (msbctl --timeout sets the wait)",
                    socket.display(),
                    msb_proto::units::format_duration(*after)
                ),
                exit::UNREACHABLE,
            ),
            Failure::Client(ClientError::Daemon(body)) => (Code::Daemon(body.code), body.message.clone(), exit::FAILED),
            Failure::Client(error) => (Code::Client("client"), error.to_string(), exit::FAILED),
            Failure::Local(message) => (Code::Client("client"), message.clone(), exit::FAILED),
            Failure::BrokenPipe => return exit::OK,
        };
        eprintln!("msbctl: {message}");
        if self.json {
            let body = JsonError {
                error: JsonErrorBody { code, message },
            };
            if let Ok(text) = serde_json::to_string_pretty(&body) {
                let _ = self.line(&text);
            }
        }
        status
    }
}
