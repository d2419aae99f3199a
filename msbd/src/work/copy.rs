//! Copies into and out of a session: a tar archive streamed through msbd's own copy code
//! running inside the sandbox (see the process backend's `enter`), so paths resolve in the
//! sandbox's view and as its user. Each copy is bounded by `--copy-limit-mb`.

use super::drive::{Drive, Feed, Killed, Sink};
use super::exec::lease;
use super::WorkError;
use crate::backend::{ExecSpec, Work};
use crate::context::Context;
use crate::reply::{Inbox, Reply};
use msb_proto::{CopyReport, CopyRequest, ExecStarted, Response};

/// What a failed copy's own error message may take.
const ERROR_TEXT: u64 = 16 * 1024;

/// Which way a copy goes: in (the client sends the archive as `Input`) or out (msbd sends
/// it as `ExecOutput` chunks on stdout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    fn words(self) -> &'static str {
        match self {
            Self::In => "into",
            Self::Out => "out of",
        }
    }
}

/// Copies `req.path` of the session in or out as a tar archive, streamed through `reply`
/// and `inbox`, then reports `Copied`.
pub async fn copy(
    ctx: &Context,
    caller: Option<u32>,
    req: CopyRequest,
    reply: &Reply,
    inbox: Inbox<'_>,
    direction: Direction,
) -> Result<(), WorkError> {
    if req.path.is_empty() || req.path.contains('\0') {
        return Err(WorkError::Invalid(format!(
            "'{}' is not a path: it must be non-empty and hold no NUL byte",
            req.path.escape_default()
        )));
    }
    let (lease, _) = lease(ctx, caller, &req.session_id, None).await?;
    let id = lease.id.clone();
    let spec = ExecSpec {
        work: match direction {
            Direction::In => Work::CopyIn(req.path.clone()),
            Direction::Out => Work::CopyOut(req.path.clone()),
        },
        env: Vec::new(),
        workdir: None,
        stdin: direction == Direction::In,
        flavor: lease.flavor,
    };
    let backend_err = |source| WorkError::Backend {
        id: id.clone(),
        source,
    };
    let running = ctx
        .backend
        .exec(&lease.sandbox, spec)
        .await
        .map_err(backend_err)?;
    let started = ExecStarted {
        session_id: id.clone(),
        session_created: false,
    };
    let _ = reply.send(Response::ExecStarted(started)).await;
    let limit = ctx.config().work.copy_limit;
    let outcome = Drive {
        reply,
        timeout: None,
        feed: match direction {
            Direction::In => Feed::Client { limit: Some(limit) },
            Direction::Out => Feed::Nothing,
        },
        stdout: match direction {
            Direction::In => Sink::Keep(0),
            Direction::Out => Sink::Send { limit: Some(limit) },
        },
        stderr: Sink::Keep(ERROR_TEXT),
    }
    .run(running, inbox)
    .await
    .map_err(backend_err)?;
    let words = direction.words();
    match outcome.killed {
        Some(Killed::TooLarge) => {
            return Err(WorkError::TooLarge {
                id,
                direction: words,
                limit_mb: limit / (1024 * 1024),
            })
        }
        Some(Killed::Cancelled | Killed::TimedOut) => {
            return Err(WorkError::Cancelled {
                id,
                direction: words,
            })
        }
        None => {}
    }
    if outcome.ended.code != Some(0) {
        let said = String::from_utf8_lossy(&outcome.kept[1]).trim().to_string();
        return Err(WorkError::Copy {
            id,
            direction: words,
            message: if said.is_empty() {
                format!("it ended with {:?}", outcome.ended)
            } else {
                said
            },
        });
    }
    let report = CopyReport {
        session_id: id,
        path: req.path,
        bytes: match direction {
            Direction::In => outcome.bytes_in,
            Direction::Out => outcome.bytes_out,
        },
    };
    let _ = reply.send(Response::Copied(report)).await;
    Ok(())
}
