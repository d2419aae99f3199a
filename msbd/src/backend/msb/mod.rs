//! The msb backend: each sandbox is a microVM of microsandbox, driven through its `msb`
//! command line (0.7). Every call goes through `runner` (a clean environment, bounded, each
//! with a time limit) and every failure is reported with the command, how it ended and what
//! it said. Ownership is by labels (`labels`); whether the host can boot microVMs at all is
//! `msb doctor`'s to say (`doctor`).
//!
//! msbd remembers what it knows of its sandboxes (`Known`): whose they are, whether they
//! ended when last listed, whether a session watches them or a stop owns them. A sandbox that
//! ends by itself is seen by `watch` and reported like the process backend's: its log is
//! kept, the sandbox removed, its session ended.
//!
//! The image's idle clock (`msb create --idle-timeout`) is set to the spec's `idle_limit`,
//! longer than msbd ever keeps an untouched session, and msbd's touches are passed on (`msb
//! touch`): expiry stays msbd's, and should msbd be gone for good, its microVMs stop
//! themselves rather than run on.

mod copy;
mod doctor;
mod exec;
mod labels;
mod lifecycle;
mod logs;
mod runner;
mod watch;

pub use runner::{locate, MsbFailure, MsbSettings};

use super::log::{self, Follow, LogFiles};
use super::{
    BackendError, BoxFuture, Command, ExecSpec, Exited, Keep, OpenedLog, Running, SandboxInfo,
    SandboxSpec, SandboxState, Stopped,
};
use crate::deadline::Deadline;
use doctor::Verdict;
use msb_proto::{BackendHealth, Health};
use runner::Runner;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, Notify};

/// What msbd knows of one of its sandboxes.
#[derive(Debug, Clone, Default)]
struct Known {
    session_id: String,
    /// It had ended when last listed (or inspected).
    ended: bool,
    /// A session (created or adopted) waits to hear of its end.
    watched: bool,
    /// Being made: not listed yet perhaps, and not to be forgotten meanwhile.
    creating: bool,
    /// A stop owns it, and with it its end.
    stopping: bool,
}

pub struct MsbBackend {
    shared: Arc<Shared>,
}

struct Shared {
    runner: Arc<Runner>,
    instance: String,
    /// Told when a sandbox ends by itself, not through a stop.
    exits: mpsc::UnboundedSender<Exited>,
    /// `msb doctor`'s last verdict. A plain mutex: read and replaced, never held across
    /// `.await`.
    verdict: Mutex<Verdict>,
    /// What msbd knows of its sandboxes, by name.
    known: Mutex<HashMap<String, Known>>,
    /// Wakes the watcher when a sandbox is first watched.
    watch_wake: Notify,
    /// Logs of sandboxes that ended by themselves, kept for their ended sessions.
    logs: PathBuf,
    /// Where copies are staged on their way in or out.
    staging: PathBuf,
    /// The staging directories of copies under way, which debris removal leaves alone.
    copying: Mutex<HashSet<PathBuf>>,
}

impl MsbBackend {
    /// Asks `msb doctor`, and starts watching for sandboxes that end by themselves.
    /// `instance` is the daemon's identity; `state_dir` keeps ended sandboxes' logs and
    /// staged copies.
    pub async fn start(
        instance: String,
        state_dir: &Path,
        settings: MsbSettings,
        exits: mpsc::UnboundedSender<Exited>,
    ) -> std::io::Result<Self> {
        let dir = state_dir.join("msb");
        let (logs, staging) = (dir.join("logs"), dir.join("staging"));
        for dir in [&logs, &staging] {
            std::fs::create_dir_all(dir)?;
        }
        let runner = Arc::new(Runner::new(settings, |name| std::env::var_os(name)));
        let verdict = doctor::check(&runner).await;
        let shared = Arc::new(Shared {
            runner,
            instance,
            exits,
            verdict: Mutex::new(verdict),
            known: Mutex::new(HashMap::new()),
            watch_wake: Notify::new(),
            logs,
            staging,
            copying: Mutex::new(HashSet::new()),
        });
        tokio::spawn(watch::ends(shared.clone()));
        tokio::spawn(shared.clone().recheck());
        Ok(Self { shared })
    }

    /// How sandboxes are isolated here, for `status`.
    pub fn isolation(&self) -> String {
        format!(
            "microVMs of microsandbox ({})",
            self.shared.runner.path().display()
        )
    }
}

impl Shared {
    fn known(&self) -> MutexGuard<'_, HashMap<String, Known>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn verdict(&self) -> Verdict {
        self.verdict
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Asks doctor again every `doctor::RECHECK` while it fails.
    async fn recheck(self: Arc<Self>) {
        loop {
            tokio::time::sleep(doctor::RECHECK).await;
            if self.verdict().reason.is_some() {
                let verdict = doctor::check(&self.runner).await;
                if verdict.reason.is_none() {
                    tracing::info!("msb doctor now says this host can boot microVMs");
                }
                *self.verdict.lock().unwrap_or_else(|e| e.into_inner()) = verdict;
            }
        }
    }

    /// Where the log of sandbox `name` is kept once it has ended by itself.
    fn kept_log(&self, name: &str) -> LogFiles {
        LogFiles::of(&self.logs.join(format!("{name}.log")))
    }

    /// This instance's sandboxes as `msb ls` lists them.
    async fn listing(&self) -> Result<Vec<labels::Listed>, BackendError> {
        let answer = self.runner.run(&labels::listing(&self.instance)).await?;
        labels::parse_listing(&answer.stdout).map_err(BackendError::Internal)
    }

    /// This instance's sandboxes, with their sessions (from what msbd knows, else from
    /// `msb inspect`); what msbd knows follows the listing.
    async fn list(&self) -> Result<Vec<SandboxInfo>, BackendError> {
        let listed = self.listing().await?;
        let mut found = Vec::new();
        for sandbox in &listed {
            let session = self
                .known()
                .get(&sandbox.name)
                .map(|k| k.session_id.clone());
            let session = match session {
                Some(session) => session,
                None => match self.owner(&sandbox.name).await? {
                    Some(session) => session,
                    // Gone since the listing, or not ours after all.
                    None => continue,
                },
            };
            self.known()
                .entry(sandbox.name.clone())
                .or_insert_with(|| Known {
                    session_id: session.clone(),
                    ..Known::default()
                })
                .ended = sandbox.ended();
            found.push(SandboxInfo {
                name: sandbox.name.clone(),
                session_id: session,
                pid: None,
            });
        }
        let names: HashSet<&str> = listed.iter().map(|s| s.name.as_str()).collect();
        self.known()
            .retain(|name, known| known.creating || names.contains(name.as_str()));
        Ok(found)
    }

    /// The session of sandbox `name`, if it is this instance's; `None` if it is gone.
    async fn owner(&self, name: &str) -> Result<Option<String>, BackendError> {
        let args = ["inspect", name, "--format", "json"].map(String::from);
        match self.runner.run(&args).await {
            Ok(answer) => Ok(labels::parse_inspect(&answer.stdout, &self.instance)
                .map_err(BackendError::Internal)?
                .session),
            Err(failure) if failure.not_found() => Ok(None),
            Err(failure) => Err(failure.into()),
        }
    }

    /// Refuses every create while doctor says this host cannot boot microVMs, and a
    /// template that names no image.
    fn admits(&self, spec: &SandboxSpec) -> Result<(), BackendError> {
        if let Some(reason) = self.verdict().reason {
            return Err(BackendError::Refused(format!(
                "{} says this host cannot boot microVMs: {reason}",
                doctor::COMMAND
            )));
        }
        match spec.command {
            Command::Image(_) => Ok(()),
            _ => Err(BackendError::Refused(format!(
                "template '{0}' names no image, and the msb backend boots images: give it \
                 one with --template {0}=image:REF (an OCI reference or a root filesystem \
                 directory)",
                spec.template
            ))),
        }
    }

    /// Refuses a command or a copy in sandbox `name` unless it runs: `msb exec` and `msb
    /// copy` would boot a stopped sandbox again.
    fn running(&self, name: &str) -> Result<(), BackendError> {
        match self.known().get(name) {
            Some(k) if !k.ended && !k.stopping && !k.creating => Ok(()),
            _ => Err(BackendError::NotRunning {
                name: name.to_string(),
            }),
        }
    }
}

impl super::Backend for MsbBackend {
    fn name(&self) -> &'static str {
        "msb"
    }

    fn health(&self) -> BackendHealth {
        let verdict = self.shared.verdict();
        BackendHealth {
            health: match verdict.reason {
                Some(_) => Health::Degraded,
                None => Health::Healthy,
            },
            check: Some(doctor::COMMAND.to_string()),
            reason: verdict.reason,
            checked_at: Some(verdict.checked_at),
        }
    }

    fn admits(&self, spec: &SandboxSpec) -> Result<(), BackendError> {
        self.shared.admits(spec)
    }

    fn create(&self, spec: SandboxSpec) -> BoxFuture<'_, Result<SandboxInfo, BackendError>> {
        Box::pin(self.shared.create(spec))
    }

    fn touch(&self, names: Vec<String>) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let args: Vec<String> = std::iter::once("touch".to_string()).chain(names).collect();
            self.shared.runner.run(&args).await?;
            Ok(())
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
            self.shared
                .known()
                .entry(sandbox.name.clone())
                .or_insert_with(|| Known {
                    session_id: sandbox.session_id.clone(),
                    ..Known::default()
                })
                .watched = true;
            // One that ended meanwhile is reported by the watcher's next look.
            self.shared.watch_wake.notify_one();
            Ok(())
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<SandboxInfo>, BackendError>> {
        Box::pin(self.shared.list())
    }

    fn inspect<'a>(&'a self, name: &'a str) -> BoxFuture<'a, SandboxState> {
        Box::pin(async move {
            let args = ["inspect", name, "--format", "json"].map(String::from);
            let running = match self.shared.runner.run(&args).await {
                Ok(answer) => labels::parse_inspect(&answer.stdout, &self.shared.instance)
                    .is_ok_and(|owned| !labels::ended(&owned.status)),
                Err(_) => false,
            };
            SandboxState {
                running,
                pid: None,
                workdir: None,
                isolation: "microVM".into(),
            }
        })
    }

    fn open_log<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<OpenedLog, BackendError>> {
        Box::pin(async move {
            let files = self.shared.kept_log(name);
            if files.log.exists() {
                // It ended by itself: its log is msbd's now, and grows no more.
                let (reader, kept) = tokio::task::spawn_blocking(move || log::Reader::open(files))
                    .await
                    .map_err(|err| BackendError::Internal(err.to_string()))?
                    .map_err(|source| BackendError::Log {
                        name: name.to_string(),
                        source,
                    })?;
                return Ok((Box::new(reader) as Box<dyn Follow>, kept));
            }
            let (kept, seen) = logs::snapshot(&self.shared.runner, name).await?;
            let follower = logs::Follower::new(self.shared.runner.clone(), name, seen);
            Ok((Box::new(follower) as Box<dyn Follow>, kept))
        })
    }

    fn discard<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ()> {
        let files = self.shared.kept_log(name);
        Box::pin(async move {
            let _ = tokio::task::spawn_blocking(move || files.remove()).await;
        })
    }

    fn remove_debris(
        &self,
        live: Vec<SandboxInfo>,
        keep: Keep,
    ) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(self.shared.clone().remove_debris(live, keep))
    }

    fn fds_per_sandbox(&self) -> u64 {
        // A microVM holds none of msbd's descriptors between calls.
        0
    }

    fn exec<'a>(
        &'a self,
        name: &'a str,
        spec: ExecSpec,
    ) -> BoxFuture<'a, Result<Running, BackendError>> {
        Box::pin(self.shared.clone().exec(name, spec))
    }
}

impl Shared {
    /// Removes what ended sandboxes left that no session claims: the sandboxes msb keeps
    /// `Stopped` or `Crashed` (a create that failed and could not remove its sandbox, a
    /// sandbox that ended while no msbd ran), the logs kept of sandboxes that ended by
    /// themselves, and staged copies a crash left. Returns how many.
    async fn remove_debris(
        self: Arc<Self>,
        live: Vec<SandboxInfo>,
        keep: Keep,
    ) -> Result<u64, BackendError> {
        let ended: Vec<String> = {
            let known = self.known();
            live.iter()
                .filter(|s| {
                    known
                        .get(&s.name)
                        .is_some_and(|k| k.ended && !k.watched && !k.stopping && !k.creating)
                })
                .filter(|s| !keep(&s.name))
                .map(|s| s.name.clone())
                .collect()
        };
        let mut removed = 0;
        let mut failures = Vec::new();
        for name in ended {
            let args = ["rm", "-f", &name].map(String::from);
            match self.runner.run(&args).await {
                Ok(_) => {
                    tracing::info!(sandbox = %name, "removed an ended sandbox nothing owns");
                    self.known().remove(&name);
                    removed += 1;
                }
                Err(failure) if failure.not_found() => {
                    self.known().remove(&name);
                }
                Err(failure) => failures.push(failure),
            }
        }
        let shared = self.clone();
        removed += tokio::task::spawn_blocking(move || shared.remove_files(keep.as_ref()))
            .await
            .map_err(|err| BackendError::Internal(err.to_string()))?;
        match failures.into_iter().next() {
            Some(failure) => Err(failure.into()),
            None => Ok(removed),
        }
    }

    /// Kept logs nothing claims, and staging directories of no copy under way.
    fn remove_files(&self, keep: &(dyn Fn(&str) -> bool + Send + Sync)) -> u64 {
        let listed = |dir: &Path| -> Vec<PathBuf> {
            std::fs::read_dir(dir)
                .map(|dir| dir.flatten().map(|e| e.path()).collect())
                .unwrap_or_default()
        };
        let mut removed = 0;
        for file in listed(&self.logs) {
            let Some(name) = file
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(log::sandbox_of)
            else {
                continue;
            };
            if !keep(name) && std::fs::remove_file(&file).is_ok() {
                tracing::info!(file = %file.display(), "removed a log nothing owns");
                removed += 1;
            }
        }
        // Listed before the copies under way are asked, so one that starts meanwhile is
        // always claimed by the time its directory could be seen.
        let staged = listed(&self.staging);
        let copying = self
            .copying
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for dir in staged {
            if !copying.contains(&dir) && std::fs::remove_dir_all(&dir).is_ok() {
                tracing::info!(dir = %dir.display(), "removed a staged copy nothing owns");
                removed += 1;
            }
        }
        removed
    }
}

/// What the real msb wrote (tests/msb/fixtures, each with the command that made it).
#[cfg(test)]
fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../tests/msb/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}
