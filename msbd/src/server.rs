//! The socket side: accepts connections (at most `MAX_CONNECTIONS` at once), performs the
//! handshake, reads requests and writes what their reply sinks carry. Each connection reads
//! its client all the time, so a client that goes away is noticed while its request runs; a
//! bad frame costs only its own connection.

use crate::admission::{Creds, Ticket};
use crate::context::Context;
use crate::dispatch::{at_once, dispatch, Peer};
use crate::reply::{Inbox, Incoming, Outgoing, Reply};
use interprocess::local_socket::tokio::{prelude::*, Listener, Stream};
use msb_proto::frame::{write_frame, write_frame_in, FrameReader};
use msb_proto::{
    ErrorBody, ErrorCode, FrameError, HandshakeReply, Hello, Request, Response, Welcome, MAX_FRAME,
    PROTOCOL,
};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::unix::{ReadHalf, WriteHalf};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::{Instant, Sleep};

/// Beyond this many open connections, new ones wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 256;
/// A client that connects and says nothing is dropped after this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A frame that has started must have arrived whole within this long.
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer buffer a connection keeps between requests.
const KEPT_BUFFER: usize = 64 * 1024;

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
async fn handshake(
    frames: &mut FrameReader<ReadHalf<'_>>,
    send: &mut WriteHalf<'_>,
    ctx: &Context,
    creds: &Creds,
) -> Option<(Hello, Ticket)> {
    let refuse = |body: ErrorBody| HandshakeReply::Refused(body);
    let hello = match tokio::time::timeout(HANDSHAKE_TIMEOUT, frames.next::<Hello>()).await {
        Ok(Ok(Some(hello))) => hello,
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "bad handshake");
            if let Some(body) = frame_error_body(&err) {
                let _ = write_frame(send, &refuse(body)).await;
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
        let _ = write_frame(send, &refuse(body)).await;
        return None;
    }
    let ticket = match ctx.admission.admit(creds) {
        Ok(ticket) => ticket,
        Err(body) => {
            tracing::info!(uid = ?creds.uid, pid = ?creds.pid, reason = %body.message, "connection refused");
            let _ = write_frame(send, &refuse(body)).await;
            return None;
        }
    };
    let welcome = Welcome {
        protocol: PROTOCOL,
        version: msb_proto::VERSION.to_string(),
        pid: ctx.pid(),
        started_at: ctx.started_at(),
    };
    write_frame(send, &HandshakeReply::Welcome(welcome))
        .await
        .ok()?;
    Some((hello, ticket))
}

/// The client's next frame as the connection reads it; `None` when the client has closed
/// its end or sent a frame that cannot be answered (after which nothing more is read).
async fn next_frame(frames: &mut FrameReader<ReadHalf<'_>>) -> Option<Incoming> {
    match frames.next_within::<Request>(FRAME_TIMEOUT).await {
        Ok(Some(request)) => Some(Ok(request)),
        Ok(None) => None,
        Err(err) => {
            tracing::debug!(error = %err, "bad request frame; closing the connection");
            frame_error_body(&err).map(Err)
        }
    }
}

/// Reads what the client sends while its request is answered (stdin, a cancel, or its next
/// request) into `early`, one frame ahead at most: a client cannot queue up work faster than
/// it is done. Returns, turning `gone` true, once the client has closed its end or broken
/// the protocol, so that work only for it can end.
async fn listen(
    frames: &mut FrameReader<ReadHalf<'_>>,
    early: &mpsc::Sender<Incoming>,
    gone: &watch::Sender<bool>,
) {
    loop {
        // The slot first: a frame once read is never dropped with this future.
        let Ok(slot) = early.reserve().await else {
            break;
        };
        match next_frame(frames).await {
            Some(incoming) => {
                let failed = incoming.is_err();
                slot.send(incoming);
                if failed {
                    break;
                }
            }
            None => break,
        }
    }
    gone.send_replace(true);
}

/// The idle limit on one timer for the connection's whole life: re-arming a timer for every
/// request would cost as much as answering it. The timer may fire early (the connection
/// was busy since it was set); it is then set again for the deadline now in force.
struct Idle {
    timer: Pin<Box<Sleep>>,
}

impl Idle {
    fn new(deadline: Instant) -> Self {
        Self {
            timer: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    /// Resolves at `deadline`. Cancel-safe.
    async fn until(&mut self, deadline: Instant) {
        if self.timer.deadline() > deadline {
            self.timer.as_mut().reset(deadline);
        }
        loop {
            self.timer.as_mut().await;
            if Instant::now() >= deadline {
                return;
            }
            self.timer.as_mut().reset(deadline);
        }
    }
}

async fn connection(stream: Stream, ctx: Arc<Context>) {
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
    // Tokio's own halves, not interprocess's `&Stream`: a read that leaves the buffer part
    // empty tells tokio the socket is drained, saving a `recv` that would only say so (one
    // in two of every connection's reads).
    let Stream::UdSocket(stream) = stream;
    let mut stream = UnixStream::from(stream);
    let (read, mut send) = stream.split();
    // The hello and the first request come in one write, so the same buffer reads both.
    let mut frames = FrameReader::new(read, MAX_FRAME);
    let Some((hello, _ticket)) = handshake(&mut frames, &mut send, &ctx, &creds).await else {
        return;
    };
    tracing::debug!(client = %hello.client, uid = ?peer.uid, "client connected");
    let (gone_tx, gone) = watch::channel(false);
    let (early_tx, mut early) = mpsc::channel(1);
    let mut idle = Idle::new(Instant::now() + ctx.config().idle_timeout);
    // Every answer is encoded in this one buffer.
    let mut out = Vec::new();
    loop {
        let incoming = match early.try_recv() {
            Ok(incoming) => incoming,
            // The client has closed its end, or could not be read or written.
            Err(_) if *gone.borrow() => break,
            Err(_) => {
                let deadline = Instant::now() + ctx.config().idle_timeout;
                tokio::select! {
                    biased;
                    incoming = next_frame(&mut frames) => match incoming {
                        Some(incoming) => incoming,
                        None => break,
                    },
                    () = idle.until(deadline) => {
                        // Idle clients cannot pile up; the client reconnects when it needs
                        // msbd again.
                        tracing::debug!(client = %hello.client, "idle connection closed");
                        break;
                    }
                }
            }
        };
        let request = match incoming {
            Ok(request) => request,
            Err(body) => {
                let _ = write_frame(&mut send, &Response::Error(body)).await;
                break;
            }
        };
        let answering = ctx.answering();
        // Most requests wait on nothing: their answer is written here, without the reply
        // sink, writer and reading ahead that a request which waits or streams needs.
        if let Some(response) = at_once(&ctx, &request) {
            if write_frame_in(&mut send, &response, &mut out)
                .await
                .is_err()
            {
                break;
            }
            drop(answering);
            trim(&mut out);
            continue;
        }
        let (reply, mut outbox) = Reply::new(gone.clone());
        let writer = async {
            let mut broken = false;
            while let Some(outgoing) = outbox.recv().await {
                match outgoing {
                    Outgoing::Frame(frame) if !broken => {
                        if write_frame_in(&mut send, &frame, &mut out).await.is_err() {
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
        let inbox = Inbox::new(&mut early);
        let broken = {
            let answered =
                async { tokio::join!(dispatch(&ctx, peer, request, reply, inbox), writer).1 };
            tokio::pin!(answered);
            // Answered first: most answers are written in their first poll, before the
            // client is read again.
            tokio::select! {
                biased;
                broken = &mut answered => broken,
                () = listen(&mut frames, &early_tx, &gone_tx) => answered.await,
            }
        };
        drop(answering);
        if broken {
            break;
        }
        trim(&mut out);
    }
}

/// The answer buffer is kept for the next answer, unless a large one left it large.
fn trim(out: &mut Vec<u8>) {
    if out.capacity() > KEPT_BUFFER {
        *out = Vec::new();
    }
}
