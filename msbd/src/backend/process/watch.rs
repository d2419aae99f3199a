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
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
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
/// its pid, to reap it. Kept small: thousands wait at once.
#[derive(Debug)]
pub(super) struct Watch {
    pub name: Arc<str>,
    pidfd: Option<OwnedFd>,
    child: Option<Pid>,
}

impl Watch {
    pub fn child(name: Arc<str>, pid: u32) -> Self {
        Self {
            name,
            // Nothing reaps it before us, so its pid cannot be reused under the pidfd.
            pidfd: pidfd_open(pid).ok(),
            child: Some(Pid::from_raw(pid as i32)),
        }
    }

    pub fn adopted(name: Arc<str>, pidfd: OwnedFd) -> Self {
        Self {
            name,
            pidfd: Some(pidfd),
            child: None,
        }
    }

    /// How it ended, if it has, without waiting: reaps our child once it has.
    fn try_end(&self) -> Option<End> {
        if let Some(child) = self.child {
            return match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => None,
                status => Some(ended_with(status)),
            };
        }
        let pidfd = self.pidfd.as_ref()?;
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::ZERO) {
            Ok(0) => None,
            _ => Some(String::from("exited").into()),
        }
    }

    /// How it ended; reaps our child, which has ended.
    fn end(self) -> End {
        match self.child {
            Some(child) => ended_with(waitpid(child, None)),
            None => String::from("exited").into(),
        }
    }
}

/// What reaping our child said of its end.
fn ended_with(status: nix::Result<WaitStatus>) -> End {
    match status {
        Ok(WaitStatus::Exited(_, code)) => End {
            how: format!("exit status: {code}"),
            ending: Some(Ending::Exited(code)),
        },
        Ok(WaitStatus::Signaled(_, signal, _)) => End {
            how: format!("signal: {signal}"),
            ending: Some(Ending::Killed(signal as i32)),
        },
        Ok(other) => format!("{other:?}").into(),
        Err(err) => format!("cannot wait for it: {err}").into(),
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
        let Some(pidfd) = &watch.pidfd else {
            return Err(watch);
        };
        let fd = pidfd.as_raw_fd();
        let mut watches = self.watches();
        // Added under the lock: an end cannot be taken before its watch is in the table.
        let event = EpollEvent::new(EpollFlags::EPOLLIN, fd as u64);
        if self.set.get_ref().0.add(pidfd, event).is_err() {
            return Err(watch);
        }
        watches.insert(fd, watch);
        Ok(())
    }

    /// Takes ends from the set as they come, for as long as msbd runs: `ended` is told of
    /// each with the sandbox's name.
    pub async fn run(&self, ended: impl Fn(Arc<str>, End)) {
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
pub(super) async fn polled(watch: Watch) -> End {
    loop {
        if let Some(end) = watch.try_end() {
            return end;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Waits until none of the marked members of group `pgrp` is left.
pub(super) async fn members_gone(pgrp: i32, name: &str, records: &Arc<Records>) -> End {
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
