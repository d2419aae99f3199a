//! `Exec`: a command in a session, with its output streamed or collected, its stdin from the
//! request or the client, and a timeout that kills its whole tree.

use super::drive::{Drive, Feed, Killed, Sink, CHUNK};
use super::WorkError;
use crate::backend::{ExecSpec, Work};
use crate::context::Context;
use crate::reply::{Inbox, Reply};
use crate::sessions::WorkLease;
use msb_proto::{
    CreateSession, EventKind, ExecCommand, ExecExit, ExecOutput, ExecRequest, ExecStarted,
    ExecStdin, OutputMode, OutputStream, Response,
};
use std::time::Duration;

/// Runs `req` and streams its answer into `reply`; an error before the command started is
/// returned for the caller to send.
pub async fn exec(
    ctx: &Context,
    caller: Option<u32>,
    req: ExecRequest,
    reply: &Reply,
    inbox: Inbox<'_>,
) -> Result<(), WorkError> {
    let argv = command_line(ctx, &req.command)?;
    let env = environment(&req.env)?;
    if req.timeout_ms == Some(0) {
        return Err(WorkError::Invalid(
            "the timeout must be longer than zero".into(),
        ));
    }
    if req.workdir.as_ref().is_some_and(|dir| dir.contains('\0')) {
        return Err(WorkError::Invalid(
            "the working directory holds a NUL byte".into(),
        ));
    }
    let (lease, session_created) = lease(ctx, caller, &req.session_id, req.create.clone()).await?;
    let program = argv[0].clone();
    let spec = ExecSpec {
        work: Work::Command(argv),
        env,
        workdir: req.workdir,
        stdin: !matches!(req.stdin, ExecStdin::None),
        flavor: lease.flavor,
    };
    let running = ctx
        .backend
        .exec(&lease.sandbox, spec)
        .await
        .map_err(|source| WorkError::Backend {
            id: lease.id.clone(),
            source,
        })?;
    let session_id = lease.id.clone();
    ctx.events.emit(EventKind::ExecStarted {
        session_id: session_id.clone(),
        program,
        by_uid: caller,
    });
    let started = ExecStarted {
        session_id: lease.id.clone(),
        session_created,
    };
    // Should nobody be listening any more, the drive below notices and kills the command.
    let _ = reply.send(Response::ExecStarted(started)).await;
    let limit = ctx.config().work.collect_limit;
    let sink = match req.output {
        OutputMode::Stream => Sink::Send { limit: None },
        OutputMode::Collect => Sink::Keep(limit),
    };
    let outcome = Drive {
        reply,
        timeout: req.timeout_ms.map(Duration::from_millis),
        feed: match req.stdin {
            ExecStdin::None => Feed::Nothing,
            ExecStdin::Bytes(bytes) => Feed::Bytes(bytes),
            ExecStdin::Streamed => Feed::Client { limit: None },
        },
        stdout: sink,
        stderr: sink,
    }
    .run(running, inbox)
    .await
    .map_err(|source| WorkError::Backend {
        id: lease.id.clone(),
        source,
    })?;
    drop(lease);
    for (stream, kept) in [OutputStream::Stdout, OutputStream::Stderr]
        .into_iter()
        .zip(&outcome.kept)
    {
        for data in kept.chunks(CHUNK) {
            let chunk = ExecOutput {
                stream,
                data: data.to_vec(),
            };
            let _ = reply.send(Response::ExecOutput(chunk)).await;
        }
    }
    let exit = ExecExit {
        code: outcome.ended.code,
        signal: outcome.ended.signal,
        timed_out: outcome.killed == Some(Killed::TimedOut),
        cancelled: outcome.killed == Some(Killed::Cancelled),
        duration_ms: outcome.duration.as_millis() as u64,
        truncated: outcome.dropped > 0,
        dropped_bytes: outcome.dropped,
    };
    ctx.events.emit(EventKind::ExecEnded {
        session_id,
        exit_code: exit.status(),
        timed_out: exit.timed_out,
        duration_ms: exit.duration_ms,
    });
    let _ = reply.send(Response::ExecExit(exit)).await;
    Ok(())
}

/// The lease on the session for `caller`, created first when asked (get-or-create); says
/// whether it was created.
pub(super) async fn lease(
    ctx: &Context,
    caller: Option<u32>,
    id: &str,
    create: Option<CreateSession>,
) -> Result<(WorkLease, bool), WorkError> {
    let limit = ctx.config().work.max_execs_per_session;
    let Some(create) = create else {
        return Ok((ctx.sessions.begin_work(id, limit, caller)?, false));
    };
    let existed = !id.is_empty() && ctx.sessions.exists(id);
    let created = ctx
        .resources
        .create_session(
            CreateSession {
                id: (!id.is_empty()).then(|| id.to_string()),
                ..create
            },
            caller,
        )
        .await?;
    Ok((
        ctx.sessions.begin_work(&created.id, limit, caller)?,
        !existed,
    ))
}

/// The argv a command runs as.
fn command_line(ctx: &Context, command: &ExecCommand) -> Result<Vec<String>, WorkError> {
    let argv = match command {
        ExecCommand::Argv(argv) => argv.clone(),
        ExecCommand::Shell(line) => vec!["/bin/sh".into(), "-c".into(), line.clone()],
        ExecCommand::Code(language) => {
            let languages = &ctx.config().languages;
            languages
                .get(language)
                .ok_or_else(|| {
                    WorkError::Invalid(format!(
                        "no language named '{language}'; languages are: {} (msbd --language NAME=COMMAND adds one)",
                        languages.names()
                    ))
                })?
                .to_vec()
        }
    };
    match argv.first() {
        None => Err(WorkError::Invalid("the command is empty".into())),
        Some(program) if program.is_empty() => {
            Err(WorkError::Invalid("the program name is empty".into()))
        }
        Some(_) if argv.iter().any(|arg| arg.contains('\0')) => Err(WorkError::Invalid(
            "an argument of the command holds a NUL byte".into(),
        )),
        Some(_) => Ok(argv),
    }
}

/// Checks the extra environment: names without `=` or NUL, none of msbd's own markers.
fn environment(env: &[msb_proto::EnvVar]) -> Result<Vec<(String, String)>, WorkError> {
    env.iter()
        .map(|var| {
            let bad_name = var.name.is_empty()
                || var.name.contains(['=', '\0'])
                || var.name.starts_with("MSBD_");
            if bad_name {
                return Err(WorkError::Invalid(format!(
                    "environment variable name '{}' is not allowed: it must be non-empty, without '=', and not start with MSBD_",
                    var.name
                )));
            }
            if var.value.contains('\0') {
                return Err(WorkError::Invalid(format!(
                    "the value of environment variable {} holds a NUL byte",
                    var.name
                )));
            }
            Ok((var.name.clone(), var.value.clone()))
        })
        .collect()
}
