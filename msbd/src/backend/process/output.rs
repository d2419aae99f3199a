//! The keeper's side of a sandbox's log: a pipe that becomes the command's stdout and stderr
//! (one pipe, so the two stay in the order they were written), copied into the bounded log
//! by the outer keeper as part of its wait (see `supervise`). msbd holds no part of it, so the
//! log goes on being written while no daemon runs, and a restarted daemon reads it like any
//! other.

use crate::backend::log::{LogFiles, Writer, LIMIT};
use nix::fcntl::OFlag;
use nix::libc;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// How much is taken from the pipe at once.
const CHUNK: usize = 64 * 1024;

/// The pipe and the log it goes to, made before the keeper forks.
pub(super) struct Output {
    read: OwnedFd,
    write: OwnedFd,
    log: Writer,
}

impl Output {
    pub fn open(log: &Path) -> Result<Self, String> {
        let writer = Writer::create(LogFiles::of(log))
            .map_err(|e| format!("cannot open the log {}: {e}", log.display()))?;
        let (read, write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        Ok(Self {
            read,
            write,
            log: writer,
        })
    }

    /// In the child: the pipe becomes its stdout and stderr, which its command inherits.
    pub fn attach(self) -> Result<(), String> {
        for target in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
            // SAFETY: dup2 only makes `target` a copy of a descriptor we own.
            if unsafe { libc::dup2(self.write.as_raw_fd(), target) } < 0 {
                return Err(format!("dup2: {}", std::io::Error::last_os_error()));
            }
        }
        // The originals (and the log file) close here: the copies are what the command needs.
        Ok(())
    }

    /// In the keeper, after its fork: only the child writes into the pipe from now on.
    pub fn into_pump(self) -> Pump {
        let Self { read, write, log } = self;
        drop(write);
        Pump {
            pipe: File::from(read),
            log,
            buf: vec![0; CHUNK],
        }
    }
}

/// The reading end, copied into the log whenever it is readable.
pub(super) struct Pump {
    pipe: File,
    log: Writer,
    buf: Vec<u8>,
}

impl Pump {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.pipe.as_fd()
    }

    /// Copies one chunk into the log; false once nobody writes into the pipe any more.
    pub fn copy(&mut self) -> bool {
        match self.pipe.read(&mut self.buf) {
            Ok(0) => false,
            Ok(n) => {
                // A log that cannot be written (a full disk) loses output, but the command
                // never blocks on it.
                let _ = self.log.write(&self.buf[..n]);
                true
            }
            Err(err) => err.kind() == std::io::ErrorKind::Interrupted,
        }
    }

    /// Once the command has ended: takes what it left in the pipe, without waiting for
    /// processes it left behind that may hold the pipe open or go on writing.
    pub fn finish(mut self) {
        // SAFETY: changes the flags of a descriptor we own.
        unsafe {
            libc::fcntl(self.pipe.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK);
        }
        let mut budget = LIMIT;
        while budget > 0 {
            match self.pipe.read(&mut self.buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let _ = self.log.write(&self.buf[..n]);
                    budget = budget.saturating_sub(n);
                }
            }
        }
    }
}
