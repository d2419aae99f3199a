//! What this host offers to isolate sandboxes, found out once at start-up: fresh namespaces
//! (probed by starting a keeper that makes them), cgroup v1 memory and cpu controllers, and
//! rlimits, which every Linux host has.

use msb_proto::Flavor;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IsolationMode {
    /// Namespaces where the host allows them, with a warning where it does not.
    Auto,
    /// Namespaces, or refuse to start.
    Namespaces,
    /// No namespaces.
    None,
}

#[derive(Debug)]
pub struct Isolation {
    pub namespaces: bool,
    pub cgroups: Option<Cgroups>,
}

impl Isolation {
    pub fn detect(mode: IsolationMode, instance: &str) -> Result<Self, String> {
        let namespaces = match mode {
            IsolationMode::None => false,
            IsolationMode::Namespaces => {
                probe().map_err(|why| {
                    format!("--isolation namespaces, but this host cannot make them: {why}")
                })?;
                true
            }
            IsolationMode::Auto => match probe() {
                Ok(()) => true,
                Err(why) => {
                    tracing::warn!(%why, "namespaces are not available; sandboxes run without them");
                    false
                }
            },
        };
        Ok(Self {
            namespaces,
            cgroups: Cgroups::detect(Path::new(CGROUP_ROOT), instance),
        })
    }

    /// `namespaces` or `none`.
    pub fn name(&self) -> &'static str {
        if self.namespaces {
            "namespaces"
        } else {
            "none"
        }
    }

    /// One line for `status`: namespaces, cgroups, rlimits.
    pub fn describe(&self) -> String {
        let mut parts = vec![if self.namespaces {
            "namespaces (user, pid, mount, net, ipc, uts) and a root filesystem of its own"
        } else {
            "no namespaces"
        }];
        if self.cgroups.is_some() {
            parts.push("cgroup v1 memory and cpu limits");
        }
        parts.push("rlimits");
        parts.join(", ")
    }
}

/// Starts `msbd keeper --probe`, which makes every namespace a sandbox gets and exits.
fn probe() -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let output = std::process::Command::new(super::KEEPER_EXE)
        .arg0("msbd")
        .args(["keeper", "--probe"])
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// How long a cgroup still in use by zombies is given before its removal is left to
/// `orphan-cleanup`.
const ZOMBIE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// This daemon's cgroup v1 directories, one under each controller it uses.
#[derive(Debug)]
pub struct Cgroups {
    memory: PathBuf,
    cpu: PathBuf,
}

impl Cgroups {
    fn detect(root: &Path, instance: &str) -> Option<Self> {
        let own = format!("msbd-{}", &instance[..instance.len().min(12)]);
        let memory = root.join("memory").join(&own);
        let cpu = root.join("cpu").join(&own);
        for dir in [&memory, &cpu] {
            if let Err(err) = std::fs::create_dir_all(dir) {
                tracing::info!(dir = %dir.display(), error = %err, "no cgroup v1 limits for sandboxes");
                return None;
            }
        }
        (memory.join("memory.limit_in_bytes").exists() && cpu.join("cpu.cfs_quota_us").exists())
            .then_some(Self { memory, cpu })
    }

    /// Makes the sandbox's cgroups with its flavor's limits; returns the directories it
    /// should join (none when they could not be made).
    pub fn make(&self, sandbox: &str, flavor: Flavor) -> Vec<PathBuf> {
        let memory = self.memory.join(sandbox);
        let cpu = self.cpu.join(sandbox);
        let setup = || -> std::io::Result<()> {
            std::fs::create_dir_all(&memory)?;
            std::fs::write(
                memory.join("memory.limit_in_bytes"),
                (flavor.memory_mb() * 1024 * 1024).to_string(),
            )?;
            std::fs::create_dir_all(&cpu)?;
            std::fs::write(cpu.join("cpu.cfs_period_us"), "100000")?;
            std::fs::write(
                cpu.join("cpu.cfs_quota_us"),
                (u64::from(flavor.cpus()) * 100_000).to_string(),
            )
        };
        match setup() {
            Ok(()) => vec![memory, cpu],
            Err(err) => {
                tracing::warn!(sandbox, error = %err, "cannot set the sandbox's cgroup limits");
                self.remove(sandbox);
                Vec::new()
            }
        }
    }

    /// The sandbox's cgroup directories that exist, for a command run in it to join.
    pub fn dirs(&self, sandbox: &str) -> Vec<PathBuf> {
        [&self.memory, &self.cpu]
            .into_iter()
            .map(|dir| dir.join(sandbox))
            .filter(|dir| dir.is_dir())
            .collect()
    }

    /// Removes the sandbox's cgroups once its processes are gone; false when some remain.
    /// A sandbox killed outright can leave its pid 1 a zombie for a moment, until the host's
    /// init reaps it, and the cgroup counts as in use until then: that is waited out, briefly.
    pub fn remove(&self, sandbox: &str) -> bool {
        let deadline = std::time::Instant::now() + ZOMBIE_PATIENCE;
        [&self.memory, &self.cpu].into_iter().all(|dir| loop {
            match std::fs::remove_dir(dir.join(sandbox)) {
                Ok(()) => return true,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return true,
                Err(err)
                    if err.raw_os_error() == Some(nix::libc::EBUSY)
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(_) => return false,
            }
        })
    }

    /// The sandboxes that have cgroups here, by name.
    pub fn sandboxes(&self) -> Vec<String> {
        let mut names: Vec<String> = [&self.memory, &self.cpu]
            .into_iter()
            .filter_map(|dir| std::fs::read_dir(dir).ok())
            .flat_map(|dir| dir.flatten())
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|entry| entry.file_name().to_str().map(String::from))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// A daemon that exits leaves no empty cgroup behind; one that keeps sandboxes running
/// (`stop --keep-sandboxes`) keeps them, since they are not empty.
impl Drop for Cgroups {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.memory);
        let _ = std::fs::remove_dir(&self.cpu);
    }
}

/// Per-flavor rlimits: address space, open files, processes.
pub fn rlimits(flavor: Flavor) -> (u64, u64, u64) {
    let cpus = u64::from(flavor.cpus());
    (flavor.memory_mb(), 1024 * cpus, 256 * cpus)
}
