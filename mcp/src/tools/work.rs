//! `execute_code` and `execute_command`: get-or-create the session, run, stream the output
//! as progress notifications, and return the whole result (msbctl's `--json` document of an
//! exec). A client's cancellation cancels the command's whole process tree in the sandbox.

use crate::failure::Failure;
use crate::server::{answer, Server};
use msb_proto::{
    CreateSession, ErrorCode, ExecCommand, ExecEvent, ExecExit, ExecRequest, ExecResult, ExecStdin,
    Execution, Flavor, Input, OutputMode, OutputStream,
};
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, ErrorData, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::sync::mpsc;

/// The longest `timeout_secs` a call may ask for: a day.
const MAX_TIMEOUT_SECS: u64 = 24 * 60 * 60;
/// Output text carried by one progress notification, at most.
const PROGRESS_TEXT: usize = 4096;

/// Where and how long a command runs.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RunIn {
    /// Session to run in; without one, a new session is created and its id returned.
    pub session_id: Option<String>,
    /// With `session_id`: create that session when it does not exist (otherwise an unknown
    /// id is an error).
    #[serde(default)]
    pub create_if_missing: bool,
    /// Template of a new session (one of msbd's templates) [default: msbd's default].
    pub template: Option<String>,
    /// Size of a new session: small (1 CPU, 1 GiB), medium (2, 2 GiB), large (4, 4 GiB).
    pub flavor: Option<Flavor>,
    /// Seconds after which the command's whole process tree is killed; the result then says
    /// `timed_out` [default: the server's --exec-timeout].
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExecuteCode {
    /// The code; the language's interpreter reads it on stdin.
    pub code: String,
    /// python, node, shell, or a language msbd was given [default: the template's name].
    pub language: Option<String>,
    #[serde(flatten)]
    pub run: RunIn,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExecuteCommand {
    /// The program, or without `args` a command line for `/bin/sh -c`.
    pub command: String,
    /// Arguments: the program then runs directly, without a shell.
    pub args: Option<Vec<String>>,
    #[serde(flatten)]
    pub run: RunIn,
}

#[tool_router(router = work_tools, vis = "pub(crate)")]
impl Server {
    #[tool(
        description = "Run code in a sandbox session (python, node, shell, or another language \
                       msbd knows). Creates a session unless session_id names one of yours; \
                       returns its session_id, stdout, stderr, exit_code, success, timed_out, \
                       truncated, duration_ms and session_created. Output streams as progress \
                       notifications while it runs.",
        output_schema = schema_for_output::<ExecResult>()
    )]
    async fn execute_code(
        &self,
        Parameters(args): Parameters<ExecuteCode>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let language = args.language.or_else(|| args.run.template.clone());
        let outcome = match language {
            Some(language) => {
                let stdin = ExecStdin::Bytes(args.code.into_bytes());
                self.run(ExecCommand::Code(language), stdin, args.run, &ctx)
                    .await
            }
            None => Err(Failure::invalid(
                "execute_code needs a language (python, node, shell, …) or a template",
            )),
        };
        answer(outcome, render)
    }

    #[tool(
        description = "Run a command in a sandbox session: a command line for /bin/sh -c, or a \
                       program with args. Creates a session unless session_id names one of \
                       yours; returns the same result as execute_code.",
        output_schema = schema_for_output::<ExecResult>()
    )]
    async fn execute_command(
        &self,
        Parameters(args): Parameters<ExecuteCommand>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let command = match args.args {
            Some(rest) => ExecCommand::Argv(std::iter::once(args.command).chain(rest).collect()),
            None => ExecCommand::Shell(args.command),
        };
        let outcome = self.run(command, ExecStdin::None, args.run, &ctx).await;
        answer(outcome, render)
    }
}

impl Server {
    async fn run(
        &self,
        command: ExecCommand,
        stdin: ExecStdin,
        run: RunIn,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ExecResult, Failure> {
        let caller = self.caller(ctx);
        let timeout_ms = self.timeout(run.timeout_secs)?.as_millis() as u64;
        let mut client = self.connect().await?;
        let new = CreateSession {
            template: run.template,
            flavor: run.flavor,
            id: None,
            labels: caller.labels(),
        };
        let create = match &run.session_id {
            None => Some(new),
            Some(id) => match self.owned(&mut client, &caller, id).await {
                Ok(_) => None,
                Err(f) if f.is(ErrorCode::UnknownSession) && run.create_if_missing => Some(new),
                Err(f) => return Err(f),
            },
        };
        let creating = create.is_some();
        let request = ExecRequest {
            session_id: run.session_id.unwrap_or_default(),
            command,
            env: Vec::new(),
            workdir: None,
            stdin,
            timeout_ms: Some(timeout_ms),
            output: OutputMode::Stream,
            create,
        };
        let execution = client.exec(request).await?;
        let started = execution.started.clone();
        // Between the look and the create, another client may have made a session of that
        // id: the command must not run in a session that is not the caller's.
        if creating && !started.session_created {
            let mut other = self.connect().await?;
            if let Err(f) = self.owned(&mut other, &caller, &started.session_id).await {
                execution.input(Input::Cancel).await?;
                drain(&execution).await;
                return Err(f);
            }
        }
        let mut output = Output::new(self.shared.limits.max_output);
        let exit = self.follow(&execution, &mut output, ctx).await?;
        if exit.cancelled {
            return Err(Failure::new(
                "cancelled",
                "the command was cancelled; its process tree was killed",
            ));
        }
        Ok(ExecResult {
            session_id: started.session_id,
            exit_code: exit.status(),
            signal: exit.signal,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            success: exit.status() == 0,
            timed_out: exit.timed_out,
            truncated: exit.truncated || output.dropped,
            duration_ms: exit.duration_ms,
            session_created: started.session_created,
        })
    }

    fn timeout(&self, secs: Option<u64>) -> Result<std::time::Duration, Failure> {
        match secs {
            None => Ok(self.shared.limits.exec_timeout),
            Some(s @ 1..=MAX_TIMEOUT_SECS) => Ok(std::time::Duration::from_secs(s)),
            Some(s) => Err(Failure::invalid(format!(
                "timeout_secs {s} is out of range: 1 to {MAX_TIMEOUT_SECS}"
            ))),
        }
    }

    /// Reads the command's output to its exit, sending each chunk on as progress and a
    /// cancel on when the client cancels. Reading runs in a future of its own, because a
    /// read must never be abandoned halfway through a frame.
    async fn follow(
        &self,
        execution: &Execution<'_>,
        output: &mut Output,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ExecExit, Failure> {
        let (tx, mut rx) = mpsc::channel(16);
        let read = async {
            loop {
                let event = execution.next().await;
                let last = !matches!(event, Ok(ExecEvent::Output(_)));
                if tx.send(event).await.is_err() || last {
                    break;
                }
            }
        };
        let progress = ctx.meta.get_progress_token();
        let consume = async {
            let mut cancelled = false;
            loop {
                tokio::select! {
                    event = rx.recv() => match event {
                        Some(Ok(ExecEvent::Output(chunk))) => {
                            let text = output.take(chunk.stream, &chunk.data);
                            if let (Some(token), Some(text)) = (&progress, text) {
                                let note = ProgressNotificationParam::new(
                                    token.clone(),
                                    output.seen as f64,
                                )
                                .with_message(text);
                                // A client that stopped listening still gets its result.
                                let _ = ctx.peer.notify_progress(note).await;
                            }
                        }
                        Some(Ok(ExecEvent::Exit(exit))) => return Ok(exit),
                        Some(Ok(ExecEvent::Copied(_))) => {
                            return Err(Failure::new("internal", "msbd answered an exec with a copy"))
                        }
                        Some(Err(e)) => return Err(Failure::from(e)),
                        None => return Err(Failure::new("disconnected", "msbd closed the connection")),
                    },
                    () = ctx.ct.cancelled(), if !cancelled => {
                        cancelled = true;
                        execution.input(Input::Cancel).await?;
                    }
                }
            }
        };
        let ((), exit) = tokio::join!(read, consume);
        exit
    }
}

/// Reads a stream to its end, as after a cancel, so its process is known to be gone.
async fn drain(execution: &Execution<'_>) {
    while let Ok(ExecEvent::Output(_)) = execution.next().await {}
}

/// A command's output as kept: each stream up to the cap.
struct Output {
    cap: usize,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Bytes seen, both streams: the progress figure.
    seen: u64,
    dropped: bool,
}

impl Output {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            stdout: Vec::new(),
            stderr: Vec::new(),
            seen: 0,
            dropped: false,
        }
    }

    /// Keeps what fits; returns the chunk as progress text, or `None` for an empty chunk.
    fn take(&mut self, stream: OutputStream, data: &[u8]) -> Option<String> {
        if data.is_empty() {
            return None;
        }
        self.seen += data.len() as u64;
        let kept = match stream {
            OutputStream::Stdout => &mut self.stdout,
            OutputStream::Stderr => &mut self.stderr,
        };
        let room = self.cap.saturating_sub(kept.len());
        kept.extend_from_slice(&data[..room.min(data.len())]);
        self.dropped |= room < data.len();
        let shown = &data[..PROGRESS_TEXT.min(data.len())];
        Some(String::from_utf8_lossy(shown).into_owned())
    }
}

fn render(result: &ExecResult) -> String {
    let how = if result.timed_out {
        "timed out".to_string()
    } else {
        format!("exit {}", result.exit_code)
    };
    let new = if result.session_created { ", new" } else { "" };
    let mut text = format!(
        "{how} in {} ms (session {}{new})",
        result.duration_ms, result.session_id
    );
    for (name, body) in [("stdout", &result.stdout), ("stderr", &result.stderr)] {
        if !body.is_empty() {
            text.push_str(&format!("\n--- {name}\n{body}"));
        }
    }
    if result.truncated {
        text.push_str("\n(output truncated)");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_each_stream_up_to_its_cap() {
        let mut output = Output::new(4);
        assert_eq!(
            output.take(OutputStream::Stdout, b"abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            output.take(OutputStream::Stdout, b"def").as_deref(),
            Some("def")
        );
        assert_eq!(
            output.take(OutputStream::Stderr, b"xy").as_deref(),
            Some("xy")
        );
        assert_eq!(output.take(OutputStream::Stderr, b""), None);
        assert_eq!(
            (output.stdout.as_slice(), output.stderr.as_slice()),
            (&b"abcd"[..], &b"xy"[..])
        );
        assert!(output.dropped);
        assert_eq!(output.seen, 8);
    }
}
