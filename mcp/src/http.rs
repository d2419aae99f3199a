//! Streamable HTTP: rmcp's service behind hyper, each request first checked for the bearer
//! token when there is one. An address other than loopback is only served with a token.

use crate::server::{Server, Shared};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, Infallible>;

/// Serves until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    token: Option<String>,
    shared: Arc<Shared>,
    stop: impl std::future::Future<Output = ()>,
) {
    let local = listener.local_addr().ok();
    let mut config = StreamableHttpServerConfig::default();
    // Off loopback the token is the lock; the Host check guards loopback servers against
    // DNS rebinding and would only refuse the names a remote client uses.
    if !local.is_some_and(|a| a.ip().is_loopback()) {
        config = config.with_allowed_hosts(Vec::<String>::new());
    }
    let cancel = config.cancellation_token.clone();
    let mcp = Arc::new(StreamableHttpService::new(
        move || Ok(Server::new(shared.clone())),
        LocalSessionManager::default().into(),
        config,
    ));
    let token: Option<Arc<str>> = token.map(Into::into);
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("cannot accept a connection: {e}");
                    continue;
                }
            },
        };
        let (mcp, token) = (mcp.clone(), token.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let (mcp, token) = (mcp.clone(), token.clone());
                async move {
                    if !authorized(&request, token.as_deref()) {
                        return Ok::<_, Infallible>(unauthorized());
                    }
                    Ok(mcp.handle(request).await)
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!("HTTP connection ended: {e}");
            }
        });
    }
    cancel.cancel();
}

/// Whether `addr` may be served without a token.
pub fn needs_token(addr: &SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

fn authorized(request: &Request<Incoming>, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let given = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    given.is_some_and(|given| same(given.trim().as_bytes(), token.as_bytes()))
}

/// Compares in time that does not depend on where the two first differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized() -> Response<Body> {
    let body = Full::new(Bytes::from_static(
        b"a bearer token is required: Authorization: Bearer TOKEN (msb-mcp --token-file)\n",
    ));
    let mut response = Response::new(body.boxed());
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
        assert!(!same(b"", b"x"));
    }

    #[test]
    fn only_loopback_goes_without_a_token() {
        for (addr, needs) in [
            ("127.0.0.1:8775", false),
            ("[::1]:8775", false),
            ("0.0.0.0:8775", true),
            ("10.1.2.3:8775", true),
        ] {
            let addr: SocketAddr = addr.parse().expect("address");
            assert_eq!(needs_token(&addr), needs, "{addr}");
        }
    }
}
