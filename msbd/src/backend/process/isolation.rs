//! What this host offers to isolate sandboxes, found out once at start-up: fresh namespaces
//! (probed by starting a keeper that makes them), a host uid of its own for each sandbox's
//! root (when msbd runs as root, which alone may map other uids), cgroup v1 memory and cpu
//! controllers, and rlimits, which every Linux host has.

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

/// The host uids msbd gives sandboxes, one each: `START:COUNT` (`--uid-range`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UidRange {
    pub start: u32,
    pub count: u32,
}

impl UidRange {
    /// Parses `START:COUNT`: a range of ordinary uids, never root's.
    pub fn parse(text: &str) -> Result<Self, String> {
        const FORM: &str = "expected START:COUNT, such as 100000:65536";
        let (start, count) = text.split_once(':').ok_or(FORM)?;
        let (Ok(start), Ok(count)) = (start.trim().parse::<u32>(), count.trim().parse::<u32>())
        else {
            return Err(FORM.into());
        };
        if start == 0 || count == 0 {
            return Err("START and COUNT must be at least 1 (uid 0 is the host's root)".into());
        }
        // u32::MAX is no uid (it means "unchanged" to the kernel).
        if start.checked_add(count).is_none() {
            return Err(format!("START+COUNT must stay below {}", u32::MAX));
        }
        Ok(Self { start, count })
    }

    pub fn contains(&self, uid: u32) -> bool {
        uid >= self.start && uid - self.start < self.count
    }
}

impl std::fmt::Display for UidRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.start, self.count)
    }
}

#[derive(Debug)]
pub struct Isolation {
    pub namespaces: bool,
    /// Where sandboxes' roots get their host uids; `None` when root inside is msbd's own
    /// uid (no namespaces, or msbd is not root).
    pub uids: Option<UidRange>,
    pub cgroups: Option<Cgroups>,
}

impl Isolation {
    pub fn detect(mode: IsolationMode, uids: UidRange, instance: &str) -> Result<Self, String> {
        // Only root may map another uid than its own.
        let uids = nix::unistd::geteuid().is_root().then_some(uids);
        let probe = || probe(uids.map(|range| range.start));
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
            uids: uids.filter(|_| namespaces),
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

    /// One line for `status`: namespaces, identity, cgroups, rlimits.
    pub fn describe(&self) -> String {
        let mut parts = vec![if self.namespaces {
            "namespaces (user, pid, mount, net, ipc, uts) and a root filesystem of its own".into()
        } else {
            "no namespaces".to_string()
        }];
        match (self.namespaces, self.uids) {
            (true, Some(range)) => {
                parts.push(format!("root inside is a host uid of its own from {range}"))
            }
            (true, None) => parts.push("root inside is msbd's own uid (msbd is not root)".into()),
            (false, _) => {}
        }
        if self.cgroups.is_some() {
            parts.push("cgroup v1 memory and cpu limits".into());
        }
        parts.push("rlimits".into());
        parts.join(", ")
    }
}

/// Starts `msbd keeper --probe`, which makes every namespace a sandbox gets and its root
/// filesystem, as `uid` when sandboxes get uids of their own, and exits.
fn probe(uid: Option<u32>) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let mut keeper = std::process::Command::new(super::KEEPER_EXE);
    keeper.arg0("msbd").args(["keeper", "--probe"]);
    if let Some(uid) = uid {
        keeper.args(["--uid", &uid.to_string()]);
    }
    let output = keeper.output().map_err(|e| e.to_string())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_range_is_ordinary_uids() {
        assert_eq!(
            UidRange::parse("100000:65536"),
            Ok(UidRange {
                start: 100000,
                count: 65536
            })
        );
        for bad in ["100000", "a:1", "0:10", "10:0", "4294967290:10", "-1:5"] {
            assert!(UidRange::parse(bad).is_err(), "{bad} accepted");
        }
        let range = UidRange::parse("10:2").expect("range");
        assert!(!range.contains(9) && range.contains(10) && range.contains(11));
        assert!(!range.contains(12));
    }
}
