//! Watching msbd: `events` (and `--follow`), `metrics`, and `status --watch`.

use crate::output::{Failure, Out};
use crate::{exit, render};
use msb_proto::{Client, EventFrame, EventsRequest};
use serde::Serialize;
use std::io::IsTerminal;
use std::time::{Duration, SystemTime};

/// The `--json` line that says a follower missed events.
#[derive(Serialize)]
struct Missed {
    missed: u64,
}

/// Prints the recent events, and with `follow` each new one, one line each.
pub async fn events(client: &mut Client, follow: bool, out: &Out) -> Result<u8, Failure> {
    let mut stream = client.events(EventsRequest { follow }).await?;
    while let Some(frame) = stream.next().await? {
        let line = match (&frame, out.json) {
            (EventFrame::Event(event), true) => json(event)?,
            (EventFrame::Missed(missed), true) => json(&Missed { missed: *missed })?,
            (EventFrame::Event(event), false) => render::event(event),
            (EventFrame::Missed(missed), false) => render::missed(*missed, SystemTime::now()),
        };
        out.line(&line)?;
    }
    Ok(exit::OK)
}

fn json<T: Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| Failure::Local(e.to_string()))
}

/// Prints the exposition as msbd wrote it (with `--json`, as one JSON string).
pub async fn metrics(client: &mut Client, out: &Out) -> Result<u8, Failure> {
    let text = client.metrics().await?;
    if out.json {
        out.line(&json(&text)?)?;
    } else {
        out.raw(text.as_bytes())?;
    }
    Ok(exit::OK)
}

/// Clears a terminal and puts the cursor home, so each snapshot is drawn in place.
const REDRAW: &str = "\x1b[H\x1b[2J";

/// Shows `status` every `interval` until interrupted: drawn in place on a terminal, else one
/// snapshot after the other (with `--json`, one document per line). Each answer must come
/// within `--timeout`, as for a single `status`.
pub async fn watch_status(
    client: &mut Client,
    task: Option<String>,
    interval: Duration,
    limit: Duration,
    out: &Out,
) -> Result<u8, Failure> {
    let terminal = std::io::stdout().is_terminal();
    loop {
        let report = tokio::time::timeout(limit, client.status(task.clone()))
            .await
            .map_err(|_| Failure::TimedOut { after: limit })??;
        if out.json {
            out.line(&json(&report)?)?;
        } else {
            let title = format!(
                "every {}, at {}",
                msb_proto::units::format_duration(interval),
                render::local_time(SystemTime::now())
            );
            let page = format!(
                "{title}\n\n{}\n",
                render::status(&report, out.paint).trim_end()
            );
            if terminal {
                out.raw(format!("{REDRAW}{page}").as_bytes())?;
            } else {
                out.line(&page)?;
            }
        }
        tokio::time::sleep(interval).await;
    }
}
