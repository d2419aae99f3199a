//! Knowing when a sandbox has ended, without polling and without a task for each: every
//! sandbox's pidfd sits in one epoll set, which one task waits on for them all (thousands of
//! sandboxes wait at once, and a task, a tokio registration and a channel each cost more than
//! the sandbox's own entry). A sandbox we started is our child and is reaped here; one we
//! adopted gets a pidfd of its own. Only a sandbox whose first process is already gone while
//! others live on is watched by looking at /proc.

use super::records::Records;
use crate::backend::log::Ending;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// How often a sandbox the set cannot hold is looked at.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// Ends taken from the set in one go.
const BATCH: usize = 64;

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

/// A sandbox's first process, waited for: its pidfd (none for a child of ours the kernel
/// gave none) and, when it is our child (rather than one adopted from a previous daemon),
/// the child to reap.
#[derive(Debug)]
pub(super) struct Watch {
    pub name: String,
    pidfd: Option<OwnedFd>,
    child: Option<Child>,
}

impl Watch {
    pub fn child(name: &str, child: Child) -> Self {
        Self {
            name: name.to_string(),
            // Nothing reaps it before us, so its pid cannot be reused under the pidfd.
            pidfd: pidfd_open(child.id()).ok(),
            child: Some(child),
        }
    }

    pub fn adopted(name: &str, pidfd: OwnedFd) -> Self {
        Self {
            name: name.to_string(),
            pidfd: Some(pidfd),
            child: None,
        }
    }

    /// Whether it has ended, without waiting.
    fn ended_now(&mut self) -> bool {
        if let Some(child) = &mut self.child {
            return !matches!(child.try_wait(), Ok(None));
        }
        let Some(pidfd) = &self.pidfd else {
            return true;
        };
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        !matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(0))
    }

    /// How it ended; reaps our child, which has ended.
    fn end(mut self) -> End {
        let Some(child) = &mut self.child else {
            return String::from("exited").into();
        };
        match child.wait() {
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
}

/// The epoll set as tokio polls it: readable while any pidfd in it is.
struct Set(Epoll);

impl AsRawFd for Set {
    fn as_raw_fd(&self) -> RawFd {
        self.0 .0.as_raw_fd()
    }
}

/// Every watched pidfd, in one epoll set.
pub(super) struct Reaper {
    set: AsyncFd<Set>,
    /// By pidfd number: a number is not reused before its watch leaves, since the pidfd
    /// closes only then.
    watches: Mutex<HashMap<RawFd, Watch>>,
}

impl Reaper {
    pub fn new() -> std::io::Result<Self> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        // SAFETY: the set owns its descriptor for as long as the AsyncFd owns the set.
        let set = unsafe { AsyncFd::register_with_interest(Set(epoll), Interest::READABLE)? };
        Ok(Self {
            set,
            watches: Mutex::new(HashMap::new()),
        })
    }

    fn watches(&self) -> MutexGuard<'_, HashMap<RawFd, Watch>> {
        self.watches.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `watch` in the set; gives it back when the set cannot take it (no pidfd, or no
    /// room for one more), to be polled instead.
    pub fn add(&self, watch: Watch) -> Result<(), Watch> {
        let Some(fd) = watch.pidfd.as_ref().map(|fd| fd.as_raw_fd()) else {
            return Err(watch);
        };
        let mut watches = self.watches();
        let event = EpollEvent::new(EpollFlags::EPOLLIN, fd as u64);
        // Added under the lock: an end cannot be taken before its watch is in the table.
        match watch
            .pidfd
            .as_ref()
            .map(|pidfd| self.set.get_ref().0.add(pidfd, event))
        {
            Some(Ok(())) => {
                watches.insert(fd, watch);
                Ok(())
            }
            _ => Err(watch),
        }
    }

    /// Takes ends from the set as they come, for as long as msbd runs: `ended` is told of
    /// each with the sandbox's name.
    pub async fn run(&self, ended: impl Fn(String, End)) {
        let mut events = vec![EpollEvent::empty(); BATCH];
        loop {
            let mut ready = match self.set.readable().await {
                Ok(ready) => ready,
                Err(err) => {
                    tracing::error!(error = %err, "cannot wait for sandboxes to end");
                    return;
                }
            };
            let taken = match self.set.get_ref().0.wait(&mut events, EpollTimeout::ZERO) {
                Ok(taken) => taken,
                Err(Errno::EINTR) => continue,
                Err(err) => {
                    tracing::error!(error = %err, "cannot wait for sandboxes to end");
                    return;
                }
            };
            if taken == 0 {
                // Cleared only once the set is found empty, so no end is left behind.
                ready.clear_ready();
                continue;
            }
            for event in &events[..taken] {
                let Some(watch) = self.watches().remove(&(event.data() as RawFd)) else {
                    continue;
                };
                if let Some(pidfd) = &watch.pidfd {
                    let _ = self.set.get_ref().0.delete(pidfd);
                }
                let name = watch.name.clone();
                ended(name, watch.end());
            }
        }
    }
}

/// Waits for `watch` by looking now and then: for a leader the set cannot hold.
pub(super) async fn polled(mut watch: Watch) -> End {
    while !watch.ended_now() {
        tokio::time::sleep(POLL_EVERY).await;
    }
    watch.end()
}

/// Waits until none of the marked members of group `pgrp` is left.
pub(super) async fn members_gone(pgrp: i32, name: &str, records: &std::sync::Arc<Records>) -> End {
    loop {
        let records = records.clone();
        let name = name.to_string();
        let left = tokio::task::spawn_blocking(move || records.members(pgrp, &name).len())
            .await
            .unwrap_or(0);
        if left == 0 {
            return String::from("its last process exited").into();
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
