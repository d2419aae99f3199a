//! Making and ending sandboxes: `msb create` (then `msb rm -f` after any failure, so that a
//! failed create leaves nothing), stops (`msb stop -t GRACE`, `msb stop -f` at the
//! deadline, then `msb rm`), and the end of a sandbox that stopped by itself (its log kept,
//! the sandbox removed, its session told).

use super::labels;
use super::logs;
use super::{Known, Shared};
use crate::backend::log::ending_tail;
use crate::backend::{BackendError, Command, Exited, SandboxInfo, SandboxSpec, Stopped};
use crate::clock::now_ms;
use crate::deadline::Deadline;
use msb_proto::SandboxExit;
use std::sync::Arc;
use tokio::time::Instant;

/// `msb create` for `spec`, booting `image`.
fn create_args(spec: &SandboxSpec, image: &str, instance: &str) -> Vec<String> {
    let idle_secs = spec.idle_limit.as_secs().max(1);
    ["create", image, "-n", &spec.name]
        .map(String::from)
        .into_iter()
        .chain(labels::marks(instance, &spec.session_id))
        .chain([
            "-c".into(),
            spec.flavor.cpus().to_string(),
            "-m".into(),
            format!("{}M", spec.flavor.memory_mb()),
            "--idle-timeout".into(),
            format!("{idle_secs}s"),
            "-q".into(),
        ])
        .collect()
}

impl Shared {
    /// Boots `spec`'s image and returns once the microVM is up.
    pub(super) async fn create(&self, spec: SandboxSpec) -> Result<SandboxInfo, BackendError> {
        self.admits(&spec)?;
        let Command::Image(image) = &spec.command else {
            return Err(BackendError::Internal(
                "an admitted spec without an image".into(),
            ));
        };
        let args = create_args(&spec, image, &self.instance);
        self.known().insert(
            spec.name.clone(),
            Known {
                session_id: spec.session_id.clone(),
                creating: true,
                ..Known::default()
            },
        );
        if let Err(failure) = self.runner.run(&args).await {
            // msb keeps the sandbox of a failed create, `Stopped`; nothing of it may stay.
            let rm = ["rm", "-f", &spec.name].map(String::from);
            match self.runner.run(&rm).await {
                Ok(_) => {
                    self.known().remove(&spec.name);
                }
                Err(gone) if gone.not_found() => {
                    self.known().remove(&spec.name);
                }
                Err(left) => {
                    // Listed as ended, it is removed by orphan-cleanup as debris.
                    tracing::warn!(sandbox = %spec.name, error = %left, "cannot remove the sandbox of a failed create");
                    if let Some(known) = self.known().get_mut(&spec.name) {
                        known.creating = false;
                        known.ended = true;
                    }
                }
            }
            return Err(failure.into());
        }
        if let Some(known) = self.known().get_mut(&spec.name) {
            known.creating = false;
            known.watched = true;
        }
        self.watch_wake.notify_one();
        Ok(SandboxInfo {
            name: spec.name,
            session_id: spec.session_id,
            pid: None,
        })
    }

    /// Stops sandbox `name` (politely, forced at the deadline) and removes it; forgets its
    /// kept log.
    pub(super) async fn stop(
        &self,
        name: &str,
        deadline: Deadline,
    ) -> Result<Stopped, BackendError> {
        let ended = {
            let mut known = self.known();
            let known = known.entry(name.to_string()).or_default();
            known.stopping = true;
            known.ended
        };
        let stopped = self.bring_down(name, deadline, ended).await;
        match &stopped {
            Ok(_) => {
                self.known().remove(name);
                let files = self.kept_log(name);
                let _ = tokio::task::spawn_blocking(move || files.remove()).await;
            }
            Err(_) => {
                if let Some(known) = self.known().get_mut(name) {
                    // Its end, whenever it comes, is reported like any other.
                    known.stopping = false;
                }
            }
        }
        stopped
    }

    async fn bring_down(
        &self,
        name: &str,
        deadline: Deadline,
        ended: bool,
    ) -> Result<Stopped, BackendError> {
        let how = if ended {
            Stopped::Gone
        } else {
            match self.halt(name, deadline).await? {
                Some(how) => how,
                // msb has no such sandbox: nothing to remove either.
                None => return Ok(Stopped::Gone),
            }
        };
        match self.runner.run(&["rm", name].map(String::from)).await {
            Ok(_) => Ok(how),
            Err(failure) if failure.not_found() => Ok(how),
            Err(failure) => Err(failure.into()),
        }
    }

    /// `msb stop -t` with what is left until the deadline, `msb stop -f` once it has passed
    /// (or the polite stop failed); `None` when msb has no such sandbox.
    async fn halt(
        &self,
        name: &str,
        mut deadline: Deadline,
    ) -> Result<Option<Stopped>, BackendError> {
        let left = deadline.when().saturating_duration_since(Instant::now());
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        if secs > 0 {
            let polite = ["stop", "-t", &secs.to_string(), name].map(String::from);
            // Its own limit is the deadline, which the select below keeps; the runner's
            // only backs it.
            let limit = left + self.runner.timeout();
            tokio::select! {
                stopped = self.runner.run_within(&polite, limit) => match stopped {
                    Ok(_) => return Ok(Some(Stopped::Graceful)),
                    Err(failure) if failure.not_found() => return Ok(None),
                    Err(failure) => {
                        tracing::info!(sandbox = name, error = %failure, "the polite stop failed; forcing it");
                    }
                },
                () = deadline.reached() => {}
            }
        }
        match self
            .runner
            .run(&["stop", "-f", name].map(String::from))
            .await
        {
            Ok(_) => Ok(Some(Stopped::Killed)),
            Err(failure) if failure.not_found() => Ok(None),
            Err(failure) => Err(failure.into()),
        }
    }

    /// Sandbox `name` of session `session_id` ended by itself: keeps its log, removes it,
    /// and reports its end (how it ended, msb does not say).
    pub(super) async fn ended_by_itself(self: Arc<Self>, name: String, session_id: String) {
        let kept = match logs::snapshot(&self.runner, &name).await {
            Ok((kept, _)) => kept,
            Err(failure) => {
                tracing::warn!(sandbox = %name, error = %failure, "cannot read the log of a sandbox that ended");
                Vec::new()
            }
        };
        let files = self.kept_log(&name);
        let log = kept.clone();
        let written = tokio::task::spawn_blocking(move || std::fs::write(&files.log, log)).await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::warn!(sandbox = %name, "cannot keep the log of a sandbox that ended");
        }
        match self
            .runner
            .run(&["rm", "-f", &name].map(String::from))
            .await
        {
            Ok(_) => {}
            Err(failure) if failure.not_found() => {}
            Err(failure) => {
                tracing::warn!(sandbox = %name, error = %failure, "cannot remove a sandbox that ended; orphan-cleanup removes it");
            }
        }
        let exit = SandboxExit {
            code: None,
            signal: None,
            ended_at: now_ms() / 1000,
            log_tail: ending_tail(&kept),
        };
        let reported = {
            let mut known = self.known();
            match known.get(&name) {
                // A stop took it over meanwhile: the stop tells its end.
                Some(k) if k.stopping => false,
                _ => {
                    known.remove(&name);
                    true
                }
            }
        };
        if reported {
            tracing::info!(sandbox = %name, last_lines = ?exit.log_tail, "sandbox ended by itself");
            let _ = self.exits.send(Exited {
                session_id,
                sandbox: name,
                exit,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template_options::TemplateOptions;
    use msb_proto::Flavor;
    use std::time::Duration;

    #[test]
    fn a_create_carries_the_labels_the_flavor_and_the_idle_limit() {
        let spec = SandboxSpec {
            name: "msb-s1-abc".into(),
            session_id: "s1".into(),
            template: "py".into(),
            command: Command::Image("python:3.12".into()),
            options: TemplateOptions::default(),
            flavor: Flavor::Medium,
            idle_limit: Duration::from_millis(5_400_500),
        };
        assert_eq!(
            create_args(&spec, "python:3.12", "i1").join(" "),
            "create python:3.12 -n msb-s1-abc --label msbd.instance=i1 --label msbd.session=s1 \
             -c 2 -m 2048M --idle-timeout 5400s -q"
        );
    }
}
