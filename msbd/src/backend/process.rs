//! The embedded default backend: a sandbox is a process group in its own session, started
//! from a template's command line in a private working directory under the state dir.
//!
//! Each sandbox leaves a record (`sandboxes/NAME.json`: pid and start time) and carries the
//! marker variables in its environment. A process counts as one of ours only when its start
//! time matches the record and its environment names this daemon's instance, so a pid that
//! was reused by an unrelated process is never signalled.

use super::isolation::{self, Isolation};
use super::{
    procfs, Backend, BackendError, BoxFuture, Command, Exited, SandboxInfo, SandboxSpec,
    SandboxState, Stopped,
};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{sleep, Instant};

/// Environment variables that mark a sandbox as msbd's: which daemon instance, which session.
pub const MARK_INSTANCE: &str = "MSBD_INSTANCE";
pub const MARK_SESSION: &str = "MSBD_SESSION";
pub const MARK_SANDBOX: &str = "MSBD_SANDBOX";

/// Sandboxes get a fixed, minimal environment rather than the daemon's.
const SANDBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How often a stop looks whether the group is gone; short, since stops are rare and brief.
const STOP_POLL: Duration = Duration::from_millis(20);
/// How long to wait for the kernel to take a group down after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    name: String,
    session_id: String,
    instance: String,
    pid: u32,
    start_time: u64,
}

pub struct ProcessBackend {
    instance: String,
    records: PathBuf,
    work: PathBuf,
    /// Told when a sandbox we started exits by itself.
    exits: mpsc::UnboundedSender<Exited>,
    isolation: Isolation,
}

impl ProcessBackend {
    /// `instance` is the daemon's identity from its state dir; `state_dir` holds records and
    /// working directories.
    pub fn new(
        instance: String,
        state_dir: &Path,
        exits: mpsc::UnboundedSender<Exited>,
        isolation: Isolation,
    ) -> std::io::Result<Self> {
        let records = state_dir.join("sandboxes");
        let work = state_dir.join("work");
        std::fs::create_dir_all(&records)?;
        std::fs::create_dir_all(&work)?;
        Ok(Self {
            instance,
            records,
            work,
            exits,
            isolation,
        })
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.records.join(format!("{name}.json"))
    }

    fn read_record(&self, name: &str) -> Option<Record> {
        let text = std::fs::read_to_string(self.record_path(name)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write_record(&self, record: &Record) -> Result<(), BackendError> {
        let path = self.record_path(&record.name);
        let err = |source| BackendError::Record {
            name: record.name.clone(),
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec(record).map_err(|e| err(e.into()))?;
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)
    }

    /// Drops what a finished sandbox leaves behind: its record and working directory.
    fn forget(&self, name: &str) {
        let _ = std::fs::remove_file(self.record_path(name));
        let _ = std::fs::remove_dir_all(self.work.join(name));
        if let Some(cgroups) = &self.isolation.cgroups {
            cgroups.remove(name);
        }
    }

    /// True when the recorded leader is still the very process we started.
    fn leader_is_ours(&self, record: &Record) -> bool {
        record.instance == self.instance
            && matches!(procfs::stat(record.pid), Some(s) if s.start_time == record.start_time && !s.zombie)
            && procfs::has_env(record.pid, MARK_INSTANCE, &self.instance)
    }

    /// True while any process of the sandbox's group is alive. Once the leader is gone its
    /// pid cannot be reused as a group id while members remain, so members that still carry
    /// our marker identify the group safely.
    fn group_alive(&self, record: &Record) -> bool {
        if self.leader_is_ours(record) {
            return true;
        }
        record.instance == self.instance
            && procfs::group_members(record.pid as i32)
                .into_iter()
                .any(|pid| procfs::has_env(pid, MARK_SANDBOX, &record.name))
    }

    async fn wait_gone(&self, pgrp: i32, deadline: Instant) -> bool {
        loop {
            // No process in the group at all is the common end; only when some remain is
            // /proc scanned, to tell live members from zombies nobody has reaped yet.
            let none_left = matches!(killpg(Pid::from_raw(pgrp), None), Err(nix::Error::ESRCH));
            if none_left || procfs::group_members(pgrp).is_empty() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            sleep(STOP_POLL).await;
        }
    }

    /// Every sandbox of this instance found by the marker in its processes' environment,
    /// whether or not its record still exists. One entry a sandbox, with its process group.
    fn scan(&self) -> Vec<SandboxInfo> {
        let mut found: Vec<SandboxInfo> = Vec::new();
        for pid in procfs::pids() {
            if !procfs::has_env(pid, MARK_INSTANCE, &self.instance) {
                continue;
            }
            let (Some(stat), Some(name)) = (procfs::stat(pid), procfs::env_var(pid, MARK_SANDBOX))
            else {
                continue;
            };
            if stat.zombie || found.iter().any(|f| f.name == name) {
                continue;
            }
            found.push(SandboxInfo {
                session_id: procfs::env_var(pid, MARK_SESSION).unwrap_or_default(),
                name,
                pid: Some(stat.pgrp as u32),
            });
        }
        found
    }

    /// The process group of a running sandbox: from its record, or, when the record is
    /// lost, from the marker in /proc.
    fn locate(&self, name: &str) -> Option<i32> {
        match self.read_record(name) {
            Some(record) if self.group_alive(&record) => Some(record.pid as i32),
            _ => self
                .scan()
                .into_iter()
                .find(|f| f.name == name)
                .and_then(|f| f.pid)
                .map(|p| p as i32),
        }
    }

    async fn stop_group(
        &self,
        name: &str,
        pgrp: i32,
        grace: Duration,
    ) -> Result<Stopped, BackendError> {
        let group = Pid::from_raw(pgrp);
        let signal = |sig| match killpg(group, sig) {
            Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
            Err(source) => Err(BackendError::Signal {
                name: name.to_string(),
                source,
            }),
        };
        signal(Signal::SIGTERM)?;
        if self.wait_gone(pgrp, Instant::now() + grace).await {
            self.forget(name);
            return Ok(Stopped::Graceful);
        }
        signal(Signal::SIGKILL)?;
        if self.wait_gone(pgrp, Instant::now() + KILL_WAIT).await {
            self.forget(name);
            Ok(Stopped::Killed)
        } else {
            Err(BackendError::Unkillable {
                name: name.to_string(),
            })
        }
    }

    fn spawn(&self, spec: &SandboxSpec) -> Result<tokio::process::Child, BackendError> {
        let spawn_err = |source| BackendError::Spawn {
            name: spec.name.clone(),
            source,
        };
        let workdir = self.work.join(&spec.name);
        std::fs::create_dir_all(&workdir).map_err(spawn_err)?;
        // Every sandbox starts as `msbd keeper`, which sets its limits and namespaces.
        let mut cmd = tokio::process::Command::new(std::env::current_exe().map_err(spawn_err)?);
        let (memory_mb, nofile, nproc) = isolation::rlimits(spec.flavor);
        cmd.arg("keeper")
            .args(["--memory-mb", &memory_mb.to_string()])
            .args(["--nofile", &nofile.to_string()])
            .args(["--nproc", &nproc.to_string()]);
        if self.isolation.namespaces {
            cmd.args(["--isolate", "--hostname", &spec.name]);
        }
        if let Some(cgroups) = &self.isolation.cgroups {
            for dir in cgroups.make(&spec.name, spec.flavor) {
                cmd.arg("--cgroup").arg(dir);
            }
        }
        if let Command::Shell(line) = &spec.command {
            cmd.args(["--", "/bin/sh", "-c", line]);
        }
        cmd.current_dir(&workdir)
            .env_clear()
            .env("PATH", SANDBOX_PATH)
            .env("HOME", &workdir)
            .env(MARK_INSTANCE, &self.instance)
            .env(MARK_SESSION, &spec.session_id)
            .env(MARK_SANDBOX, &spec.name)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid()
                    .map(drop)
                    .map_err(std::io::Error::from)
            });
        }
        cmd.spawn().map_err(spawn_err)
    }
}

impl Backend for ProcessBackend {
    fn name(&self) -> &'static str {
        "process"
    }

    fn create(&self, spec: SandboxSpec) -> BoxFuture<'_, Result<SandboxInfo, BackendError>> {
        Box::pin(async move {
            let mut child = self.spawn(&spec)?;
            let pid = child.id().ok_or_else(|| BackendError::Spawn {
                name: spec.name.clone(),
                source: std::io::Error::other("the process exited at once"),
            })?;
            // The start time is fixed at fork, so reading it now is exact even before exec.
            let start_time = procfs::stat(pid).map(|s| s.start_time).unwrap_or_default();
            let record = Record {
                name: spec.name.clone(),
                session_id: spec.session_id.clone(),
                instance: self.instance.clone(),
                pid,
                start_time,
            };
            if let Err(err) = self.write_record(&record) {
                let _ = child.start_kill();
                let _ = child.wait().await;
                self.forget(&spec.name);
                return Err(err);
            }
            // Reap the leader when it exits, so it never lingers as a zombie, and report a
            // sandbox that ended by itself.
            let exits = self.exits.clone();
            let gone = Exited {
                session_id: spec.session_id.clone(),
                sandbox: spec.name.clone(),
            };
            tokio::spawn(async move {
                let _ = child.wait().await;
                if procfs::group_members(pid as i32).is_empty() {
                    let _ = exits.send(gone);
                }
            });
            Ok(SandboxInfo {
                name: spec.name,
                session_id: spec.session_id,
                pid: Some(pid),
            })
        })
    }

    fn stop<'a>(
        &'a self,
        name: &'a str,
        grace: Duration,
    ) -> BoxFuture<'a, Result<Stopped, BackendError>> {
        Box::pin(async move {
            match self.locate(name) {
                Some(pgrp) => self.stop_group(name, pgrp, grace).await,
                None => {
                    self.forget(name);
                    Ok(Stopped::Gone)
                }
            }
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<SandboxInfo>, BackendError>> {
        Box::pin(async move {
            let dir = std::fs::read_dir(&self.records).map_err(|source| BackendError::List {
                path: self.records.display().to_string(),
                source,
            })?;
            // One pass over /proc finds every sandbox that still has a live process, whether
            // or not its record survived and whether or not its first process is still there.
            let live = self.scan();
            let mut found = Vec::new();
            for entry in dir.flatten() {
                let path = entry.path();
                if path.extension().is_none_or(|ext| ext != "json") {
                    continue;
                }
                let Some(record) = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|text| serde_json::from_str::<Record>(&text).ok())
                else {
                    tracing::warn!(path = %path.display(), "ignoring an unreadable sandbox record");
                    continue;
                };
                if self.leader_is_ours(&record) {
                    found.push(SandboxInfo {
                        name: record.name,
                        session_id: record.session_id,
                        pid: Some(record.pid),
                    });
                } else if record.instance == self.instance
                    && !live.iter().any(|l| l.name == record.name)
                {
                    // Nothing of it runs any more: its record and directory are garbage.
                    self.forget(&record.name);
                }
            }
            for sandbox in live {
                if !found.iter().any(|f| f.name == sandbox.name) {
                    found.push(sandbox);
                }
            }
            found.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(found)
        })
    }

    fn inspect<'a>(&'a self, name: &'a str) -> BoxFuture<'a, SandboxState> {
        Box::pin(async move {
            let pgrp = self.locate(name);
            SandboxState {
                running: pgrp.is_some(),
                pid: pgrp.map(|p| p as u32),
                workdir: Some(self.work.join(name)).filter(|dir| dir.exists()),
                isolation: self.isolation.name().into(),
            }
        })
    }
}
