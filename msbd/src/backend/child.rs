//! The child process msbd starts for a command run in a sandbox (`msbd keeper --exec`, `msb
//! exec`): killed politely first, with SIGTERM, so that it takes the command's tree down
//! with it, and outright once `KILL_WAIT` has passed.

use super::{BackendError, BoxFuture, Ended, Process};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::Duration;
use tokio::time::Instant;

/// How long a killed child gets to take the command's tree down before it is killed
/// outright.
const KILL_WAIT: Duration = Duration::from_secs(2);

pub struct ExecChild {
    child: tokio::process::Child,
    pid: u32,
    /// The sandbox, for messages.
    name: String,
    /// Set once killed: when it is killed outright if it has not gone by then.
    kill_by: Option<Instant>,
}

impl ExecChild {
    pub fn new(child: tokio::process::Child, name: &str) -> Self {
        Self {
            pid: child.id().unwrap_or_default(),
            child,
            name: name.to_string(),
            kill_by: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    async fn ended(&mut self) -> Result<Ended, BackendError> {
        let waited = match self.kill_by {
            None => self.child.wait().await,
            Some(by) => match tokio::time::timeout_at(by, self.child.wait()).await {
                Ok(waited) => waited,
                Err(_) => {
                    let _ = self.child.start_kill();
                    self.child.wait().await
                }
            },
        };
        let status = waited.map_err(|err| BackendError::Exec {
            name: self.name.clone(),
            message: format!("cannot wait for the command: {err}"),
        })?;
        use std::os::unix::process::ExitStatusExt;
        Ok(Ended {
            code: status.code(),
            signal: status.signal(),
        })
    }
}

impl Process for ExecChild {
    fn wait(&mut self) -> BoxFuture<'_, Result<Ended, BackendError>> {
        Box::pin(self.ended())
    }

    /// Starts killing it: SIGTERM now, SIGKILL from `wait` should it outlast `KILL_WAIT`.
    fn kill(&mut self) {
        if self.kill_by.is_none() {
            if self.child.id().is_some() {
                let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGTERM);
            }
            self.kill_by = Some(Instant::now() + KILL_WAIT);
        }
    }
}
