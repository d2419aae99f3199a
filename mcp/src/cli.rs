//! msb-mcp's command line.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// An MCP server that gives AI agents sandbox sessions of msbd: code and commands run in
/// msbd's sandboxes, with every guarantee msbd gives (expiry, busy protection, eviction,
/// orphan reaping, live restore, isolation).
#[derive(Debug, Parser)]
#[command(name = "msb-mcp", version, about)]
pub struct Args {
    /// Socket of msbd [default: /run/msbd/msbd.sock for root, else the user runtime dir]
    #[arg(long, env = "MSB_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Serve MCP over streamable HTTP at this address instead of stdio
    #[arg(long, value_name = "ADDR:PORT")]
    pub http: Option<SocketAddr>,

    /// File holding the bearer token every HTTP request must carry (`Authorization: Bearer
    /// TOKEN`); required for an address other than loopback
    #[arg(long, value_name = "PATH", requires = "http")]
    pub token_file: Option<PathBuf>,

    /// Also offer the operator's tools: status, health, pause_tasks, resume_tasks,
    /// restart_tasks
    #[arg(long)]
    pub operator_tools: bool,

    /// Let every MCP client see and use every session msbd shows this server, not only the
    /// ones it created
    #[arg(long)]
    pub share_sessions: bool,

    /// Time limit of a command when the call names none
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = duration)]
    pub exec_timeout: Duration,

    /// Output kept of each stream of a command; the rest is dropped and the result says
    /// `truncated`
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_output: usize,

    /// Largest file `read_file` returns
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_read: u64,
}

fn duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be longer than 0s".into()),
        Err(e) => Err(format!("{e} (e.g. 30s, 5m)")),
    }
}
