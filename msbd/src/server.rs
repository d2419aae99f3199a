//! The socket side: accepts connections (at most `MAX_CONNECTIONS` at once), performs the
//! handshake, reads requests and writes what their reply sinks carry. Each connection reads
//! its client all the time, so a client that goes away is noticed while its request runs; a
//! bad frame costs only its own connection.

use crate::admission::{Creds, Ticket};
use crate::context::Context;
use crate::dispatch::{dispatch, Peer};
use crate::reply::{Inbox, Incoming, Outgoing, Reply};
use interprocess::local_socket::tokio::{prelude::*, Listener, Stream};
use msb_proto::frame::{read_frame, read_frame_within, write_frame};
use msb_proto::{
    ErrorBody, ErrorCode, FrameError, HandshakeReply, Hello, Request, Response, Welcome, MAX_FRAME,
    PROTOCOL,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};

/// Beyond this many open connections, new ones wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 256;
/// A client that connects and says nothing is dropped after this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A frame that has started must have arrived whole within this long.
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(listener: Listener, ctx: Arc<Context>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok(stream) => {
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    connection(stream, ctx).await;
                    drop(permit);
                });
            }
            Err(err) => {
                // Typically out of file descriptors: back off rather than spin.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The error a client is told about a frame it sent; `None` when it cannot be told anything.
fn frame_error_body(err: &FrameError) -> Option<ErrorBody> {
    match err {
        FrameError::TooLarge { .. } => {
            Some(ErrorBody::new(ErrorCode::FrameTooLarge, err.to_string()))
        }
        FrameError::Decode(_) => Some(ErrorBody::new(ErrorCode::BadRequest, err.to_string())),
        FrameError::Io(_) | FrameError::Truncated | FrameError::Encode(_) => None,
    }
}

/// Shakes hands and admits the client by its credentials; the ticket holds its place among
/// its uid's connections.
async fn handshake(stream: &mut Stream, ctx: &Context, creds: &Creds) -> Option<(Hello, Ticket)> {
    let refuse = |body: ErrorBody| HandshakeReply::Refused(body);
    let hello =
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame::<_, Hello>(stream, MAX_FRAME))
            .await
        {
            Ok(Ok(Some(hello))) => hello,
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "bad handshake");
                if let Some(body) = frame_error_body(&err) {
                    let _ = write_frame(stream, &refuse(body)).await;
                }
                return None;
            }
            Ok(Ok(None)) | Err(_) => return None,
        };
    if hello.protocol != PROTOCOL {
        let body = ErrorBody::new(
            ErrorCode::ProtocolMismatch,
            format!(
                "client speaks protocol {} but msbd {} speaks protocol {PROTOCOL}; use the msbctl that came with this msbd",
                hello.protocol,
                msb_proto::VERSION
            ),
        );
        let _ = write_frame(stream, &refuse(body)).await;
        return None;
    }
    let ticket = match ctx.admission.admit(creds) {
        Ok(ticket) => ticket,
        Err(body) => {
            tracing::info!(uid = ?creds.uid, pid = ?creds.pid, reason = %body.message, "connection refused");
            let _ = write_frame(stream, &refuse(body)).await;
            return None;
        }
    };
    let welcome = Welcome {
        protocol: PROTOCOL,
        version: msb_proto::VERSION.to_string(),
        pid: std::process::id(),
        started_at: ctx.started_at(),
    };
    write_frame(stream, &HandshakeReply::Welcome(welcome))
        .await
        .ok()?;
    Some((hello, ticket))
}

/// Reads the client's frames in order; turns `gone` true when the client closes its end.
async fn read_requests(
    stream: Arc<Stream>,
    requests: mpsc::Sender<Incoming>,
    gone: watch::Sender<bool>,
) {
    let mut recv = &*stream;
    loop {
        match read_frame_within::<_, Request>(&mut recv, MAX_FRAME, FRAME_TIMEOUT).await {
            Ok(Some(request)) => {
                if requests.send(Ok(request)).await.is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Err(err) => {
                tracing::debug!(error = %err, "bad request frame; closing the connection");
                if let Some(body) = frame_error_body(&err) {
                    let _ = requests.send(Err(body)).await;
                }
                break;
            }
        }
    }
    gone.send_replace(true);
}

async fn connection(mut stream: Stream, ctx: Arc<Context>) {
    let creds = stream
        .peer_creds()
        .map(|c| Creds {
            uid: c.euid(),
            gid: c.egid(),
            pid: c.pid(),
            groups: c.groups().map(<[u32]>::to_vec),
        })
        .unwrap_or_default();
    let peer = Peer { uid: creds.uid };
    let Some((hello, _ticket)) = handshake(&mut stream, &ctx, &creds).await else {
        return;
    };
    tracing::debug!(client = %hello.client, uid = ?peer.uid, "client connected");
    // Read and written at once: `&Stream` is both ends.
    let stream = Arc::new(stream);
    let mut send = &*stream;
    let (gone_tx, gone) = watch::channel(false);
    // One request ahead at most: a client cannot queue up work faster than it is done.
    let (requests_tx, mut requests) = mpsc::channel(1);
    let reader = tokio::spawn(read_requests(stream.clone(), requests_tx, gone_tx.clone()));
    loop {
        let incoming = match tokio::time::timeout(ctx.config().idle_timeout, requests.recv()).await
        {
            Ok(Some(incoming)) => incoming,
            Ok(None) => break,
            Err(_) => {
                // Idle clients cannot pile up; the client reconnects when it needs msbd again.
                tracing::debug!(client = %hello.client, "idle connection closed");
                break;
            }
        };
        let request = match incoming {
            Ok(request) => request,
            Err(body) => {
                let _ = write_frame(&mut send, &Response::Error(body)).await;
                break;
            }
        };
        let (reply, mut outbox) = Reply::new(gone.clone());
        let writer = async {
            let mut broken = false;
            while let Some(outgoing) = outbox.recv().await {
                match outgoing {
                    Outgoing::Frame(frame) if !broken => {
                        if write_frame(&mut send, &frame).await.is_err() {
                            broken = true;
                            gone_tx.send_replace(true);
                        }
                    }
                    // Once writing failed the rest is dropped, so the handler never waits.
                    Outgoing::Frame(_) => {}
                    Outgoing::Flush(done) => {
                        if !broken {
                            let _ = done.send(());
                        }
                    }
                }
            }
            broken
        };
        let answering = ctx.answering();
        let inbox = Inbox::new(&mut requests);
        let ((), broken) = tokio::join!(dispatch(&ctx, peer, request, reply, inbox), writer);
        drop(answering);
        if broken {
            break;
        }
    }
    reader.abort();
}
