//! Knowing when a sandbox has ended, without polling: a sandbox we started is our child, and
//! tokio waits for it through a pidfd; one we adopted gets a pidfd of its own. Only a sandbox
//! whose first process is already gone while others live on is watched by looking at /proc.

use super::records::Records;
use crate::backend::log::Ending;
use std::future::Future;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// How often a sandbox without a first process is looked for in /proc.
const LEADERLESS_POLL: Duration = Duration::from_millis(500);

/// What tells us a sandbox ended.
#[derive(Debug)]
pub(super) enum Leader {
    /// Our own child: waiting reaps it.
    Child(tokio::process::Child),
    /// Someone else's child (adopted from a previous daemon).
    Pidfd(OwnedFd),
    /// No first process any more: the group's marked members, looked for now and then.
    Gone { pgrp: i32, name: String },
}

/// A pidfd for `pid`, which refers to that very process from now on, even if the pid is
/// later reused.
pub(super) fn pidfd_open(pid: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// How a sandbox was seen to end.
#[derive(Debug)]
pub(super) struct End {
    /// In words, for the daemon's log.
    pub how: String,
    /// Its keeper's status, when it was our child.
    pub ending: Option<Ending>,
}

impl From<String> for End {
    fn from(how: String) -> Self {
        Self { how, ending: None }
    }
}

/// Resolves when the sandbox has ended; says how. Each kind of leader is waited for by a
/// future of its own size, boxed: thousands of these wait at once, and one future for every
/// kind would hold the leader twice and the largest kind's state for all.
pub(super) fn ended(
    leader: Leader,
    records: Arc<Records>,
) -> Pin<Box<dyn Future<Output = End> + Send>> {
    match leader {
        Leader::Child(child) => Box::pin(child_ended(child)),
        Leader::Pidfd(fd) => Box::pin(async move { End::from(pidfd_readable(fd).await) }),
        Leader::Gone { pgrp, name } => {
            Box::pin(async move { End::from(members_gone(pgrp, name, records).await) })
        }
    }
}

async fn child_ended(mut child: tokio::process::Child) -> End {
    match child.wait().await {
        Ok(status) => End {
            how: status.to_string(),
            ending: status
                .code()
                .map(Ending::Exited)
                .or(status.signal().map(Ending::Killed)),
        },
        Err(err) => format!("cannot wait for it: {err}").into(),
    }
}

async fn pidfd_readable(fd: OwnedFd) -> String {
    // SAFETY: the OwnedFd keeps its descriptor open for as long as the AsyncFd owns it.
    match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
        // A pidfd becomes readable when its process exits.
        Ok(fd) => match fd.readable().await {
            Ok(_) => "exited".into(),
            Err(err) => format!("cannot watch it: {err}"),
        },
        Err(err) => format!("cannot watch it: {err}"),
    }
}

async fn members_gone(pgrp: i32, name: String, records: Arc<Records>) -> String {
    loop {
        let records = records.clone();
        let name = name.clone();
        let left = tokio::task::spawn_blocking(move || records.members(pgrp, &name).len())
            .await
            .unwrap_or(0);
        if left == 0 {
            return "its last process exited".into();
        }
        tokio::time::sleep(LEADERLESS_POLL).await;
    }
}
