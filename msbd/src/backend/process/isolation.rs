//! What this host offers to isolate sandboxes, found out once at start-up: fresh namespaces
//! (probed by starting a keeper that makes them), cgroups (see `cgroups`), and rlimits,
//! which every Linux host has.

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

#[derive(Debug)]
pub struct Isolation {
    pub namespaces: bool,
    /// Whether the host filters system calls; every sandboxed command gets `no_new_privs`
    /// and reduced capabilities either way (see `lockdown`).
    pub seccomp: bool,
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
        let seccomp = lockdown::seccomp_available();
        if !seccomp {
            tracing::warn!("this host has no seccomp filters; sandboxes run without one");
        }
        Ok(Self {
            namespaces,
            seccomp,
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

    /// What a keeper is told of the host: that it has no seccomp, when so.
    pub fn keeper_args(&self) -> &'static [&'static str] {
        if self.seccomp {
            &[]
        } else {
            &["--no-seccomp"]
        }
    }

    /// One line for `status`: namespaces, cgroups, rlimits.
    pub fn describe(&self) -> String {
        let mut parts = vec![String::from(if self.namespaces {
            "namespaces (user, pid, mount, net, ipc, uts)"
        } else {
            "no namespaces"
        })];
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

/// Per-flavor rlimits: address space, open files, processes.
pub fn rlimits(flavor: Flavor) -> (u64, u64, u64) {
    let cpus = u64::from(flavor.cpus());
    (flavor.memory_mb(), 1024 * cpus, processes(flavor))
}
