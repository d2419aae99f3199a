//! `wait`: returns once msbd is ready, for scripts that start msbd and use it at once
//! (`msbd & msbctl wait && msbctl status`). Ready means msbd answers and each task has run
//! its first cycle (a task paused since start-up counts as ready: it runs none).

use super::connect;
use crate::exit;
use crate::output::{Failure, Out};
use crate::target::Target;
use msb_proto::{ClientError, StatusReport, TaskState, Welcome};
use serde::Serialize;
use std::time::Duration;
use tokio::time::{sleep, timeout_at, Instant};

/// The first pause between tries; it doubles up to `MAX_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const MAX_PAUSE: Duration = Duration::from_millis(500);

#[derive(Serialize)]
struct Ready {
    socket: String,
    waited_ms: u64,
    daemon: Welcome,
}

pub async fn wait(target: &Target, limit: Duration, out: &Out) -> Result<u8, Failure> {
    let started = Instant::now();
    let deadline = started + limit;
    let mut pause = FIRST_PAUSE;
    let mut client = None;
    let mut why = String::from("no answer yet");
    loop {
        let attempt = async {
            let mut fresh = match client.take() {
                Some(client) => client,
                None => connect(target).await?,
            };
            let status = fresh.status(None).await?;
            Ok::<_, Failure>((fresh, status))
        };
        match timeout_at(deadline, attempt).await {
            Ok(Ok((mut fresh, status))) => match not_run_yet(&status) {
                None => {
                    let ready = Ready {
                        socket: target.to_string(),
                        waited_ms: started.elapsed().as_millis() as u64,
                        daemon: fresh.daemon().await?,
                    };
                    out.show(&ready, |r| {
                        format!(
                            "msbd {} (pid {}) is ready at {}",
                            r.daemon.version, r.daemon.pid, r.socket
                        )
                    })?;
                    return Ok(exit::OK);
                }
                Some(pending) => {
                    why = pending;
                    client = Some(fresh);
                }
            },
            // Not up yet, or going away: try again on a new connection.
            Ok(Err(Failure::Unreachable { error }))
            | Ok(Err(Failure::Client(error @ (ClientError::Closed | ClientError::Frame(_))))) => {
                why = error.to_string();
            }
            // Refused, or another protocol: waiting would not change it.
            Ok(Err(failure)) => return Err(failure),
            Err(_) => break,
        }
        let now = Instant::now();
        if now + pause >= deadline {
            break;
        }
        sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
    Err(Failure::NotReady { after: limit, why })
}

/// What keeps msbd from being ready, if anything: the tasks whose first cycle has not run.
fn not_run_yet(status: &StatusReport) -> Option<String> {
    let pending: Vec<&str> = status
        .tasks
        .iter()
        .filter(|t| t.last_cycle.is_none() && t.state != TaskState::Paused)
        .map(|t| t.name.as_str())
        .collect();
    (!pending.is_empty()).then(|| format!("first cycle not run yet: {}", pending.join(", ")))
}
