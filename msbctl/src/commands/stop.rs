//! `msbctl stop`: shows the shutdown's progress, waits until the daemon process is gone, and
//! prints the report. A shutdown that had to kill or failed exits 1.

use crate::output::{note, Failure, Out};
use crate::{exit, render};
use msb_proto::{Client, ShutdownRequest, StopOutcome};
use std::time::Duration;
use tokio::time::{sleep, Instant};

/// How long to wait for the process to disappear after it closed the connection.
const EXIT_WAIT: Duration = Duration::from_secs(10);

pub async fn stop(
    mut client: Client,
    timeout: Option<Duration>,
    keep_sandboxes: bool,
    out: &Out,
) -> Result<u8, Failure> {
    let json = out.json;
    let report = client
        .shutdown(
            ShutdownRequest {
                timeout_ms: timeout.map(|d| d.as_millis() as u64),
                keep_sandboxes,
            },
            |line| {
                if !json {
                    note(line);
                }
            },
        )
        .await?;
    // Known since the shutdown's answer: the handshake went with it.
    let pid = client.daemon().await?.pid;
    client.closed().await;
    if !wait_exit(pid).await {
        return Err(Failure::Local(format!(
            "msbd (pid {pid}) reported its shutdown but is still running after {}s",
            EXIT_WAIT.as_secs()
        )));
    }
    out.show(&report, render::stop_report)?;
    Ok(if report.outcome == StopOutcome::Clean {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// True once `pid` has exited: gone, or a zombie waiting for its parent with no thread left.
/// A zombie leader alone is not enough: the kernel keeps the first thread a zombie while the
/// process's other threads are still exiting.
fn exited(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
    };
    field("State:").is_some_and(|state| state.starts_with('Z'))
        && field("Threads:").is_some_and(|threads| threads == "1")
}

/// Waits until `pid` has exited; false if it still runs after `EXIT_WAIT`.
async fn wait_exit(pid: u32) -> bool {
    let deadline = Instant::now() + EXIT_WAIT;
    while !exited(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(10)).await;
    }
    true
}
