//! The `Logs` stream: a session's sandbox log as `Log` chunks (what is kept, or its last
//! lines), then, with `follow`, what is written after, until the sandbox ends, the client goes
//! away or msbd stops; `LogEnd` says whether the sandbox has ended.

use crate::backend::log::{last_lines, Follow};
use crate::backend::BackendError;
use crate::context::Context;
use crate::reply::{Gone, Reply};
use crate::sessions::{SessionError, SessionLog};
use msb_proto::{LogEnd, LogsRequest, Response};
use std::time::Duration;

/// Bytes one `Log` frame carries at most, well under the frame limit.
const CHUNK: usize = 32 * 1024;
/// How often a follower looks for what was written since.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// Streams the log into `reply`; an error is for the caller to answer with, and comes only
/// before the end was sent.
pub async fn logs(ctx: &Context, req: LogsRequest, reply: &Reply) -> Result<(), SessionError> {
    let SessionLog {
        sandbox,
        mut reader,
        kept,
        ended,
    } = ctx.sessions.open_log(&req.session_id).await?;
    let start = match req.tail {
        Some(lines) => last_lines(&kept, lines),
        None => &kept,
    };
    for chunk in start.chunks(CHUNK) {
        if reply.send(Response::Log(chunk.to_vec())).await.is_err() {
            return Ok(());
        }
    }
    if req.follow && !ended {
        let read_error = |source| SessionError::Backend {
            id: req.session_id.clone(),
            source: BackendError::Log {
                name: sandbox.clone(),
                source,
            },
        };
        loop {
            tokio::select! {
                () = reply.closed() => return Ok(()),
                () = tokio::time::sleep(FOLLOW_EVERY) => {}
            }
            // Looked at before reading: once it has ended, this read takes the last bytes.
            let over = !ctx.sessions.runs(&req.session_id, &sandbox);
            reader = match send_new(reader, reply).await {
                Ok((reader, Ok(()))) => reader,
                Ok((_, Err(Gone))) => return Ok(()),
                Err(source) => return Err(read_error(source)),
            };
            if over || ctx.is_stopping() {
                return end(reply, over).await;
            }
        }
    }
    end(reply, ended).await
}

async fn end(reply: &Reply, ended: bool) -> Result<(), SessionError> {
    // A client that went away misses the end; there is nobody left to tell.
    let _ = reply.send(Response::LogEnd(LogEnd { ended })).await;
    Ok(())
}

/// Sends everything written since the last read; reading runs off the runtime's threads.
/// Gives the reader back, with whether the client is still there.
async fn send_new(
    mut reader: Box<dyn Follow>,
    reply: &Reply,
) -> std::io::Result<(Box<dyn Follow>, Result<(), Gone>)> {
    loop {
        let (back, read) = tokio::task::spawn_blocking(move || {
            let read = reader.next(CHUNK);
            (reader, read)
        })
        .await
        .map_err(std::io::Error::other)?;
        reader = back;
        let data = read?;
        if data.is_empty() {
            return Ok((reader, Ok(())));
        }
        if let Err(gone) = reply.send(Response::Log(data)).await {
            return Ok((reader, Err(gone)));
        }
    }
}
