//! Claiming the socket and the state dir: locks make a second daemon on the same socket or
//! state dir refuse to start, a socket file left by a dead daemon is replaced, and the socket
//! is created 0600 in a 0700 directory before it listens. The state dir is locked as a
//! directory, so no file deleted from it can let a second daemon in. Under socket activation
//! the service manager's socket is taken as it is, and its file is left in place at exit.

use interprocess::local_socket::tokio::{prelude::*, Listener};
use interprocess::local_socket::{GenericFilePath, ListenerOptions};
use interprocess::os::unix::local_socket::ListenerOptionsExt;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(
        "another msbd{} already holds {what} ({path}); stop it first with `msbctl stop`",
        pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Taken {
        what: &'static str,
        path: PathBuf,
        /// The holder's pid, when its note of it is still there.
        pid: Option<u32>,
    },
    #[error("something already answers on {0}; it is not a stale socket, so msbd leaves it alone")]
    InUse(PathBuf),
    #[error("the socket passed by the service manager (LISTEN_FDS) cannot be used: {0}")]
    Passed(String),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> ClaimError + 'a {
    move |source| ClaimError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and its parents) with mode 0700 if it does not exist yet.
pub fn private_dir(dir: &Path) -> Result<(), ClaimError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err("create directory", dir))
}

/// An exclusive lock held for the daemon's lifetime.
pub struct LockFile {
    _held: Flock<File>,
}

/// Where the state dir's owner writes its pid, for the message a second daemon gives.
const PID_FILE: &str = "msbd.pid";

/// How long a claim waits for a lock to be let go. A daemon killed while starting a sandbox
/// leaves a child between fork and exec that holds copies of its descriptors, locks
/// included, for a moment; a restart right after a crash waits that out instead of failing.
const LOCK_PATIENCE: Duration = Duration::from_secs(2);

/// Takes an exclusive lock on `file`, waiting `LOCK_PATIENCE` for a passing holder; `pid_file`
/// names the holder when it does not let go.
fn take(
    file: File,
    what: &'static str,
    path: &Path,
    pid_file: &Path,
) -> Result<Flock<File>, ClaimError> {
    let deadline = Instant::now() + LOCK_PATIENCE;
    let mut file = file;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(held) => return Ok(held),
            Err((back, nix::Error::EWOULDBLOCK)) if Instant::now() < deadline => {
                file = back;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err((_, nix::Error::EWOULDBLOCK)) => {
                return Err(ClaimError::Taken {
                    what,
                    path: path.to_path_buf(),
                    pid: read_pid(pid_file),
                })
            }
            Err((_, errno)) => return Err(io_err("lock", path)(errno.into())),
        }
    }
}

/// Locks the state dir itself for this daemon's lifetime and notes its pid there.
pub fn lock_dir(dir: &Path) -> Result<LockFile, ClaimError> {
    let handle = File::open(dir).map_err(io_err("open", dir))?;
    let pid_file = dir.join(PID_FILE);
    let held = take(handle, "the state dir", dir, &pid_file)?;
    std::fs::write(&pid_file, format!("{}\n", std::process::id()))
        .map_err(io_err("write", &pid_file))?;
    Ok(LockFile { _held: held })
}

/// Locks `path` (created if needed) for this daemon's lifetime; the file holds its pid.
pub fn lock(path: &Path, what: &'static str) -> Result<LockFile, ClaimError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io_err("open lock file", path))?;
    let mut locked = take(file, what, path, path)?;
    locked.set_len(0).map_err(io_err("write lock file", path))?;
    locked.rewind().map_err(io_err("write lock file", path))?;
    writeln!(locked, "{}", std::process::id()).map_err(io_err("write lock file", path))?;
    Ok(LockFile { _held: locked })
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The lock that guards a socket path.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Opens the socket and its directory to `group`: the socket 0660 and the directory 0750,
/// both of that group. The credential check still decides who is served.
pub fn share_with(socket: &Path, gid: u32) -> Result<(), ClaimError> {
    use std::os::unix::fs::PermissionsExt;
    let group = Some(nix::unistd::Gid::from_raw(gid));
    let mut targets = vec![(socket, 0o660)];
    if let Some(dir) = socket.parent() {
        targets.push((dir, 0o750));
    }
    for (path, mode) in targets {
        nix::unistd::chown(path, None, group)
            .map_err(|e| io_err("give the socket's group", path)(e.into()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(io_err("open the socket to its group", path))?;
    }
    Ok(())
}

/// Binds the socket. Call with the socket's lock held (taking it made the directory): any
/// file already at the path then belongs to a dead daemon, which a connection attempt
/// double-checks before removing it.
pub fn bind(socket: &Path) -> Result<Listener, ClaimError> {
    if socket.exists() {
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            return Err(ClaimError::InUse(socket.to_path_buf()));
        }
        std::fs::remove_file(socket).map_err(io_err("remove stale socket", socket))?;
        tracing::info!(socket = %socket.display(), "replaced a stale socket");
    }
    let name = socket
        .to_fs_name::<GenericFilePath>()
        .map_err(io_err("name socket", socket))?;
    ListenerOptions::new()
        .name(name)
        .mode(0o600)
        .create_tokio()
        .map_err(io_err("listen on", socket))
}

/// The listening socket the service manager passed (socket activation: `LISTEN_FDS`, with
/// `LISTEN_PID` naming this process), and the path it is bound to; `None` when none was
/// passed. Its file is the service manager's: the listener never removes it.
pub fn passed() -> Result<Option<(Listener, PathBuf)>, ClaimError> {
    use nix::sys::socket::{getsockopt, sockopt, SockType};
    use std::os::fd::{FromRawFd, OwnedFd};
    let passed = |why: String| ClaimError::Passed(why);
    let fds: Vec<_> = sd_notify::listen_fds()
        .map_err(|err| passed(err.to_string()))?
        .collect();
    let fd = match fds[..] {
        [] => return Ok(None),
        [fd] => fd,
        _ => {
            return Err(passed(format!(
                "it passed {} sockets; msbd listens on exactly one",
                fds.len()
            )))
        }
    };
    // SAFETY: `listen_fds` names it only when LISTEN_PID is this process, which the service
    // manager hands the descriptor to; nothing else in msbd has taken it.
    let (raw, fd) = (fd, unsafe { OwnedFd::from_raw_fd(fd) });
    let unusable = || passed(format!("fd {raw} is not a listening Unix stream socket"));
    let stream = getsockopt(&fd, sockopt::SockType).map_err(|_| unusable())?;
    let listening = getsockopt(&fd, sockopt::AcceptConn).map_err(|_| unusable())?;
    if stream != SockType::Stream || !listening {
        return Err(unusable());
    }
    let std = std::os::unix::net::UnixListener::from(fd);
    let path = std
        .local_addr()
        .ok()
        .and_then(|addr| addr.as_pathname().map(Path::to_path_buf))
        .ok_or_else(|| {
            passed("it is not bound to a path (ListenStream= must name a file)".into())
        })?;
    let listener =
        interprocess::os::unix::uds_local_socket::tokio::Listener::try_from(OwnedFd::from(std))
            .map_err(io_err("listen on", &path))?;
    Ok(Some((Listener::from(listener), path)))
}
