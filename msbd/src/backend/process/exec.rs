//! Running a command in a sandbox of this backend: msbd starts `msbd keeper --exec` (see
//! `enter`), which enters the sandbox and runs the command there with the sandbox's
//! environment. The keeper's stdin, stdout and stderr are the command's pipes.

use super::{detach, rlimits, wait_ready, Shared, KEEPER_EXE, READY_FD, SANDBOX_PATH};
use super::{MARK_INSTANCE, MARK_SANDBOX, MARK_SESSION};
use crate::backend::child::ExecChild;
use crate::backend::{BackendError, BoxFuture, Ended, ExecSpec, Process, Running, Work};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

impl Shared {
    pub(super) async fn exec(
        self: &Arc<Self>,
        name: &str,
        spec: ExecSpec,
    ) -> Result<Running, BackendError> {
        let (pgrp, session_id) = {
            let watched = self.watched();
            match watched.get(name) {
                Some(w) if !w.stopping && !w.ended => (w.pgrp, w.session_id.clone()),
                _ => {
                    return Err(BackendError::NotRunning {
                        name: name.to_string(),
                    })
                }
            }
        };
        let shared = self.clone();
        let sandbox = name.to_string();
        let (mut child, ready) = self
            .blocking(move || shared.spawn_exec(&sandbox, &session_id, pgrp, &spec))
            .await??;
        let stdin = child.stdin.take();
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(BackendError::Internal("exec without output pipes".into()));
        };
        // The keeper going takes the tree: the subreaper inside gets SIGTERM when it dies.
        let child = ExecChild::new(child, name);
        let pid = child.pid();
        let mut process = ExecProcess {
            child,
            name: name.to_string(),
            shared: self.clone(),
        };
        self.execs()
            .entry(name.to_string())
            .or_default()
            .insert(pid);
        if !self.isolation.namespaces {
            self.scattered
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.to_string());
        }
        if let Err(message) = wait_ready(ready).await {
            process.kill();
            let _ = process.wait().await;
            return Err(BackendError::Exec {
                name: name.to_string(),
                message,
            });
        }
        Ok(Running {
            stdin: stdin.map(|s| Box::pin(s) as _),
            stdout: Box::pin(stdout),
            stderr: Box::pin(stderr),
            process: Box::new(process),
        })
    }

    /// Starts the entering keeper for `spec` in sandbox `name`, whose keeper is `pgrp`.
    fn spawn_exec(
        &self,
        name: &str,
        session_id: &str,
        pgrp: i32,
        spec: &ExecSpec,
    ) -> Result<(tokio::process::Child, OwnedFd), BackendError> {
        let spawn_err = |source| BackendError::Spawn {
            name: name.to_string(),
            source,
        };
        let home = self.home(name);
        let mut cmd = tokio::process::Command::new(KEEPER_EXE);
        let (memory_mb, nofile, nproc) = rlimits(spec.flavor);
        cmd.arg0("msbd")
            .args(["keeper", "--exec"])
            .args(["--memory-mb", &memory_mb.to_string()])
            .args(["--nofile", &nofile.to_string()])
            .args(["--nproc", &nproc.to_string()])
            .args(["--ready-fd", &READY_FD.to_string()])
            .args(self.isolation.keeper_args());
        if self.isolation.namespaces {
            cmd.args(["--join", &pgrp.to_string()]);
        }
        // As whoever the sandbox's own command runs as (its record says).
        if self.records.read(name).is_some_and(|r| r.as_user) {
            cmd.arg("--as-user");
        }
        if let Some(cgroups) = &self.isolation.cgroups {
            for dir in cgroups.dirs(name) {
                cmd.arg("--cgroup").arg(dir);
            }
        }
        match &spec.work {
            Work::Command(argv) => {
                let dir = match &spec.workdir {
                    Some(dir) => home.join(dir),
                    None => home.clone(),
                };
                cmd.arg("--workdir").arg(dir).arg("--").args(argv);
            }
            Work::CopyIn(path) | Work::CopyOut(path) => {
                let host = self.work.join(name);
                let view = if self.isolation.namespaces {
                    // Its own root filesystem is `/` already; relative paths start at home.
                    cmd.arg("--workdir").arg(&home);
                    &home
                } else {
                    cmd.arg("--root").arg(&host);
                    Path::new("/")
                };
                let flag = if matches!(spec.work, Work::CopyIn(_)) {
                    "--copy-in"
                } else {
                    "--copy-out"
                };
                cmd.arg(flag).arg(inside(&host, view, path));
            }
        }
        cmd.env_clear()
            .env("PATH", SANDBOX_PATH)
            .env("HOME", &home)
            .env(MARK_INSTANCE, &self.records.instance)
            .env(MARK_SESSION, session_id)
            .env(MARK_SANDBOX, name)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(if spec.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Should msbd drop a command midway (its own exit), the tree still goes.
            .kill_on_drop(true);
        let (ready, ready_tx) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| spawn_err(e.into()))?;
        detach(cmd.as_std_mut(), &ready_tx);
        let child = cmd.spawn().map_err(spawn_err)?;
        drop(ready_tx);
        Ok((child, ready))
    }

    /// Starts killing every command running in sandbox `name`, ahead of its stop.
    pub(super) fn kill_execs(&self, name: &str) {
        if let Some(pids) = self.execs().get(name) {
            for pid in pids {
                let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGTERM);
            }
        }
    }
}

/// A path of the sandbox's own view, where its working directory (`host` on the host) is
/// `view`: an absolute path under `host` is taken as that file; any other is the sandbox's.
fn inside(host: &Path, view: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    match path.strip_prefix(host) {
        Ok(rest) => view.join(rest),
        Err(_) => path.to_path_buf(),
    }
}

struct ExecProcess {
    child: ExecChild,
    name: String,
    shared: Arc<Shared>,
}

impl Process for ExecProcess {
    fn wait(&mut self) -> BoxFuture<'_, Result<Ended, BackendError>> {
        self.child.wait()
    }

    fn kill(&mut self) {
        self.child.kill();
    }
}

impl Drop for ExecProcess {
    fn drop(&mut self) {
        let mut execs = self.shared.execs();
        if let Some(pids) = execs.get_mut(&self.name) {
            pids.remove(&self.child.pid());
            if pids.is_empty() {
                execs.remove(&self.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_paths_are_taken_from_the_working_directory() {
        let host = Path::new("/state/work/sb-1");
        for view in ["/", "/work"] {
            let view = Path::new(view);
            assert_eq!(
                inside(host, view, "/state/work/sb-1/out/a"),
                view.join("out/a")
            );
            assert_eq!(inside(host, view, "/state/work/sb-1"), view);
            assert_eq!(inside(host, view, "out/a"), Path::new("out/a"));
            assert_eq!(inside(host, view, "/etc/x"), Path::new("/etc/x"));
        }
    }
}
