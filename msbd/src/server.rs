//! The socket side: accepts connections (at most `MAX_CONNECTIONS` at once), performs the
//! handshake, reads requests and writes answers. A bad frame costs only its own connection.

use crate::daemon::Daemon;
use crate::dispatch::dispatch;
use interprocess::local_socket::tokio::{prelude::*, Listener, Stream};
use msb_proto::frame::{read_frame, write_frame};
use msb_proto::{
    ErrorBody, ErrorCode, FrameError, HandshakeReply, Hello, Request, Response, Welcome, MAX_FRAME,
    PROTOCOL,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Beyond this many open connections, new ones wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 256;
/// A client that connects and says nothing is dropped after this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(listener: Listener, daemon: Arc<Daemon>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok(stream) => {
                let daemon = daemon.clone();
                tokio::spawn(async move {
                    connection(stream, daemon).await;
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

async fn handshake(stream: &mut Stream, daemon: &Daemon) -> Option<Hello> {
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
    let welcome = Welcome {
        protocol: PROTOCOL,
        version: msb_proto::VERSION.to_string(),
        pid: std::process::id(),
        started_at: daemon.started_at(),
    };
    write_frame(stream, &HandshakeReply::Welcome(welcome))
        .await
        .ok()?;
    Some(hello)
}

async fn connection(mut stream: Stream, daemon: Arc<Daemon>) {
    let uid = stream.peer_creds().ok().and_then(|creds| creds.euid());
    let Some(hello) = handshake(&mut stream, &daemon).await else {
        return;
    };
    tracing::debug!(client = %hello.client, ?uid, "client connected");
    loop {
        let request = match read_frame::<_, Request>(&mut stream, MAX_FRAME).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(err) => {
                tracing::debug!(error = %err, "bad request frame; closing the connection");
                if let Some(body) = frame_error_body(&err) {
                    let _ = write_frame(&mut stream, &Response::Error(body)).await;
                }
                return;
            }
        };
        if let Request::Shutdown(shutdown) = request {
            daemon.shutdown_for(&mut stream, shutdown).await;
            return;
        }
        let response = dispatch(&daemon, uid, request).await;
        if write_frame(&mut stream, &response).await.is_err() {
            return;
        }
    }
}
