//! The sandboxes' cgroups: memory, CPU and process-count limits, under cgroup v2 where the
//! host delegates those controllers to it, else under cgroup v1's per-controller
//! hierarchies. A host may have both (v1 controllers with a v2 hierarchy at `unified`
//! beside them): v2 is used only when it holds all three controllers.

use msb_proto::Flavor;
use std::path::{Path, PathBuf};

/// Where cgroup hierarchies are mounted.
pub(super) const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// How long a cgroup still in use by zombies is given before its removal is left to
/// `orphan-cleanup`.
const ZOMBIE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);
/// The controllers a sandbox is held by.
const CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];
/// The CPU accounting period, in microseconds; a flavor's quota is its CPUs times this.
const CPU_PERIOD_US: u64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// This daemon's cgroup directories, one per controller; under v2 the three are one.
#[derive(Debug)]
pub struct Cgroups {
    version: Version,
    memory: PathBuf,
    cpu: PathBuf,
    pids: PathBuf,
}

impl Cgroups {
    /// The daemon's cgroups under `root`, made now; none when the host offers neither a v2
    /// hierarchy with memory, cpu and pids nor those three v1 controllers.
    pub(super) fn detect(root: &Path, instance: &str) -> Option<Self> {
        let own = format!("msbd-{}", &instance[..instance.len().min(12)]);
        // A pure v2 host mounts it at the root; a hybrid one at `unified`.
        let v2 = [root.to_path_buf(), root.join("unified")]
            .into_iter()
            .find(|mount| mount.join("cgroup.controllers").is_file());
        if let Some(cgroups) = v2.and_then(|mount| Self::v2(&mount, &own)) {
            return Some(cgroups);
        }
        Self::v1(root, &own)
    }

    fn v2(mount: &Path, own: &str) -> Option<Self> {
        let offered = std::fs::read_to_string(mount.join("cgroup.controllers")).ok()?;
        if !CONTROLLERS
            .iter()
            .all(|c| offered.split_whitespace().any(|o| o == *c))
        {
            return None;
        }
        let dir = mount.join(own);
        // The controllers must be enabled for the children of the mount's root and of ours.
        let enable = CONTROLLERS.map(|c| format!("+{c}")).join(" ");
        let setup = || -> std::io::Result<()> {
            std::fs::write(mount.join("cgroup.subtree_control"), &enable)?;
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("cgroup.subtree_control"), &enable)
        };
        if let Err(err) = setup() {
            tracing::info!(dir = %dir.display(), error = %err, "cgroup v2 is not delegated to msbd; trying v1");
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(Self {
            version: Version::V2,
            memory: dir.clone(),
            cpu: dir.clone(),
            pids: dir,
        })
    }

    fn v1(root: &Path, own: &str) -> Option<Self> {
        // Only where the controller's hierarchy is mounted, not a bare directory.
        if !CONTROLLERS
            .iter()
            .all(|c| root.join(c).join("cgroup.procs").is_file())
        {
            return None;
        }
        let [memory, cpu, pids] = CONTROLLERS.map(|c| root.join(c).join(own));
        for dir in [&memory, &cpu, &pids] {
            if let Err(err) = std::fs::create_dir_all(dir) {
                tracing::info!(dir = %dir.display(), error = %err, "no cgroup v1 limits for sandboxes");
                return None;
            }
        }
        let cgroups = Self {
            version: Version::V1,
            memory,
            cpu,
            pids,
        };
        let complete = cgroups
            .settings(Flavor::Small)
            .iter()
            .all(|(dir, file, _)| dir.join(file).exists());
        complete.then_some(cgroups)
    }

    /// `cgroup v2` or `cgroup v1`, for `status`.
    pub(super) fn name(&self) -> &'static str {
        match self.version {
            Version::V1 => "cgroup v1",
            Version::V2 => "cgroup v2",
        }
    }

    /// The daemon's own directories, each once.
    fn own(&self) -> Vec<&Path> {
        let mut dirs: Vec<&Path> = vec![&self.memory, &self.cpu, &self.pids];
        dirs.dedup();
        dirs
    }

    /// The files that hold a flavor's limits, under the daemon's directories, with their
    /// values.
    fn settings(&self, flavor: Flavor) -> Vec<(&Path, &'static str, String)> {
        let memory = (flavor.memory_mb() * 1024 * 1024).to_string();
        let quota = u64::from(flavor.cpus()) * CPU_PERIOD_US;
        let pids = processes(flavor).to_string();
        match self.version {
            Version::V1 => vec![
                (&self.memory, "memory.limit_in_bytes", memory),
                (&self.cpu, "cpu.cfs_period_us", CPU_PERIOD_US.to_string()),
                (&self.cpu, "cpu.cfs_quota_us", quota.to_string()),
                (&self.pids, "pids.max", pids),
            ],
            Version::V2 => vec![
                (&self.memory, "memory.max", memory),
                (&self.cpu, "cpu.max", format!("{quota} {CPU_PERIOD_US}")),
                (&self.pids, "pids.max", pids),
            ],
        }
        .into_iter()
        .map(|(dir, file, value)| (dir.as_path(), file, value))
        .collect()
    }

    /// Makes the sandbox's cgroups with its flavor's limits; returns the directories it
    /// should join (none when they could not be made).
    pub fn make(&self, sandbox: &str, flavor: Flavor) -> Vec<PathBuf> {
        let setup = || -> std::io::Result<()> {
            for (dir, file, value) in self.settings(flavor) {
                let dir = dir.join(sandbox);
                std::fs::create_dir_all(&dir)?;
                std::fs::write(dir.join(file), value)?;
            }
            Ok(())
        };
        match setup() {
            Ok(()) => self.dirs(sandbox),
            Err(err) => {
                tracing::warn!(sandbox, error = %err, "cannot set the sandbox's cgroup limits");
                self.remove(sandbox);
                Vec::new()
            }
        }
    }

    /// The sandbox's cgroup directories that exist, for a command run in it to join.
    pub fn dirs(&self, sandbox: &str) -> Vec<PathBuf> {
        self.own()
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
        self.own().into_iter().all(|dir| loop {
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

    /// The live processes in the sandbox's cgroup (zombies are not listed); none when it has
    /// no cgroup to read. Every process of a sandbox is in it, whatever its group or session.
    pub fn procs(&self, sandbox: &str) -> Option<Vec<u32>> {
        let text = std::fs::read_to_string(self.pids.join(sandbox).join("cgroup.procs")).ok()?;
        Some(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    /// The sandboxes that have cgroups here, by name.
    pub fn sandboxes(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .own()
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
        for dir in self.own() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// How many processes a sandbox of `flavor` may have at once: 256 per CPU, through both its
/// pids cgroup and its rlimit.
pub(super) fn processes(flavor: Flavor) -> u64 {
    256 * u64::from(flavor.cpus())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_v1(root: &Path) {
        for (controller, file) in [
            ("memory", "memory.limit_in_bytes"),
            ("cpu", "cpu.cfs_quota_us"),
            ("cpu", "cpu.cfs_period_us"),
            ("pids", "pids.max"),
        ] {
            let dir = root.join(controller).join("msbd-i1");
            std::fs::create_dir_all(&dir).expect("dir");
            std::fs::write(dir.join(file), "").expect("file");
            std::fs::write(root.join(controller).join("cgroup.procs"), "").expect("procs");
        }
    }

    #[test]
    fn v1_is_used_when_the_v2_hierarchy_lacks_the_controllers() {
        let root = tempfile::tempdir().expect("tempdir");
        fake_v1(root.path());
        std::fs::create_dir_all(root.path().join("unified")).expect("unified");
        std::fs::write(root.path().join("unified/cgroup.controllers"), "hugetlb\n")
            .expect("controllers");
        let cgroups = Cgroups::detect(root.path(), "i1").expect("v1");
        assert_eq!(cgroups.name(), "cgroup v1");
        let made = cgroups.make("sb", Flavor::Medium);
        assert_eq!(made.len(), 3, "{made:?}");
        let read = |path: &str| std::fs::read_to_string(root.path().join(path)).expect(path);
        assert_eq!(read("pids/msbd-i1/sb/pids.max"), "512");
        assert_eq!(read("cpu/msbd-i1/sb/cpu.cfs_quota_us"), "200000");
        assert_eq!(
            read("memory/msbd-i1/sb/memory.limit_in_bytes"),
            (2048u64 << 20).to_string()
        );
        assert_eq!(cgroups.sandboxes(), ["sb"]);
        for dir in made {
            for file in std::fs::read_dir(&dir).expect("dir").flatten() {
                std::fs::remove_file(file.path()).expect("file");
            }
        }
        assert!(cgroups.remove("sb"));
        assert!(cgroups.sandboxes().is_empty());
    }

    #[test]
    fn v2_is_preferred_when_it_offers_memory_cpu_and_pids() {
        let root = tempfile::tempdir().expect("tempdir");
        fake_v1(root.path());
        std::fs::write(
            root.path().join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .expect("controllers");
        let cgroups = Cgroups::detect(root.path(), "i1").expect("v2");
        assert_eq!(cgroups.name(), "cgroup v2");
        let enabled = std::fs::read_to_string(root.path().join("msbd-i1/cgroup.subtree_control"))
            .expect("subtree_control");
        assert_eq!(enabled, "+memory +cpu +pids");
        let made = cgroups.make("sb", Flavor::Small);
        assert_eq!(made, [root.path().join("msbd-i1/sb")]);
        let read = |file: &str| std::fs::read_to_string(made[0].join(file)).expect(file);
        assert_eq!(read("cpu.max"), "100000 100000");
        assert_eq!(read("pids.max"), "256");
        assert_eq!(read("memory.max"), (1024u64 << 20).to_string());
    }

    #[test]
    fn nothing_is_used_without_the_controllers() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join("memory")).expect("memory");
        assert!(Cgroups::detect(root.path(), "i1").is_none());
    }
}
