//! Copies into and out of a sandbox. A copy travels as the tar archive of msbd's copies
//! (`msb_proto::archive`), unpacked into, or packed from, a staging directory of msbd's own,
//! and `msb copy` moves it between there and the sandbox (which places it as `docker cp`
//! does). msb takes only absolute paths in a sandbox: a relative one is taken from `/`.
//!
//! The copy runs as a task standing in for a process: its stdin or stdout is a pipe the
//! archive goes through, its stderr says why it failed, and killing it stops `msb copy`.

use super::Shared;
use crate::backend::{BackendError, BoxFuture, Ended, Process, Running};
use msb_proto::archive;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

/// Room for the message of a copy that failed.
const MESSAGE: usize = 16 * 1024;

/// The path `path` of the sandbox as msb takes it: absolute.
fn in_sandbox(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// A staging directory, removed with what is in it when dropped.
struct Staged {
    dir: PathBuf,
    shared: Arc<Shared>,
}

impl Staged {
    /// A fresh private directory, claimed before it exists so that debris removal never
    /// takes it.
    fn new(shared: Arc<Shared>) -> Result<Self, BackendError> {
        let name =
            crate::ids::random_hex(8).map_err(|err| BackendError::Internal(err.to_string()))?;
        let dir = shared.staging.join(name);
        shared
            .copying
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dir.clone());
        let staged = Self { dir, shared };
        std::fs::create_dir(&staged.dir)
            .map_err(|err| BackendError::Internal(format!("cannot stage a copy: {err}")))?;
        Ok(staged)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let dir = self.dir.clone();
        let shared = self.shared.clone();
        let remove = move || {
            let _ = std::fs::remove_dir_all(&dir);
            shared
                .copying
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&dir);
        };
        // Off the runtime's threads where there is one: a copy may be large.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

fn pipe_pair() -> Result<(OwnedFd, OwnedFd), BackendError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|err| BackendError::Internal(format!("cannot make a pipe: {err}")))
}

fn internal(err: impl std::fmt::Display) -> BackendError {
    BackendError::Internal(err.to_string())
}

/// Runs blocking archive work off the runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(err.to_string()),
        Err(err) => Err(err.to_string()),
    }
}

/// Unpacks the archive on stdin into staging, then `msb copy` puts it at `path` of sandbox
/// `name`.
pub(super) fn copy_in(
    shared: Arc<Shared>,
    name: &str,
    path: &str,
) -> Result<Running, BackendError> {
    let staged = Staged::new(shared.clone())?;
    let (read, write) = pipe_pair()?;
    let stdin = pipe::Sender::from_owned_fd(write).map_err(internal)?;
    let target = format!("{name}:{}", in_sandbox(path));
    let work = async move {
        let dir = staged.dir.clone();
        let top = blocking(move || archive::unpack(File::from(read), &dir)).await?;
        let args = vec!["copy".into(), top.display().to_string(), target];
        shared.runner.run(&args).await.map_err(|f| f.to_string())?;
        drop(staged);
        Ok(())
    };
    Ok(task(work, Some(Box::pin(stdin)), None))
}

/// `msb copy` brings `path` of sandbox `name` into staging, then it goes out on stdout as
/// an archive.
pub(super) fn copy_out(
    shared: Arc<Shared>,
    name: &str,
    path: &str,
) -> Result<Running, BackendError> {
    let staged = Staged::new(shared.clone())?;
    let (read, write) = pipe_pair()?;
    let stdout = pipe::Receiver::from_owned_fd(read).map_err(internal)?;
    let source = in_sandbox(path);
    let landed = staged.dir.join(archive::top_name(Path::new(&source)));
    let args = vec![
        "copy".into(),
        format!("{name}:{source}"),
        landed.display().to_string(),
    ];
    let work = async move {
        let out = File::from(write);
        shared.runner.run(&args).await.map_err(|f| f.to_string())?;
        blocking(move || archive::pack(&landed, out)).await?;
        drop(staged);
        Ok(())
    };
    Ok(task(work, None, Some(Box::pin(stdout))))
}

/// The copy `work` as a command: its stdin or stdout, and its stderr, on which a failure's
/// message is written.
fn task(
    work: impl std::future::Future<Output = Result<(), String>> + Send + 'static,
    stdin: Option<std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>>,
    stdout: Option<std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>>,
) -> Running {
    let (mut said, stderr) = tokio::io::duplex(MESSAGE);
    let handle = tokio::spawn(async move {
        match work.await {
            Ok(()) => Ended {
                code: Some(0),
                signal: None,
            },
            Err(message) => {
                let _ = write_message(&mut said, &message).await;
                Ended {
                    code: Some(1),
                    signal: None,
                }
            }
        }
    });
    Running {
        stdin,
        stdout: stdout.unwrap_or_else(|| Box::pin(tokio::io::empty())),
        stderr: Box::pin(stderr),
        process: Box::new(CopyTask {
            handle,
            ended: None,
        }),
    }
}

async fn write_message(said: &mut DuplexStream, message: &str) -> std::io::Result<()> {
    said.write_all(message.as_bytes()).await?;
    said.shutdown().await
}

/// A copy under way, as a process.
struct CopyTask {
    handle: JoinHandle<Ended>,
    ended: Option<Ended>,
}

impl Process for CopyTask {
    fn wait(&mut self) -> BoxFuture<'_, Result<Ended, BackendError>> {
        Box::pin(async move {
            if let Some(ended) = self.ended {
                return Ok(ended);
            }
            let ended = match (&mut self.handle).await {
                Ok(ended) => ended,
                // Killed: as a process killed by SIGKILL.
                Err(err) if err.is_cancelled() => Ended {
                    code: None,
                    signal: Some(nix::libc::SIGKILL),
                },
                Err(err) => return Err(BackendError::Internal(format!("a copy failed: {err}"))),
            };
            self.ended = Some(ended);
            Ok(ended)
        })
    }

    fn kill(&mut self) {
        self.handle.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_the_sandbox_are_absolute() {
        assert_eq!(in_sandbox("inputs/a"), "/inputs/a");
        assert_eq!(in_sandbox("/srv/a"), "/srv/a");
    }
}
