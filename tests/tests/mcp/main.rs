//! msb-mcp, driven as agents drive it: by the official MCP Python SDK (tests/mcp/agent.py,
//! one scenario per test) over stdio and streamable HTTP, and by rmcp's own client, against
//! a real msbd.

mod agent;
mod http;
mod rmcp_client;

use msb_tests::{bin, wait_until, Daemon, Run};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The virtualenv's python with the MCP SDK, installed on first use (as CI does up front);
/// `Err` says why there is none on this host.
fn python() -> Result<&'static Path, &'static str> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let target = bin("msbd")
                .parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .ok_or("no target directory")?;
            let venv = target.join("mcp-venv");
            let setup = Command::new("bash")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp/venv.sh"))
                .arg(&venv)
                .output()
                .map_err(|e| format!("cannot run tests/mcp/venv.sh: {e}"))?;
            if !setup.status.success() {
                return Err(format!(
                    "cannot install the MCP Python SDK into {} (python3 -m venv, pip install \
                     mcp): {}",
                    venv.display(),
                    String::from_utf8_lossy(&setup.stderr).trim()
                ));
            }
            Ok(venv.join("bin").join("python"))
        })
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(String::as_str)
}

/// Runs `scenario` of agent.py against `socket`: over stdio with msb-mcp started with
/// `server_args`, or over HTTP at `url`. `None` (with the reason printed) where this host
/// cannot have the SDK.
fn scenario(scenario: &str, socket: &Path, via: Via<'_>) -> Option<Run> {
    let python = match python() {
        Ok(python) => python,
        Err(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    let mut cmd = Command::new(python);
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp/agent.py"))
        .arg(scenario)
        .arg("--socket")
        .arg(socket);
    match via {
        Via::Stdio(args) => {
            cmd.arg("--mcp").arg(bin("msb-mcp")).arg("--").args(args);
        }
        Via::Http { url, token } => {
            cmd.arg("--url").arg(url);
            if let Some(token) = token {
                cmd.arg("--token").arg(token);
            }
        }
    }
    let output = cmd
        .env_remove("MSB_SOCKET")
        .stdin(Stdio::null())
        .output()
        .expect("run agent.py");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    Some(run)
}

enum Via<'a> {
    Stdio(&'a [&'a str]),
    Http {
        url: &'a str,
        token: Option<&'a str>,
    },
}

/// Asserts that a scenario ran and every check of it held.
fn passed(run: Option<Run>, name: &str, daemon: &Daemon) {
    let Some(run) = run else { return };
    assert!(
        run.code == 0 && run.stdout.contains(&format!("ok {name}")),
        "scenario {name} failed ({}):\n{}\n{}\nmsbd's log:\n{}",
        run.code,
        run.stdout,
        run.stderr,
        daemon.log()
    );
}

/// msb-mcp serving over HTTP; killed when dropped.
struct HttpServer {
    child: Child,
    pub url: String,
}

impl HttpServer {
    /// Starts `msb-mcp --http 127.0.0.1:0 ARGS` and waits for the address it serves.
    fn start(daemon: &Daemon, args: &[&str]) -> Self {
        let log = daemon.dir.path().join("msb-mcp.log");
        let child = Command::new(bin("msb-mcp"))
            .arg("--socket")
            .arg(&daemon.socket)
            .args(["--http", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn msb-mcp");
        let url = wait_until("msb-mcp to say where it serves", || {
            let text = std::fs::read_to_string(&log).ok()?;
            let at = text.find("serving MCP at ")? + "serving MCP at ".len();
            let url = text[at..].split_whitespace().next()?;
            Some(url.to_string())
        });
        Self { child, url }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
