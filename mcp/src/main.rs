//! msb-mcp: an MCP server that gives AI agents sandbox sessions of msbd, over stdio or
//! streamable HTTP. It is a thin client of msbd: every session, limit and guarantee is
//! msbd's.

mod cli;
mod failure;
mod http;
mod identity;
mod server;
mod tools;

use clap::Parser;
use identity::Owners;
use msb_proto::{paths, Endpoint};
use rmcp::ServiceExt;
use server::{Limits, Server, Shared};
use std::process::ExitCode;
use std::sync::Arc;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// A setting that cannot work (as sysexits' EX_CONFIG, and as msbd says it).
const EXIT_CONFIG: u8 = 78;

enum Fatal {
    Config(String),
    Failed(String),
}

fn main() -> ExitCode {
    let args = cli::Args::parse();
    // stdout is the MCP transport over stdio: logs go to stderr only. rmcp's own notes
    // (each handshake, each closed stream) only when they are warnings.
    let filter = Targets::new()
        .with_default(Level::INFO)
        .with_target("rmcp", Level::WARN);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .with(filter)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("msb-mcp: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fatal::Config(message)) => {
            eprintln!("msb-mcp: {message}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(Fatal::Failed(message)) => {
            eprintln!("msb-mcp: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: cli::Args) -> Result<(), Fatal> {
    let socket = args.socket.unwrap_or_else(paths::default_socket);
    let owners = match (args.share_sessions, args.http) {
        (true, _) => Owners::Shared,
        (false, None) => Owners::this_connection(),
        (false, Some(_)) => Owners::ClientName,
    };
    let shared = Arc::new(Shared {
        endpoint: Endpoint::Socket(socket.clone()),
        owners,
        limits: Limits {
            exec_timeout: args.exec_timeout,
            max_output: args.max_output,
            max_read: args.max_read,
        },
        operator_tools: args.operator_tools,
    });
    let Some(addr) = args.http else {
        tracing::info!("serving MCP on stdio for msbd at {}", socket.display());
        let service = Server::new(shared)
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| Fatal::Failed(format!("the MCP client did not start a session: {e}")))?;
        tokio::select! {
            ended = service.waiting() => {
                ended.map_err(|e| Fatal::Failed(format!("the MCP session failed: {e}")))?;
            }
            () = terminated() => {}
        }
        return Ok(());
    };
    let token = match &args.token_file {
        Some(path) => Some(read_token(path)?),
        None if http::needs_token(&addr) => {
            return Err(Fatal::Config(format!(
                "--http {addr} is not a loopback address: give --token-file so that only \
                 holders of the token can run code (or serve on 127.0.0.1)"
            )))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Fatal::Failed(format!("cannot listen on --http {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Fatal::Failed(e.to_string()))?;
    // Scripts and tests read this line to find a port chosen by the system (`:0`).
    tracing::info!(
        "serving MCP at http://{bound}/mcp for msbd at {}",
        socket.display()
    );
    http::serve(listener, token, shared, terminated()).await;
    Ok(())
}

fn read_token(path: &std::path::Path) -> Result<String, Fatal> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fatal::Config(format!("cannot read --token-file {}: {e}", path.display())))?;
    let token = text.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(Fatal::Config(format!(
            "--token-file {} must hold one token: a single word, not empty",
            path.display()
        )));
    }
    Ok(token.to_string())
}

/// SIGTERM or SIGINT.
async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
