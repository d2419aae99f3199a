//! Claiming the socket: lock files make a second daemon on the same socket or state dir
//! refuse to start, a socket file left by a dead daemon is replaced, and the socket is
//! created 0600 in a 0700 directory before it listens.

use interprocess::local_socket::tokio::{prelude::*, Listener};
use interprocess::local_socket::{GenericFilePath, ListenerOptions};
use interprocess::os::unix::local_socket::ListenerOptionsExt;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(
        "another msbd (pid {pid}) already holds {what} ({path}); stop it first with `msbctl stop`"
    )]
    Taken {
        what: &'static str,
        path: PathBuf,
        pid: String,
    },
    #[error("something already answers on {0}; it is not a stale socket, so msbd leaves it alone")]
    InUse(PathBuf),
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

/// An exclusive lock held for the daemon's lifetime; the file holds the owner's pid.
pub struct LockFile {
    _held: Flock<File>,
}

pub fn lock(path: &Path, what: &'static str) -> Result<LockFile, ClaimError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io_err("open lock file", path))?;
    let mut locked = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => locked,
        Err((mut file, nix::Error::EWOULDBLOCK)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(ClaimError::Taken {
                what,
                path: path.to_path_buf(),
                pid: pid.trim().to_string(),
            });
        }
        Err((_, errno)) => return Err(io_err("lock", path)(errno.into())),
    };
    locked.set_len(0).map_err(io_err("write lock file", path))?;
    locked.rewind().map_err(io_err("write lock file", path))?;
    writeln!(locked, "{}", std::process::id()).map_err(io_err("write lock file", path))?;
    Ok(LockFile { _held: locked })
}

/// The lock that guards a socket path.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
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
