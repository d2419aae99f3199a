//! Drives a command running in a sandbox to its end: feeds its stdin from the request or
//! the client's `Input` frames, pumps stdout and stderr where they go, and kills its tree
//! on a timeout, a cancel, a client that went away, or input or output over a limit.
//!
//! Output is read only as fast as it can be passed on: a client that reads slowly slows its
//! own command (the pipe fills and the command waits), never the daemon or anyone else.

use crate::backend::{BackendError, Ended, Running};
use crate::reply::{Inbox, Reply};
use msb_proto::{ExecOutput, Input, OutputStream, Response};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Output is passed on in chunks of at most this size, well under the frame limit.
pub const CHUNK: usize = 32 * 1024;
/// Once the command has ended, output still coming (from processes it left in the
/// background holding its pipes) is waited for only this long between reads.
const DRAIN_GRACE: Duration = Duration::from_millis(200);
/// Stdin chunks queued for the command before the client's frames wait.
const STDIN_QUEUE: usize = 4;

/// Where one output stream goes.
#[derive(Debug, Clone, Copy)]
pub enum Sink {
    /// Sent as it comes; over `limit` bytes (when given) the command is killed.
    Send { limit: Option<u64> },
    /// Kept up to this many bytes; the rest is counted and dropped.
    Keep(u64),
}

/// What feeds the command's stdin.
pub enum Feed {
    /// No stdin (or end-of-file at once).
    Nothing,
    /// These bytes, then end-of-file.
    Bytes(Vec<u8>),
    /// The client's `Input::Data` frames, up to `limit` bytes when given, until `Input::End`.
    Client { limit: Option<u64> },
}

/// Why a command was killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Killed {
    TimedOut,
    Cancelled,
    TooLarge,
}

/// How a driven command ended, and what it left to report.
#[derive(Debug)]
pub struct Outcome {
    pub ended: Ended,
    pub killed: Option<Killed>,
    pub duration: Duration,
    /// What `Sink::Keep` streams kept: stdout, stderr.
    pub kept: [Vec<u8>; 2],
    pub dropped: u64,
    /// Bytes that went in on stdin and out on stdout.
    pub bytes_in: u64,
    pub bytes_out: u64,
}

pub struct Drive<'a> {
    pub reply: &'a Reply,
    pub timeout: Option<Duration>,
    pub feed: Feed,
    pub stdout: Sink,
    pub stderr: Sink,
}

impl Drive<'_> {
    pub async fn run(self, running: Running, inbox: Inbox<'_>) -> Result<Outcome, BackendError> {
        let started = Instant::now();
        let Running {
            stdin,
            stdout,
            stderr,
            mut process,
        } = running;
        let (kill_tx, mut kill_rx) = watch::channel(None::<Killed>);
        let (ended_tx, ended_rx) = watch::channel(false);
        let bytes_in = AtomicU64::new(0);
        let reply = self.reply;
        let wait = async {
            let first = tokio::select! {
                ended = process.wait() => Ok(ended),
                () = sleep_for(self.timeout) => Err(Some(Killed::TimedOut)),
                _ = kill_rx.wait_for(Option::is_some) => Err(None),
                () = reply.closed() => Err(Some(Killed::Cancelled)),
            };
            let ended = match first {
                Ok(ended) => ended,
                Err(why) => {
                    if let Some(why) = why {
                        note(&kill_tx, why);
                    }
                    process.kill();
                    process.wait().await
                }
            };
            ended_tx.send_replace(true);
            ended
        };
        let out = pump(
            stdout,
            OutputStream::Stdout,
            self.stdout,
            reply,
            ended_rx.clone(),
            &kill_tx,
        );
        let err = pump(
            stderr,
            OutputStream::Stderr,
            self.stderr,
            reply,
            ended_rx,
            &kill_tx,
        );
        let feed = feed(self.feed, stdin, inbox, &kill_tx, &bytes_in);
        let (ended, out, err) = tokio::select! {
            done = async { tokio::join!(wait, out, err) } => done,
            never = feed => match never {},
        };
        let killed = *kill_tx.borrow();
        Ok(Outcome {
            ended: ended?,
            killed,
            duration: started.elapsed(),
            dropped: out.dropped + err.dropped,
            bytes_out: out.seen,
            kept: [out.kept, err.kept],
            bytes_in: bytes_in.load(Ordering::Relaxed),
        })
    }
}

/// Records why the command is killed; the first reason stands.
fn note(kill: &watch::Sender<Option<Killed>>, why: Killed) {
    kill.send_if_modified(|killed| {
        let first = killed.is_none();
        if first {
            *killed = Some(why);
        }
        first
    });
}

async fn sleep_for(timeout: Option<Duration>) {
    match timeout {
        Some(timeout) => tokio::time::sleep(timeout).await,
        None => std::future::pending().await,
    }
}

#[derive(Debug, Default)]
struct Pumped {
    kept: Vec<u8>,
    dropped: u64,
    /// Every byte read, sent or not.
    seen: u64,
}

/// Reads one output stream to its end (or until the command has ended and nothing more
/// comes for a moment) and passes it on as `sink` says.
async fn pump(
    mut pipe: Pin<Box<dyn AsyncRead + Send>>,
    stream: OutputStream,
    sink: Sink,
    reply: &Reply,
    mut ended: watch::Receiver<bool>,
    kill: &watch::Sender<Option<Killed>>,
) -> Pumped {
    let mut pumped = Pumped::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let read = if *ended.borrow() {
            match tokio::time::timeout(DRAIN_GRACE, pipe.read(&mut buf)).await {
                Ok(read) => read,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                read = pipe.read(&mut buf) => read,
                _ = ended.changed() => continue,
            }
        };
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pumped.seen += n as u64;
        match sink {
            Sink::Send { limit } => {
                if limit.is_some_and(|limit| pumped.seen > limit) {
                    note(kill, Killed::TooLarge);
                    break;
                }
                let chunk = ExecOutput {
                    stream,
                    data: buf[..n].to_vec(),
                };
                if reply.send(Response::ExecOutput(chunk)).await.is_err() {
                    break;
                }
            }
            Sink::Keep(cap) => {
                let room = cap.saturating_sub(pumped.kept.len() as u64) as usize;
                let take = room.min(n);
                pumped.kept.extend_from_slice(&buf[..take]);
                pumped.dropped += (n - take) as u64;
            }
        }
    }
    pumped
}

/// Feeds stdin and watches the client's frames for a cancel or its going away; never
/// returns (the command's end ends it). Counts what the client sent in `total`.
async fn feed(
    feed: Feed,
    stdin: Option<Pin<Box<dyn tokio::io::AsyncWrite + Send>>>,
    mut inbox: Inbox<'_>,
    kill: &watch::Sender<Option<Killed>>,
    total: &AtomicU64,
) -> Infallible {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(STDIN_QUEUE);
    let writer = async move {
        if let Some(mut stdin) = stdin {
            while let Some(chunk) = rx.recv().await {
                if stdin.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            // Dropping the pipe is the command's end-of-file.
        }
        std::future::pending::<Infallible>().await
    };
    let reader = async move {
        let mut tx = Some(tx);
        let limit = match feed {
            Feed::Nothing => {
                tx = None;
                None
            }
            Feed::Bytes(bytes) => {
                if let Some(sender) = tx.take() {
                    let _ = sender.send(bytes).await;
                }
                None
            }
            Feed::Client { limit } => limit,
        };
        loop {
            match inbox.input().await {
                Some(Input::Data(data)) => {
                    let sent = total.fetch_add(data.len() as u64, Ordering::Relaxed);
                    if limit.is_some_and(|limit| sent + data.len() as u64 > limit) {
                        note(kill, Killed::TooLarge);
                        tx = None;
                        continue;
                    }
                    if let Some(sender) = &tx {
                        if sender.send(data).await.is_err() {
                            tx = None;
                        }
                    }
                }
                Some(Input::End) => tx = None,
                Some(Input::Cancel) | None => {
                    note(kill, Killed::Cancelled);
                    drop(tx);
                    return std::future::pending::<Infallible>().await;
                }
            }
        }
    };
    tokio::select! {
        never = writer => never,
        never = reader => never,
    }
}
