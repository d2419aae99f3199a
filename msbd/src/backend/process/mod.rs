//! The embedded default backend: a sandbox is a process group in its own session, started
//! as `msbd keeper` from a template's command line in a private working directory under the
//! state dir. Its command's output goes to a bounded log under `logs/` that the keeper
//! writes itself.
//!
//! Every sandbox's end is watched (see `watch`): a stop signals the group and waits for that
//! end, not for /proc to empty, and a sandbox that ends by itself is released (record,
//! working directory, cgroups; its log stays until `discard`) and reported at once, with its
//! exit and the last lines of its log, whether this daemon started it or adopted it.
//! Blocking work (spawning, /proc reads, removing directories) runs on the blocking pool, a
//! bounded number at a time.

mod cgroups;
mod enter;
mod exec;
mod identity;
mod isolation;
pub mod keeper;
mod lockdown;
mod output;
mod records;
mod rootfs;
mod uids;
mod watch;

pub use cgroups::Cgroups;
pub use isolation::{rlimits, Isolation, IsolationMode, UidRange};
pub use records::{MARK_INSTANCE, MARK_SANDBOX, MARK_SESSION};

use super::log::{self, Ending, LogFiles};
use super::{
    procfs, Backend, BackendError, BoxFuture, Command, ExecSpec, Exited, Keep, OpenedLog, Running,
    SandboxInfo, SandboxSpec, SandboxState, Stopped,
};
use crate::clock::now_ms;
use crate::deadline::Deadline;
use msb_proto::{BackendHealth, SandboxExit};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use records::{Record, RecordFile, Records};
use std::collections::{HashMap, HashSet};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::{timeout, Instant};
use uids::Uids;
use watch::{Reaper, Watch};

/// Sandboxes get a fixed, minimal environment rather than the daemon's.
const SANDBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The program every sandbox starts as: msbd itself, even once its file has been replaced
/// by an upgrade.
const KEEPER_EXE: &str = "/proc/self/exe";
/// Where the keeper finds its readiness pipe.
const READY_FD: i32 = 3;
/// How long a keeper may take to set its sandbox up and start the command.
const READY_WAIT: Duration = Duration::from_secs(30);
/// How long to wait for the kernel to take a group down after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// Blocking jobs (spawns, clean-ups) running at once, so that a shutdown of thousands of
/// sandboxes neither floods the blocking pool nor runs out of descriptors.
const BLOCKING_AT_ONCE: usize = 16;
/// Descriptors msbd holds per sandbox: the pidfd its end is watched through.
const FDS_PER_SANDBOX: u64 = 1;
/// How often `list` searches all of /proc for marked processes when nothing hints at a lost
/// record: the backstop for a sandbox that lost its record and its working directory both.
const SCAN_AT_LEAST_EVERY: Duration = Duration::from_secs(3600);

pub struct ProcessBackend {
    shared: Arc<Shared>,
}

struct Shared {
    records: Arc<Records>,
    work: PathBuf,
    /// Sandboxes' logs, written by their keepers.
    logs: PathBuf,
    isolation: Isolation,
    /// The host uids of sandboxes' roots, when each gets its own.
    uids: Option<Uids>,
    /// Told when a sandbox ends by itself, not through a stop.
    exits: mpsc::UnboundedSender<Exited>,
    /// Every sandbox whose end is being watched, by name.
    watched: Mutex<HashMap<Arc<str>, Watched>>,
    /// What tells the watched sandboxes' ends.
    reaper: Arc<Reaper>,
    /// The keepers of commands running in each sandbox, by sandbox name.
    execs: Mutex<HashMap<String, HashSet<u32>>>,
    /// Sandboxes without a pid namespace that ran commands: what those left in the
    /// background lives outside the sandbox's group and is looked for by its marker.
    scattered: Mutex<HashSet<String>>,
    blocking: Semaphore,
    /// When /proc was last searched for sandboxes by their marker.
    scanned: Mutex<std::time::Instant>,
    /// Set at start-up, by each search of /proc and when a sandbox's log or cgroups could
    /// not be removed: the next removal of debris lists the logs and the cgroups too.
    /// Otherwise it leaves them alone, since listing thousands of them costs more than the
    /// rest of a cycle, and a sandbox's logs and cgroups go with it.
    debris_due: AtomicBool,
    /// What the last `running` listed, for the removal of debris that follows it in the same
    /// cycle: each directory is read once a cycle.
    listed: Mutex<Option<Listing>>,
}

struct Watched {
    pgrp: i32,
    session_id: String,
    ended: bool,
    /// A stop owns this sandbox's end: the watcher neither releases nor reports it.
    stopping: bool,
    /// Told when it has ended: the stops waiting for it.
    waiters: Vec<oneshot::Sender<()>>,
}

impl Watched {
    /// What resolves once the sandbox has ended (or is no longer watched).
    fn end(&mut self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if self.ended {
            let _ = tx.send(());
        } else {
            self.waiters.push(tx);
        }
        rx
    }
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
        let logs = state_dir.join("logs");
        for dir in [&records, &work, &logs] {
            std::fs::create_dir_all(dir)?;
        }
        let records = Records {
            dir: records,
            instance,
        };
        // Sandboxes an earlier msbd left running keep their uids.
        let uids = isolation.uids.map(|range| {
            let recorded = records.files().unwrap_or_default().into_iter();
            Uids::new(
                range,
                recorded
                    .filter(|file| !file.partial)
                    .filter_map(|file| records.read(&file.name))
                    .filter_map(|record| Some((record.name, record.uid?))),
            )
        });
        let reaper = Arc::new(Reaper::new()?);
        let shared = Arc::new(Shared {
            records: Arc::new(records),
            work,
            logs,
            isolation,
            uids,
            exits,
            watched: Mutex::new(HashMap::new()),
            reaper: reaper.clone(),
            execs: Mutex::new(HashMap::new()),
            scattered: Mutex::new(HashSet::new()),
            blocking: Semaphore::new(BLOCKING_AT_ONCE),
            scanned: Mutex::new(std::time::Instant::now()),
            debris_due: AtomicBool::new(true),
            listed: Mutex::new(None),
        });
        // Holds the backend weakly: it ends with the backend rather than keeping it alive.
        let weak = Arc::downgrade(&shared);
        tokio::spawn(async move {
            reaper
                .run(|name, end| {
                    if let Some(shared) = weak.upgrade() {
                        shared.ended(name, end);
                    }
                })
                .await
        });
        Ok(Self { shared })
    }
}

/// What a spawn made, for the async side to watch and wait on.
struct Spawned {
    /// The sandbox's name, shared by the tables that hold it.
    name: Arc<str>,
    child: std::process::Child,
    pid: u32,
    ready: OwnedFd,
    /// Writing the record may have failed after the keeper started.
    recorded: Result<(), BackendError>,
}

impl Shared {
    fn watched(&self) -> MutexGuard<'_, HashMap<Arc<str>, Watched>> {
        self.watched.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn execs(&self) -> MutexGuard<'_, HashMap<String, HashSet<u32>>> {
        self.execs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sandbox's working directory as its commands see it: `/work` of its own root
    /// filesystem, or, without namespaces, the host directory.
    fn home(&self, name: &str) -> PathBuf {
        if self.isolation.namespaces {
            PathBuf::from(rootfs::WORK)
        } else {
            self.work.join(name)
        }
    }

    fn log_files(&self, name: &str) -> LogFiles {
        LogFiles::of(&self.logs.join(format!("{name}.log")))
    }

    /// Runs `work` on the blocking pool, a bounded number at a time.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, BackendError> {
        let _permit = self.blocking.acquire().await;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|err| BackendError::Internal(err.to_string()))
    }

    /// Starts watching a sandbox's end, through `leader` or, without one, its group's
    /// members; with `stopping`, for a stop, which then takes its end.
    fn watch(
        self: &Arc<Self>,
        name: Arc<str>,
        session_id: &str,
        pgrp: i32,
        leader: Option<Watch>,
        stopping: bool,
    ) {
        let watched = Watched {
            pgrp,
            session_id: session_id.to_string(),
            ended: false,
            stopping,
            waiters: Vec::new(),
        };
        self.watched().insert(name.clone(), watched);
        let shared = self.clone();
        match leader.map(|leader| self.reaper.add(leader)) {
            Some(Ok(())) => {}
            // The set could not take it: looked at now and then instead.
            Some(Err(leader)) => {
                tokio::spawn(async move {
                    let end = watch::polled(leader).await;
                    shared.ended(name, end);
                });
            }
            None => {
                tokio::spawn(async move {
                    let end = watch::members_gone(pgrp, &name, &shared.records).await;
                    shared.ended(name, end);
                });
            }
        }
    }

    /// Sandbox `name` has ended: its stop, if one waits, is told. Unless a stop owns it, it
    /// ended by itself: what it left is released (its log stays, to be read) and its end is
    /// reported, with how it ended.
    fn ended(self: &Arc<Self>, name: Arc<str>, end: watch::End) {
        let by_itself = {
            let mut watched = self.watched();
            match watched.get_mut(&*name) {
                Some(w) => {
                    w.ended = true;
                    for waiter in w.waiters.drain(..) {
                        let _ = waiter.send(());
                    }
                    if w.stopping {
                        None
                    } else {
                        watched.remove(&*name)
                    }
                }
                None => None,
            }
        };
        let Some(gone) = by_itself else {
            tracing::debug!(sandbox = &*name, how = end.how, "stopped sandbox ended");
            return;
        };
        let shared = self.clone();
        tokio::spawn(async move {
            let _ = shared.sweep(gone.pgrp, &name).await;
            let exit = shared.exit_of(&name, end.ending).await;
            tracing::info!(
                sandbox = &*name,
                how = end.how,
                code = exit.code,
                signal = exit.signal,
                last_lines = ?exit.log_tail,
                "sandbox ended by itself"
            );
            shared.release(&name, false).await;
            let _ = shared.exits.send(Exited {
                session_id: gone.session_id,
                sandbox: name.to_string(),
                exit,
            });
        });
    }

    /// How sandbox `name` ended: as its keeper recorded it, else as `seen` (our child's
    /// status), else unknown; with the last lines of its log.
    async fn exit_of(&self, name: &str, seen: Option<Ending>) -> SandboxExit {
        let files = self.log_files(name);
        let (recorded, tail) = self
            .blocking(move || {
                let kept = log::Reader::open(files.clone())
                    .map(|(_, kept)| kept)
                    .unwrap_or_default();
                (Ending::read(&files.exit), log::ending_tail(&kept))
            })
            .await
            .unwrap_or_default();
        let (code, signal) = match recorded.or(seen) {
            Some(Ending::Exited(code)) => (Some(code), None),
            Some(Ending::Killed(signal)) => (None, Some(signal)),
            None => (None, None),
        };
        SandboxExit {
            code,
            signal,
            ended_at: now_ms() / 1000,
            log_tail: tail,
        }
    }

    /// Takes a watched sandbox over for a stop: where it is and what tells its end.
    fn take_for_stop(&self, name: &str) -> Option<(i32, oneshot::Receiver<()>)> {
        let mut watched = self.watched();
        let w = watched.get_mut(name)?;
        w.stopping = true;
        Some((w.pgrp, w.end()))
    }

    /// Finds a running sandbox nobody watches yet (adopted, an orphan, or one whose record
    /// was lost) and watches it; false when it does not run.
    async fn find_and_watch(
        self: &Arc<Self>,
        name: &str,
        stopping: bool,
    ) -> Result<bool, BackendError> {
        let records = self.records.clone();
        let wanted = name.to_string();
        let found = self
            .blocking(move || {
                let record = records.read(&wanted);
                if let Some(record) = &record {
                    // Opened before the check: the pidfd pins the process, so a match means
                    // it is ours.
                    if let Ok(pidfd) = watch::pidfd_open(record.pid) {
                        if records.leader_is_ours(record) {
                            let pgrp = record.pid as i32;
                            return Some((pgrp, record.session_id.clone(), Some(pidfd)));
                        }
                    }
                }
                let located = records.locate_without_leader(&wanted, record.as_ref())?;
                let session_id = record
                    .map(|r| r.session_id)
                    .or_else(|| procfs::env_var(located as u32, MARK_SESSION))
                    .unwrap_or_default();
                Some((located, session_id, None))
            })
            .await?;
        let Some((pgrp, session_id, pidfd)) = found else {
            return Ok(false);
        };
        let name: Arc<str> = Arc::from(name);
        let leader = pidfd.map(|fd| Watch::adopted(name.clone(), fd));
        self.watch(name, &session_id, pgrp, leader, stopping);
        Ok(true)
    }

    /// Kills what is left of a sandbox once its first process has ended (members that
    /// outlived it, as can happen without a pid namespace): those in its cgroup, or, where it
    /// has none, the members of its group told by their marker, so a group id that was reused
    /// is never signalled.
    async fn sweep(self: &Arc<Self>, pgrp: i32, name: &str) -> Result<(), BackendError> {
        let scattered = self
            .scattered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        // The common case: nothing at all is left in the group.
        if !scattered && matches!(killpg(Pid::from_raw(pgrp), None), Err(nix::Error::ESRCH)) {
            return Ok(());
        }
        let shared = self.clone();
        let sandbox = name.to_string();
        let cleared = self
            .blocking(move || {
                let deadline = std::time::Instant::now() + KILL_WAIT;
                let cgroups = shared.isolation.cgroups.as_ref();
                loop {
                    let left = match cgroups.and_then(|c| c.procs(&sandbox)) {
                        Some(procs) => procs,
                        None if scattered => shared.records.marked(&sandbox),
                        None => shared.records.members(pgrp, &sandbox),
                    };
                    if left.is_empty() {
                        return true;
                    }
                    if std::time::Instant::now() >= deadline {
                        return false;
                    }
                    for pid in left {
                        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
            .await?;
        if !cleared {
            tracing::warn!(
                sandbox = name,
                pgrp,
                "processes of the sandbox outlived it and SIGKILL"
            );
        }
        Ok(())
    }

    /// Removes what a sandbox leaves behind: its record, working directory and cgroups, and,
    /// with `log`, its log.
    async fn release(self: &Arc<Self>, name: &str, log: bool) {
        let shared = self.clone();
        let name = name.to_string();
        let released = self
            .blocking(move || {
                shared.records.remove(&name);
                shared.give_back_uid(&name);
                if log && !shared.log_files(&name).remove() {
                    shared.debris_due.store(true, Ordering::Relaxed);
                }
                let _ = std::fs::remove_dir_all(shared.work.join(&name));
                if let Some(cgroups) = &shared.isolation.cgroups {
                    if !cgroups.remove(&name) {
                        // Still in use: the next removal of debris tries again.
                        shared.debris_due.store(true, Ordering::Relaxed);
                    }
                }
                shared.watched().remove(name.as_str());
            })
            .await;
        if let Err(err) = released {
            tracing::warn!(error = %err, "cannot release a sandbox; orphan-cleanup removes what it left");
        }
    }

    /// Gives the sandbox host uids of its own (where sandboxes get them), then starts it.
    /// `name` is the spec's, made on the runtime's side: what the sandbox keeps for its life
    /// is not made amid a blocking thread's short-lived allocations, which would pin that
    /// thread's allocator arena.
    fn spawn(&self, spec: &SandboxSpec, name: Arc<str>) -> Result<Spawned, BackendError> {
        refuse_image(spec)?;
        if !self.isolation.namespaces && !spec.options.mounts.is_empty() {
            return Err(BackendError::Setup {
                name: spec.name.clone(),
                message: "its template's mount= options need namespaces (--isolation none)".into(),
            });
        }
        let uid = match &self.uids {
            Some(uids) => Some(uids.take(&name).ok_or_else(|| BackendError::Setup {
                name: spec.name.clone(),
                message: format!("every uid of --uid-range {} is taken", uids.range()),
            })?),
            None => None,
        };
        self.spawn_as(spec, uid, name)
            .inspect_err(|_| self.give_back_uid(&spec.name))
    }

    fn give_back_uid(&self, name: &str) {
        if let Some(uids) = &self.uids {
            uids.give_back(name);
        }
    }

    /// Makes the sandbox's directory (owned by its ordinary user, whose host uid follows
    /// `uid`, its root's) and cgroups, starts its keeper and writes its record.
    fn spawn_as(
        &self,
        spec: &SandboxSpec,
        uid: Option<u32>,
        name: Arc<str>,
    ) -> Result<Spawned, BackendError> {
        let spawn_err = |source| BackendError::Spawn {
            name: spec.name.clone(),
            source,
        };
        // Without uids of its own there is no ordinary user: root inside runs everything.
        let user = uid.map(|uid| uid + 1);
        let as_user = user.is_some() && !spec.options.root_inside;
        let workdir = self.work.join(&spec.name);
        std::fs::create_dir(&workdir).map_err(spawn_err)?;
        if let Err(err) = std::os::unix::fs::chown(&workdir, user, user) {
            let _ = std::fs::remove_dir(&workdir);
            return Err(spawn_err(err));
        }
        let (ready, ready_tx) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| spawn_err(e.into()))?;
        let mut cmd = std::process::Command::new(KEEPER_EXE);
        let (memory_mb, nofile, nproc) = rlimits(spec.flavor);
        cmd.arg0("msbd")
            .arg("keeper")
            .args(["--memory-mb", &memory_mb.to_string()])
            .args(["--nofile", &nofile.to_string()])
            .args(["--nproc", &nproc.to_string()])
            .args(["--ready-fd", &READY_FD.to_string()])
            .args(self.isolation.keeper_args())
            .arg("--log")
            .arg(self.log_files(&spec.name).log);
        if self.isolation.namespaces {
            cmd.args(["--isolate", "--hostname", &spec.name])
                .arg("--workdir")
                .arg(&workdir);
        }
        if let (Some(uid), Some(user)) = (uid, user) {
            cmd.args(["--uid", &uid.to_string()])
                .args(["--user-uid", &user.to_string()]);
        }
        if as_user {
            cmd.arg("--as-user");
        }
        if self.isolation.namespaces && spec.options.host_network {
            cmd.arg("--host-network");
        }
        for mount in &spec.options.mounts {
            cmd.arg("--mount").arg(mount.to_string());
        }
        if let Some(cgroups) = &self.isolation.cgroups {
            for dir in cgroups.make(&spec.name, spec.flavor) {
                cmd.arg("--cgroup").arg(dir);
            }
        }
        match &spec.command {
            Command::Idle => {}
            Command::Argv(argv) => {
                cmd.arg("--").args(argv);
            }
            Command::Shell(line) => {
                cmd.args(["--", "/bin/sh", "-c", line]);
            }
            // An image never gets this far: `spawn` refuses it.
            Command::Image(_) => {}
        }
        cmd.current_dir(&workdir)
            .env_clear()
            .env("PATH", SANDBOX_PATH)
            .env("HOME", self.home(&spec.name))
            .env(MARK_INSTANCE, &self.records.instance)
            .env(MARK_SESSION, &spec.session_id)
            .env(MARK_SANDBOX, &spec.name)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        detach(&mut cmd, &ready_tx);
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(source) => {
                let _ = std::fs::remove_dir_all(&workdir);
                if let Some(cgroups) = &self.isolation.cgroups {
                    cgroups.remove(&spec.name);
                }
                return Err(spawn_err(source));
            }
        };
        drop(ready_tx);
        let pid = child.id();
        // The start time is fixed at fork, so reading it now is exact even before exec.
        let start_time = procfs::stat(pid).map(|s| s.start_time).unwrap_or_default();
        let recorded = self.records.write(&Record {
            name: spec.name.clone(),
            session_id: spec.session_id.clone(),
            instance: self.records.instance.clone(),
            pid,
            start_time,
            uid,
            as_user,
            host_network: spec.options.host_network,
        });
        Ok(Spawned {
            name,
            child,
            pid,
            ready,
            recorded,
        })
    }

    /// Stops sandbox `name`: SIGTERM to its group, SIGKILL at the deadline, then releases
    /// what it left.
    async fn stop(
        self: &Arc<Self>,
        name: &str,
        mut deadline: Deadline,
    ) -> Result<Stopped, BackendError> {
        let found = match self.take_for_stop(name) {
            Some(found) => Some(found),
            None if self.find_and_watch(name, true).await? => self.take_for_stop(name),
            None => None,
        };
        let Some((pgrp, mut ended)) = found else {
            self.release(name, true).await;
            return Ok(Stopped::Gone);
        };
        let signal = |sig| match killpg(Pid::from_raw(pgrp), sig) {
            Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
            Err(source) => Err(BackendError::Signal {
                name: name.to_string(),
                source,
            }),
        };
        self.kill_execs(name);
        let how = if ended.try_recv().is_ok() {
            Stopped::Gone
        } else {
            signal(Signal::SIGTERM)?;
            tokio::select! {
                _ = &mut ended => Stopped::Graceful,
                () = deadline.reached() => Stopped::Killed,
            }
        };
        if how == Stopped::Killed {
            signal(Signal::SIGKILL)?;
            if timeout(KILL_WAIT, &mut ended).await.is_err() {
                if let Some(w) = self.watched().get_mut(name) {
                    // Its end, whenever it comes, is reported like any other.
                    w.stopping = false;
                }
                return Err(BackendError::Unkillable {
                    name: name.to_string(),
                });
            }
        }
        self.sweep(pgrp, name).await?;
        self.release(name, true).await;
        Ok(how)
    }
}

/// The configuration refuses image templates for this backend; this says so again should one
/// reach it.
fn refuse_image(spec: &SandboxSpec) -> Result<(), BackendError> {
    match spec.command {
        Command::Image(_) => Err(BackendError::Refused(format!(
            "template '{}' names an image, which only --backend msb boots",
            spec.template
        ))),
        _ => Ok(()),
    }
}

impl Backend for ProcessBackend {
    fn name(&self) -> &'static str {
        "process"
    }

    fn health(&self) -> BackendHealth {
        // Needs nothing of the host; what isolation it gets is in the resources report.
        BackendHealth::unchecked()
    }

    fn admits(&self, spec: &SandboxSpec) -> Result<(), BackendError> {
        refuse_image(spec)
    }

    fn touch(&self, _names: Vec<String>) -> BoxFuture<'_, Result<(), BackendError>> {
        // Its sandboxes have no idle clock of their own: msbd's is the only one.
        Box::pin(async { Ok(()) })
    }

    fn create(&self, spec: SandboxSpec) -> BoxFuture<'_, Result<SandboxInfo, BackendError>> {
        Box::pin(async move {
            let shared = self.shared.clone();
            let spawned = {
                let spec = spec.clone();
                let name = Arc::from(spec.name.as_str());
                self.shared
                    .blocking(move || shared.spawn(&spec, name))
                    .await??
            };
            let Spawned {
                name,
                child,
                pid,
                ready,
                recorded,
            } = spawned;
            // Reaped by the watch, through its pid.
            drop(child);
            self.shared.watch(
                name.clone(),
                &spec.session_id,
                pid as i32,
                Some(Watch::child(name, pid)),
                false,
            );
            let started = match recorded {
                Ok(()) => wait_ready(ready).await,
                Err(err) => Err(err.to_string()),
            };
            match started {
                Ok(()) => Ok(SandboxInfo {
                    name: spec.name,
                    session_id: spec.session_id,
                    pid: Some(pid),
                }),
                Err(message) => {
                    let _ = self
                        .shared
                        .stop(&spec.name, Deadline::fixed(Instant::now()))
                        .await;
                    Err(BackendError::Setup {
                        name: spec.name,
                        message,
                    })
                }
            }
        })
    }

    fn stop<'a>(
        &'a self,
        name: &'a str,
        deadline: Deadline,
    ) -> BoxFuture<'a, Result<Stopped, BackendError>> {
        Box::pin(self.shared.stop(name, deadline))
    }

    fn adopt<'a>(&'a self, sandbox: &'a SandboxInfo) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            if self.shared.watched().contains_key(sandbox.name.as_str()) {
                return Ok(());
            }
            if !self.shared.find_and_watch(&sandbox.name, false).await? {
                // It ended between the listing and now: report it like any other end.
                let exit = self.shared.exit_of(&sandbox.name, None).await;
                let _ = self.shared.exits.send(Exited {
                    session_id: sandbox.session_id.clone(),
                    sandbox: sandbox.name.clone(),
                    exit,
                });
            }
            Ok(())
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<SandboxInfo>, BackendError>> {
        let shared = self.shared.clone();
        Box::pin(async move { self.shared.blocking(move || shared.running()).await? })
    }

    fn inspect<'a>(&'a self, name: &'a str) -> BoxFuture<'a, SandboxState> {
        Box::pin(async move {
            let watched = self.shared.watched().get(name).map(|w| (w.pgrp, w.ended));
            let records = self.shared.records.clone();
            let workdir = self.shared.work.join(name);
            let wanted = name.to_string();
            let (pgrp, workdir, host_network) = self
                .shared
                .blocking(move || {
                    let pgrp = match watched {
                        Some((pgrp, ended)) => (!ended).then_some(pgrp),
                        None => records.locate(&wanted),
                    };
                    let host_network = records.read(&wanted).is_some_and(|r| r.host_network);
                    (pgrp, Some(workdir).filter(|dir| dir.exists()), host_network)
                })
                .await
                .unwrap_or((None, None, false));
            let isolation = self.shared.isolation.name();
            SandboxState {
                running: pgrp.is_some(),
                pid: pgrp.map(|p| p as u32),
                workdir,
                isolation: if host_network && self.shared.isolation.namespaces {
                    format!("{isolation}, host network")
                } else {
                    isolation.into()
                },
            }
        })
    }

    fn open_log<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<OpenedLog, BackendError>> {
        let files = self.shared.log_files(name);
        Box::pin(async move {
            let (reader, kept) = self
                .shared
                .blocking(move || log::Reader::open(files))
                .await?
                .map_err(|source| BackendError::Log {
                    name: name.to_string(),
                    source,
                })?;
            Ok((Box::new(reader) as Box<dyn log::Follow>, kept))
        })
    }

    fn discard<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ()> {
        let files = self.shared.log_files(name);
        Box::pin(async move {
            let removed = self.shared.blocking(move || files.remove()).await;
            if !removed.unwrap_or(false) {
                self.shared.debris_due.store(true, Ordering::Relaxed);
            }
        })
    }

    fn remove_debris(
        &self,
        live: Vec<SandboxInfo>,
        keep: Keep,
    ) -> BoxFuture<'_, Result<u64, BackendError>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            self.shared
                .blocking(move || shared.remove_debris(&live, keep.as_ref()))
                .await?
        })
    }

    fn fds_per_sandbox(&self) -> u64 {
        FDS_PER_SANDBOX
    }

    fn exec<'a>(
        &'a self,
        name: &'a str,
        spec: ExecSpec,
    ) -> BoxFuture<'a, Result<Running, BackendError>> {
        Box::pin(self.shared.exec(name, spec))
    }
}

impl Shared {
    /// The running sandboxes, found without looking at every process of the host: those
    /// whose end is watched and not seen yet, and those with a record nobody watches whose
    /// leader is ours. /proc is searched by the marker only when something hints at a sandbox
    /// these miss (a record whose leader is gone, a partial record, a working directory
    /// nobody accounts for: a lost record), or when it was last searched
    /// `SCAN_AT_LEAST_EVERY` ago.
    fn running(&self) -> Result<Vec<SandboxInfo>, BackendError> {
        let files = self.records.files()?;
        let workdirs = dir_names(&self.work);
        let (mut found, watched): (HashMap<String, SandboxInfo>, HashSet<String>) = {
            let watched = self.watched();
            let found = watched
                .iter()
                .filter(|(_, w)| !w.ended)
                .map(|(name, w)| {
                    let info = SandboxInfo {
                        name: name.to_string(),
                        session_id: w.session_id.clone(),
                        pid: Some(w.pgrp as u32),
                    };
                    (name.to_string(), info)
                })
                .collect();
            (found, watched.keys().map(|name| name.to_string()).collect())
        };
        let mut hint = false;
        for file in &files {
            if watched.contains(&file.name) {
                continue;
            }
            if file.partial {
                // A create under way, or one a crash cut short between starting the keeper
                // and naming its record: then only the marker finds what it started.
                hint = true;
                continue;
            }
            match self.records.read(&file.name) {
                Some(record) if self.records.leader_is_ours(&record) => {
                    let info = SandboxInfo {
                        name: record.name,
                        session_id: record.session_id,
                        pid: Some(record.pid),
                    };
                    found.insert(file.name.clone(), info);
                }
                // Its members may live on without it, or it is debris.
                _ => hint = true,
            }
        }
        let recorded: HashSet<&str> = files.iter().map(|f| f.name.as_str()).collect();
        hint |= workdirs
            .iter()
            .any(|name| !watched.contains(name) && !recorded.contains(name.as_str()));
        let mut scanned = self.scanned.lock().unwrap_or_else(|e| e.into_inner());
        if hint || scanned.elapsed() >= SCAN_AT_LEAST_EVERY {
            *scanned = std::time::Instant::now();
            drop(scanned);
            self.debris_due.store(true, Ordering::Relaxed);
            for sandbox in self.records.scan() {
                found.entry(sandbox.name.clone()).or_insert(sandbox);
            }
        }
        *self.listed.lock().unwrap_or_else(|e| e.into_inner()) = Some(Listing { files, workdirs });
        let mut found: Vec<SandboxInfo> = found.into_values().collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    /// Removes records, partial records, working directories, logs and cgroups that belong to
    /// no running sandbox and that `keep` does not claim; returns how many. Everything is listed
    /// before `keep` is asked, so a sandbox whose session is being created right now is
    /// always claimed by the time its directory could be seen (the records and working
    /// directories `running` listed just before serve). Only the records nothing claims are
    /// read, and the logs and cgroups are listed only when `debris_due` says so.
    fn remove_debris(
        &self,
        live: &[SandboxInfo],
        keep: &(dyn Fn(&str) -> bool + Send + Sync),
    ) -> Result<u64, BackendError> {
        let listed = self.listed.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Listing {
            files: records,
            workdirs,
        } = match listed {
            Some(listed) => listed,
            None => Listing {
                files: self.records.files()?,
                workdirs: dir_names(&self.work),
            },
        };
        let due = self.debris_due.swap(false, Ordering::Relaxed);
        let logs = if due {
            dir_names(&self.logs)
        } else {
            Vec::new()
        };
        let cgroups = self
            .isolation
            .cgroups
            .as_ref()
            .filter(|_| due)
            .map(Cgroups::sandboxes)
            .unwrap_or_default();
        let mut running: HashSet<String> =
            self.watched().keys().map(|name| name.to_string()).collect();
        running.extend(live.iter().map(|s| s.name.clone()));
        let claimed = |name: &str| running.contains(name) || keep(name);
        let mut removed = 0;
        for file in records {
            let name = &file.name;
            let stale = if file.partial {
                // Written and renamed by a create before its sandbox is watched or seen
                // running: once it is, or when no create claims it, a partial record is left
                // over from a crash.
                running.contains(name) || !keep(name)
            } else {
                !claimed(name)
                    && !self
                        .records
                        .read(name)
                        .is_some_and(|r| self.records.leader_is_ours(&r))
            };
            if stale && std::fs::remove_file(&file.path).is_ok() {
                self.give_back_uid(name);
                tracing::info!(path = %file.path.display(), "removed a sandbox record nothing owns");
                removed += 1;
            }
        }
        for name in workdirs.iter().filter(|name| !claimed(name)) {
            let dir = self.work.join(name);
            if std::fs::remove_dir_all(&dir).is_ok() {
                tracing::info!(dir = %dir.display(), "removed a working directory nothing owns");
                removed += 1;
            }
        }
        for file in logs {
            if log::sandbox_of(&file).is_none_or(&claimed) {
                continue;
            }
            let path = self.logs.join(&file);
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(file = %path.display(), "removed a log nothing owns");
                    removed += 1;
                }
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    self.debris_due.store(true, Ordering::Relaxed);
                }
                Err(_) => {}
            }
        }
        if let Some(groups) = &self.isolation.cgroups {
            for name in cgroups.iter().filter(|name| !claimed(name)) {
                if groups.remove(name) {
                    tracing::info!(sandbox = %name, "removed cgroups nothing owns");
                    removed += 1;
                } else {
                    self.debris_due.store(true, Ordering::Relaxed);
                }
            }
        }
        Ok(removed)
    }
}

/// The record files and working directories of one look at the state dir.
struct Listing {
    files: Vec<RecordFile>,
    workdirs: Vec<String>,
}

/// The names of the entries of `dir`; none when it cannot be read.
fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Starts the keeper in a session of its own, with the readiness pipe `ready_tx` at
/// `READY_FD` (which its arguments name) and nothing else of msbd's.
fn detach(cmd: &mut std::process::Command, ready_tx: &OwnedFd) {
    let ready_raw = ready_tx.as_raw_fd();
    // SAFETY: setsid, dup2, fcntl and close_range are async-signal-safe and touch no
    // memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            // dup2 clears close-on-exec on the copy; a pipe already at 3 keeps its flag.
            let done = if ready_raw == READY_FD {
                nix::libc::fcntl(READY_FD, nix::libc::F_SETFD, 0)
            } else {
                nix::libc::dup2(ready_raw, READY_FD)
            };
            if done < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Nothing else msbd holds or was started with (a build's jobserver pipe, a
            // service manager's sockets) reaches the sandbox.
            let above = (READY_FD + 1) as nix::libc::c_uint;
            nix::libc::syscall(
                nix::libc::SYS_close_range,
                above,
                nix::libc::c_uint::MAX,
                nix::libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
}

/// Waits for the keeper to report: the pipe closing unread means the command was started;
/// text is the error that stopped it.
async fn wait_ready(ready: OwnedFd) -> Result<(), String> {
    let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(ready)
        .map_err(|e| format!("cannot read the keeper's readiness: {e}"))?;
    let mut message = Vec::new();
    match timeout(READY_WAIT, (&mut pipe).take(4096).read_to_end(&mut message)).await {
        Err(_) => Err(format!("it did not start within {}s", READY_WAIT.as_secs())),
        Ok(Err(err)) => Err(format!("cannot read the keeper's readiness: {err}")),
        Ok(Ok(_)) if message.is_empty() => Ok(()),
        Ok(Ok(_)) => Err(String::from_utf8_lossy(&message).into_owned()),
    }
}
