//! A daemon on one backend, and what the suite observes of its sandboxes from outside msbd:
//! processes and their markers for `process`, msb's own listing (by msbd's labels) and
//! commands inside the VM for `msb`. Everything else is asked of msbd through msbctl, the same
//! on every backend.

use super::backend::{Backend, Listed, Msb};
use msb_tests::{processes_with_env, procfs, wait_until, Daemon};
use std::ops::Deref;
use std::path::PathBuf;

pub struct Rig<'a> {
    daemon: Daemon,
    backend: &'a Backend,
}

/// One session's sandbox as its backend shows it: equal only to itself, even across restarts
/// of msbd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sandbox {
    /// Its first process as msbd shows it, every process carrying its session's marker, and
    /// its working directory.
    Processes {
        group: u32,
        pids: Vec<u32>,
        workdir: PathBuf,
    },
    /// msb's sandbox, told apart from a later one of the same name by its creation time.
    Vm { name: String, created_at: String },
}

/// Read-only access to the fixture: msbctl, status, the log. Starting msbd again goes through
/// `Rig::restart`, so that it runs on the same backend.
impl Deref for Rig<'_> {
    type Target = Daemon;

    fn deref(&self) -> &Daemon {
        &self.daemon
    }
}

impl<'a> Rig<'a> {
    /// Starts msbd on `backend` with `args` in a fresh temporary directory.
    pub fn start(backend: &'a Backend, args: &[&str]) -> Self {
        let mut daemon = Daemon::unstarted();
        let cmd = backend.command(&daemon, args);
        daemon.launch(cmd);
        Self { daemon, backend }
    }

    /// Starts msbd on `backend` with `args` and creates session `id`.
    pub fn with_session(backend: &'a Backend, args: &[&str], id: &str) -> Self {
        let rig = Self::start(backend, args);
        let created = rig.ctl(&["sessions", "create", "--id", id]);
        assert_eq!(created.code, 0, "{created:?}");
        rig
    }

    pub fn backend(&self) -> &'a Backend {
        self.backend
    }

    /// Starts msbd again on the same socket, state dir and backend.
    pub fn restart(&mut self, args: &[&str]) {
        let cmd = self.backend.command(&self.daemon, args);
        self.daemon.launch(cmd);
    }

    /// SIGKILLs msbd, leaving its sandboxes behind.
    pub fn kill(&mut self) {
        self.daemon.kill();
    }

    pub fn wait_exit(&mut self) -> i32 {
        self.daemon.wait_exit()
    }

    /// Stops msbd with `msbctl stop` and checks that no sandbox of it is left running.
    pub fn finish(self) {
        let instance = self.instance();
        self.daemon.finish();
        if let Backend::Msb(msb) = self.backend {
            assert_none_live(msb, &instance);
        }
    }

    /// Checks, once msbd has exited by itself, that no sandbox of it is left running.
    pub fn assert_no_sandboxes(&self) {
        self.daemon.assert_no_sandboxes();
        if let Backend::Msb(msb) = self.backend {
            assert_none_live(msb, &self.instance());
        }
    }

    /// The sandbox of session `id`, which must have one.
    pub fn sandbox(&self, id: &str) -> Sandbox {
        match self.backend {
            Backend::Process => {
                let shown = self.json(&["sessions", "show", id]);
                let name = shown["sandbox"].as_str().expect("a sandbox name");
                Sandbox::Processes {
                    group: self.sandbox_group(id),
                    pids: self.session_pids(id),
                    workdir: self.state.join("work").join(name),
                }
            }
            Backend::Msb(msb) => {
                let listed = msb.list(&self.labels(Some(id)));
                let [one] = listed.as_slice() else {
                    panic!("{} msb sandboxes for session {id}", listed.len());
                };
                Sandbox::Vm {
                    name: one.name.clone(),
                    created_at: one.created_at.clone(),
                }
            }
        }
    }

    /// True while `sandbox` runs.
    pub fn alive(&self, sandbox: &Sandbox) -> bool {
        match sandbox {
            Sandbox::Processes { pids, .. } => pids.iter().any(|pid| procfs::alive(*pid)),
            Sandbox::Vm { .. } => self.listed(sandbox).is_some_and(|l| l.live()),
        }
    }

    /// True while anything of `sandbox` is left on the host: its working directory, or msb's
    /// entry for it.
    pub fn leaves_trace(&self, sandbox: &Sandbox) -> bool {
        match sandbox {
            Sandbox::Processes { workdir, .. } => workdir.exists(),
            Sandbox::Vm { .. } => self.listed(sandbox).is_some(),
        }
    }

    /// True while session `id` has a sandbox that runs.
    pub fn has_sandbox(&self, id: &str) -> bool {
        match self.backend {
            Backend::Process => !self.session_pids(id).is_empty(),
            Backend::Msb(msb) => msb.list(&self.labels(Some(id))).iter().any(Listed::live),
        }
    }

    /// Kills `sandbox` from outside msbd, as a crash would.
    pub fn kill_sandbox(&self, sandbox: &Sandbox) {
        match sandbox {
            Sandbox::Processes { group, .. } => {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(*group as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            Sandbox::Vm { name, .. } => {
                self.msb().run(&["stop", "-f", "-q", name]);
            }
        }
    }

    /// True while a process that `MSB_TEST_MARK=mark` marks runs: anywhere on the host for
    /// `process` sandboxes, inside the VM for `msb`'s.
    pub fn marked(&self, sandbox: &Sandbox, mark: &str) -> bool {
        match sandbox {
            Sandbox::Processes { .. } => !processes_with_env("MSB_TEST_MARK", mark).is_empty(),
            Sandbox::Vm { name, .. } => {
                let scan = r#"for e in /proc/[0-9]*/environ; do
                    if tr '\0' '\n' 2>/dev/null < "$e" | grep -qx "MSB_TEST_MARK=$1"; then echo "$e"; fi
                done"#;
                let args = [
                    "exec",
                    name,
                    "--no-stdin",
                    "--",
                    "sh",
                    "-c",
                    scan,
                    "sh",
                    mark,
                ];
                !self.msb().run(&args).trim().is_empty()
            }
        }
    }

    /// The msb that runs this rig's VMs.
    fn msb(&self) -> &Msb {
        match self.backend {
            Backend::Msb(msb) => msb,
            Backend::Process => panic!("a VM sandbox on the process backend"),
        }
    }

    /// msbd's labels on its sandboxes, for `msb ls`: this instance's, and `session`'s.
    fn labels(&self, session: Option<&str>) -> Vec<String> {
        let mut labels = vec![format!("msbd.instance={}", self.instance())];
        labels.extend(session.map(|id| format!("msbd.session={id}")));
        labels
    }

    /// msb's entry for `sandbox`, if the very same sandbox is still listed.
    fn listed(&self, sandbox: &Sandbox) -> Option<Listed> {
        let Sandbox::Vm { name, created_at } = sandbox else {
            return None;
        };
        self.msb()
            .list(&self.labels(None))
            .into_iter()
            .find(|l| &l.name == name && &l.created_at == created_at)
    }
}

/// Waits until no sandbox labelled for `instance` runs.
fn assert_none_live(msb: &Msb, instance: &str) {
    let label = [format!("msbd.instance={instance}")];
    wait_until("every msb sandbox of the instance to be stopped", || {
        let live: Vec<String> = msb
            .list(&label)
            .into_iter()
            .filter(Listed::live)
            .map(|l| l.name)
            .collect();
        live.is_empty().then_some(())
    });
}
