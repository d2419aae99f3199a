//! `--metrics-listen`: just enough HTTP/1.1 for a Prometheus server. `GET /metrics` (or
//! `HEAD`) gets the exposition; another path 404, another method 405, a malformed request
//! 400. A request head is bounded in size and time, connections in number (more wait in the
//! kernel's backlog), and every answer closes its connection.

use super::render;
use crate::context::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// The largest request head read; Prometheus sends a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;
/// A request must have arrived, and its answer been taken, within this long each.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long, and how much, is read away after an answer before closing.
const LINGER: Duration = Duration::from_secs(1);
const MAX_LINGER_BYTES: usize = 64 * 1024;
/// Scrapes answered at once.
const MAX_CONNECTIONS: usize = 16;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a request asks for, or the status that refuses it.
#[derive(Debug, PartialEq, Eq)]
enum Asked {
    Metrics { head_only: bool },
    Refused(u16, &'static str),
}

pub async fn serve(listener: TcpListener, ctx: Arc<Context>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    answer(stream, &ctx).await;
                    drop(permit);
                });
            }
            Err(err) => {
                tracing::warn!(error = %err, "metrics: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(mut stream: TcpStream, ctx: &Context) {
    let asked = match tokio::time::timeout(IO_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(_)) => return,
        Err(_) => Asked::Refused(408, "Request Timeout"),
    };
    let response = match asked {
        Asked::Metrics { head_only } => {
            let body = render(ctx);
            let mut response = head(200, "OK", CONTENT_TYPE, body.len());
            if !head_only {
                response.push_str(&body);
            }
            response
        }
        Asked::Refused(code, reason) => {
            let body = format!("{code} {reason}\n");
            head(code, reason, "text/plain; charset=utf-8", body.len()) + &body
        }
    };
    // A client that does not take its answer in time is dropped; there is nobody to tell.
    let _ = tokio::time::timeout(IO_TIMEOUT, async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    // What the client still sends (a head too large) is read away before closing, so that the
    // close does not reset the connection and lose the answer on its way.
    let _ = tokio::time::timeout(LINGER, async {
        let mut sink = [0u8; 4096];
        let mut left = MAX_LINGER_BYTES;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

fn head(code: u16, reason: &str, content_type: &str, length: usize) -> String {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
}

/// Reads the request head (up to the blank line; a body is never read) and says what it
/// asks for. An I/O error means the client is gone.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Asked> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        if let Some(end) = head_end(&head) {
            return Ok(parse(&head[..end]));
        }
        if head.len() >= MAX_HEAD {
            return Ok(Asked::Refused(431, "Request Header Fields Too Large"));
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(Asked::Refused(400, "Bad Request"));
        }
        head.extend_from_slice(&buf[..n]);
    }
}

/// Where the head ends (before its blank line), if it has.
fn head_end(data: &[u8]) -> Option<usize> {
    let crlf = data.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = data.windows(2).position(|w| w == b"\n\n");
    crlf.into_iter().chain(lf).min()
}

/// Looks at the request line: `METHOD TARGET HTTP/1.x`.
fn parse(head: &[u8]) -> Asked {
    let bad = Asked::Refused(400, "Bad Request");
    let Ok(head) = std::str::from_utf8(head) else {
        return bad;
    };
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return bad;
    };
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") || !target.starts_with('/') {
        return bad;
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if path != "/metrics" {
        return Asked::Refused(404, "Not Found");
    }
    match method {
        "GET" => Asked::Metrics { head_only: false },
        "HEAD" => Asked::Metrics { head_only: true },
        _ => Asked::Refused(405, "Method Not Allowed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_and_head_of_metrics_are_answered() {
        let get = Asked::Metrics { head_only: false };
        assert_eq!(
            parse(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*"),
            get
        );
        assert_eq!(parse(b"GET /metrics?name[]=up HTTP/1.0"), get);
        assert_eq!(
            parse(b"HEAD /metrics HTTP/1.1"),
            Asked::Metrics { head_only: true }
        );
        assert_eq!(parse(b"GET / HTTP/1.1"), Asked::Refused(404, "Not Found"));
        assert_eq!(
            parse(b"POST /metrics HTTP/1.1"),
            Asked::Refused(405, "Method Not Allowed")
        );
        for bad in [
            &b"GET /metrics"[..],
            b"GET /metrics HTTP/2.0",
            b"GET  /metrics HTTP/1.1",
            b"GET metrics HTTP/1.1",
            b"\xff\xfe",
            b"",
        ] {
            assert_eq!(parse(bad), Asked::Refused(400, "Bad Request"), "{bad:?}");
        }
    }

    #[test]
    fn a_head_ends_at_its_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"), Some(20));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(14));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }
}
