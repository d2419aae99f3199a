//! What this host offers to isolate sandboxes, found out once at start-up: fresh namespaces
//! (probed by starting a keeper that makes them), host uids of its own for each sandbox's
//! root and ordinary user (when msbd runs as root, which alone may map other uids), cgroups
//! (see `cgroups`), and rlimits, which every Linux host has.

use super::cgroups::{processes, Cgroups, CGROUP_ROOT};
use super::lockdown;
use msb_proto::Flavor;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IsolationMode {
    /// Namespaces where the host allows them, with a warning where it does not.
    Auto,
    /// Namespaces, or refuse to start.
    Namespaces,
    /// No namespaces.
    None,
}

/// The host uids msbd gives sandboxes, two each: `START:COUNT` (`--uid-range`).
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
        if start == 0 {
            return Err("START must be at least 1 (uid 0 is the host's root)".into());
        }
        if count < 2 {
            return Err("COUNT must be at least 2 (each sandbox takes two uids)".into());
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
    /// Whether the host filters system calls; every sandboxed command gets `no_new_privs`
    /// and reduced capabilities either way (see `lockdown`).
    pub seccomp: bool,
    /// Where sandboxes' roots and users get their host uids; `None` when root inside is
    /// msbd's own uid and there is no user (no namespaces, or msbd is not root).
    pub uids: Option<UidRange>,
    pub cgroups: Option<Cgroups>,
    /// The layers this host could not give, each with why; with `--isolation auto` sandboxes
    /// run without them, and `status` says so.
    pub missing: Vec<String>,
}

impl Isolation {
    pub fn detect(mode: IsolationMode, uids: UidRange, instance: &str) -> Result<Self, String> {
        // Only root may map another uid than its own.
        let uids = nix::unistd::geteuid().is_root().then_some(uids);
        let probe = || probe(uids.map(|range| range.start));
        let mut missing = Vec::new();
        let namespaces = match mode {
            IsolationMode::None => false,
            IsolationMode::Namespaces | IsolationMode::Auto => match probe() {
                Ok(()) => true,
                Err(why) => {
                    missing.push(format!("namespaces and the root filesystem ({why})"));
                    false
                }
            },
        };
        if namespaces && uids.is_none() {
            missing.push("a host uid of each sandbox's own (msbd is not root)".into());
        }
        let seccomp = lockdown::seccomp_available();
        if !seccomp {
            missing.push("seccomp (this kernel has no seccomp filters)".into());
        }
        let cgroups = Cgroups::detect(Path::new(CGROUP_ROOT), instance);
        if cgroups.is_none() {
            missing.push(
                "cgroup limits (no cgroup v2 or v1 memory, cpu and pids controllers msbd may use)"
                    .into(),
            );
        }
        if mode == IsolationMode::Namespaces && !missing.is_empty() {
            return Err(format!(
                "--isolation namespaces needs every layer, and this host lacks: {}",
                missing.join("; ")
            ));
        }
        for layer in &missing {
            tracing::warn!(
                layer = %layer,
                "SANDBOXES ARE LESS ISOLATED: this host lacks a layer (msbd --isolation namespaces refuses to start without it)"
            );
        }
        Ok(Self {
            namespaces,
            seccomp,
            uids: uids.filter(|_| namespaces),
            cgroups,
            missing,
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

    /// What a keeper is told of the host: that it has no seccomp, when so.
    pub fn keeper_args(&self) -> &'static [&'static str] {
        if self.seccomp {
            &[]
        } else {
            &["--no-seccomp"]
        }
    }

    /// One line for `status`, layer by layer: namespaces and root filesystem, identity,
    /// seccomp, privileges, cgroups, rlimits.
    pub fn describe(&self) -> String {
        let layers = self.layers();
        if self.missing.is_empty() {
            layers
        } else {
            format!("DEGRADED, missing {}: {layers}", self.missing.join("; "))
        }
    }

    fn layers(&self) -> String {
        let mut parts = vec![if self.namespaces {
            "namespaces (user, pid, mount, net, ipc, uts) and a root filesystem of its own".into()
        } else {
            "no namespaces".to_string()
        }];
        match (self.namespaces, self.uids) {
            (true, Some(range)) => parts.push(format!(
                "commands run as an ordinary user inside; it and root are host uids of their own from {range}"
            )),
            (true, None) => parts.push(
                "commands run as root inside, which is msbd's own uid (msbd is not root)".into(),
            ),
            (false, _) => {}
        }
        if self.seccomp {
            parts.push("seccomp".into());
        }
        parts.push("no_new_privs, capabilities dropped".into());
        if let Some(cgroups) = &self.cgroups {
            parts.push(format!("{} memory, cpu and pids limits", cgroups.name()));
        }
        parts.push("rlimits".into());
        parts.join(", ")
    }
}

/// Starts `msbd keeper --probe`, which makes every namespace a sandbox gets and its root
/// filesystem, with root and the ordinary user as `uid` and the next when sandboxes get uids
/// of their own, and exits.
fn probe(uid: Option<u32>) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let mut keeper = std::process::Command::new(super::KEEPER_EXE);
    keeper.arg0("msbd").args(["keeper", "--probe"]);
    if let Some(uid) = uid {
        keeper
            .args(["--uid", &uid.to_string()])
            .args(["--user-uid", &(uid + 1).to_string()]);
    }
    let output = keeper.output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// Per-flavor rlimits: address space, open files, processes.
pub fn rlimits(flavor: Flavor) -> (u64, u64, u64) {
    let cpus = u64::from(flavor.cpus());
    (flavor.memory_mb(), 1024 * cpus, processes(flavor))
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
        for bad in [
            "100000",
            "a:1",
            "0:10",
            "10:0",
            "10:1",
            "4294967290:10",
            "-1:5",
        ] {
            assert!(UidRange::parse(bad).is_err(), "{bad} accepted");
        }
        let range = UidRange::parse("10:2").expect("range");
        assert!(!range.contains(9) && range.contains(10) && range.contains(11));
        assert!(!range.contains(12));
    }
}
