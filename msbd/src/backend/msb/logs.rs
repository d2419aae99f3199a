//! A sandbox's log, as msb keeps it: what its programs wrote on stdout and stderr (msb's
//! `stdout`, `stderr` and `output` sources; not its own `system` lines), read with `msb logs
//! NAME --json`, one JSON object an entry, the text in `d` (base64 when `e` is `b64`).
//!
//! A follower starts `msb logs NAME --json --follow` once it is first read and skips the
//! entries the snapshot already gave, which msb prints again first. When a sandbox ends by
//! itself its log is kept in msbd's state dir (msb's copy goes with the sandbox), for its
//! ended session to show.

use super::runner::{MsbFailure, Runner};
use crate::backend::log::{Follow, LIMIT};
use base64::Engine;
use serde::Deserialize;
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::sync::Arc;

/// `msb logs` for sandbox `name`, as JSON lines.
pub fn args(name: &str, follow: bool) -> Vec<String> {
    let mut args = vec!["logs".to_string(), name.to_string(), "--json".to_string()];
    if follow {
        args.push("--follow".into());
    }
    args
}

/// One entry of `msb logs --json`.
#[derive(Debug, Deserialize)]
struct Entry {
    /// Source: `stdout`, `stderr`, `output` (a pty's), `system` (msb's own).
    s: String,
    d: String,
    /// `b64` when `d` is base64.
    #[serde(default)]
    e: Option<String>,
}

/// The bytes one line of `msb logs --json` carries, empty for msb's own lines; `None` for
/// a line that is no entry.
fn decode(line: &str) -> Option<Vec<u8>> {
    let entry: Entry = serde_json::from_str(line).ok()?;
    if entry.s == "system" {
        return Some(Vec::new());
    }
    match entry.e.as_deref() {
        Some("b64") => base64::engine::general_purpose::STANDARD
            .decode(entry.d.as_bytes())
            .ok(),
        _ => Some(entry.d.into_bytes()),
    }
}

/// What a snapshot of the log holds: its last `LIMIT` bytes, and how many entries it had.
pub fn read(stdout: &[u8]) -> (Vec<u8>, usize) {
    let text = String::from_utf8_lossy(stdout);
    let mut kept = Vec::new();
    let mut entries = 0;
    for data in text.lines().filter_map(decode) {
        entries += 1;
        kept.extend_from_slice(&data);
    }
    if kept.len() > LIMIT {
        kept.drain(..kept.len() - LIMIT);
    }
    (kept, entries)
}

/// Reads a snapshot of sandbox `name`'s log: what is kept, and how many entries it had.
pub async fn snapshot(runner: &Runner, name: &str) -> Result<(Vec<u8>, usize), MsbFailure> {
    let answer = runner.run(&args(name, false)).await?;
    Ok(read(&answer.stdout))
}

/// Follows a sandbox's log past a snapshot of `seen` entries.
pub struct Follower {
    runner: Arc<Runner>,
    name: String,
    seen: usize,
    started: Option<Started>,
    /// Read from the channel but not yet taken (over `max`).
    pending: Vec<u8>,
}

struct Started {
    child: std::process::Child,
    data: mpsc::Receiver<Vec<u8>>,
}

impl Follower {
    pub fn new(runner: Arc<Runner>, name: &str, seen: usize) -> Self {
        Self {
            runner,
            name: name.to_string(),
            seen,
            started: None,
            pending: Vec::new(),
        }
    }

    /// Starts `msb logs --follow`, with a thread that passes on each entry past the first
    /// `seen`.
    fn start(&self) -> std::io::Result<Started> {
        let mut child = self
            .runner
            .blocking_command(&args(&self.name, true))
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("msb logs without its stdout"))?;
        let (tx, data) = mpsc::channel();
        let skip = self.seen;
        std::thread::spawn(move || {
            let entries = BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| decode(&line));
            for entry in entries.skip(skip) {
                if !entry.is_empty() && tx.send(entry).is_err() {
                    return;
                }
            }
        });
        Ok(Started { child, data })
    }
}

impl Follow for Follower {
    fn next(&mut self, max: usize) -> std::io::Result<Vec<u8>> {
        if self.started.is_none() {
            self.started = Some(self.start()?);
        }
        if let Some(started) = &self.started {
            while self.pending.len() < max {
                match started.data.try_recv() {
                    Ok(data) => self.pending.extend_from_slice(&data),
                    Err(_) => break,
                }
            }
        }
        let take = self.pending.len().min(max);
        Ok(self.pending.drain(..take).collect())
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Some(started) = &mut self.started {
            let _ = started.child.kill();
            let _ = started.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::msb::fixture;

    #[test]
    fn programs_output_is_decoded_and_msbs_own_lines_left_out() {
        let (kept, entries) = read(&fixture("logs-output.jsonl"));
        assert_eq!(kept, b"first line\nto stderr\nnot UTF-8: \xff\n");
        assert_eq!(entries, 3);
        let (kept, entries) = read(&fixture("logs-system.jsonl"));
        assert!(kept.is_empty(), "{}", String::from_utf8_lossy(&kept));
        assert_eq!(
            entries, 7,
            "msb's own lines count: a follower skips them as well"
        );
        assert_eq!(read(b"not json\n"), (Vec::new(), 0));
        assert_eq!(args("a", true), ["logs", "a", "--json", "--follow"]);
    }
}
