//! The end-to-end test fixture: a real `msbd` on a socket in a temporary directory, driven by
//! the real `msbctl`. Every wait polls a condition against a generous deadline; nothing
//! relies on a fixed sleep. Dropping the fixture stops the daemon and kills any sandbox of
//! its instance, so a failed test leaves nothing behind either.

pub use msbd::backend::procfs;
use serde_json::Value;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// One deadline for every wait: long enough for a loaded CI machine, short enough to fail.
pub const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// Path of a binary built next to this test executable (target/<profile>/).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --workspace)",
        path.display()
    );
    path
}

/// What a finished `msbctl` run left.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// Runs `msbctl` against `socket` with `args`.
pub fn msbctl(socket: &Path, args: &[&str]) -> Run {
    msbctl_with_input(socket, args, None)
}

/// Runs `msbctl` against `socket` with `args`, `input` on its stdin.
pub fn msbctl_with_input(socket: &Path, args: &[&str], input: Option<&[u8]>) -> Run {
    let mut child = Command::new(bin("msbctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run msbctl");
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write;
        stdin.write_all(input).expect("write msbctl's stdin");
    }
    Run::from(child.wait_with_output().expect("msbctl ends"))
}

/// Polls `probe` until it returns `Some`, or panics after the deadline with `what`.
pub fn wait_until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// A command that runs on (a follow, a watch), its stdout read line by line as it comes;
/// killed when dropped.
pub struct Lines {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Lines {
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the command");
        let stdout = child.stdout.take().expect("its stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line, which must come within the deadline.
    pub fn next(&self) -> String {
        self.until("any", |_| true).remove(0)
    }

    /// Waits for the command to end by itself; returns how it ended.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        wait_until("the command to end", || {
            self.child.try_wait().ok().flatten()
        })
    }

    /// Reads lines until one satisfies `wanted`; returns every line read, that one last.
    /// Panics, with what was read, if none comes within the deadline or the output ends.
    pub fn until(&self, what: &str, wanted: impl Fn(&str) -> bool) -> Vec<String> {
        let start = Instant::now();
        let mut read = Vec::new();
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = wanted(&line);
                    read.push(line);
                    if done {
                        return read;
                    }
                }
                Err(err) => panic!("no line with {what} ({err:?}); read: {read:#?}"),
            }
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Daemon {
    pub dir: TempDir,
    pub socket: PathBuf,
    pub state: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    /// Starts msbd with `args` in a fresh temporary directory and waits until it answers.
    pub fn start(args: &[&str]) -> Self {
        let mut daemon = Self::unstarted();
        daemon.spawn(args);
        daemon
    }

    /// Starts msbd with `args` in a fresh temporary directory, after `prepare` has set the
    /// fixture up (a state dir elsewhere) and `customize` has changed the command (limits),
    /// and waits until it answers.
    pub fn start_with(
        args: &[&str],
        prepare: impl FnOnce(&mut Self),
        customize: impl FnOnce(&mut Command),
    ) -> Self {
        let mut daemon = Self::unstarted();
        prepare(&mut daemon);
        let mut cmd = daemon.command(args);
        customize(&mut cmd);
        daemon.launch(cmd);
        daemon
    }

    /// A fixture whose daemon is not started yet: start it with `launch` or `launch_unwaited`.
    pub fn unstarted() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self {
            socket: dir.path().join("run").join("msbd.sock"),
            state: dir.path().join("state"),
            dir,
            child: None,
        }
    }

    /// Starts msbd (again) on this fixture's socket and state dir.
    pub fn spawn(&mut self, args: &[&str]) {
        let cmd = self.command(args);
        self.launch(cmd);
    }

    /// Starts msbd with `cmd` (from `command`) and waits until it answers.
    pub fn launch(&mut self, cmd: Command) {
        self.launch_unwaited(cmd);
        wait_until("msbd to answer status", || {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "msbd exited at start ({status}); processes holding its state dir: {:?}\n{}",
                    holders(&self.state),
                    self.log()
                );
            }
            (self.ctl(&["status"]).code == 0).then_some(())
        });
    }

    /// The config file this fixture's msbd reads (`MSB_CONFIG`), empty unless a test
    /// writes it; so no host's own config file reaches a test.
    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("msbd.toml")
    }

    pub fn write_config(&self, text: &str) {
        fs::write(self.config_file(), text).expect("write the config file");
    }

    /// Sends msbd SIGHUP, which reloads its configuration.
    pub fn hangup(&self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid() as i32),
            nix::sys::signal::Signal::SIGHUP,
        )
        .expect("signal msbd");
    }

    /// Starts msbd with `cmd` (from `command`), without waiting for it to answer.
    pub fn launch_unwaited(&mut self, mut cmd: Command) {
        self.child = Some(cmd.spawn().expect("spawn msbd"));
    }

    /// The msbd command for this fixture, for tests that want to watch it fail.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_via(&[], args)
    }

    /// The msbd command for this fixture behind `wrapper` (a program and its arguments,
    /// followed by msbd's path and its arguments), or msbd itself when `wrapper` is empty.
    pub fn command_via(&self, wrapper: &[&str], args: &[&str]) -> Command {
        if !self.config_file().exists() {
            self.write_config("");
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("msbd.log"))
            .expect("log file");
        let mut cmd = match wrapper {
            [program, rest @ ..] => {
                let mut cmd = Command::new(program);
                cmd.args(rest).arg(bin("msbd"));
                cmd
            }
            [] => Command::new(bin("msbd")),
        };
        cmd.arg("--socket")
            .arg(&self.socket)
            .arg("--state-dir")
            .arg(&self.state)
            .args(args)
            .env("MSBD_LOG", "debug")
            .env("MSB_CONFIG", self.config_file())
            .env_remove("MSB_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        cmd
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon running").id()
    }

    pub fn ctl(&self, args: &[&str]) -> Run {
        msbctl(&self.socket, args)
    }

    /// Runs `msbctl sessions exec ID EXTRA -- COMMAND`.
    pub fn exec(&self, id: &str, extra: &[&str], command: &[&str]) -> Run {
        let mut args = vec!["sessions", "exec", id];
        args.extend_from_slice(extra);
        args.push("--");
        args.extend_from_slice(command);
        self.ctl(&args)
    }

    /// The msbctl command with `args` for this fixture's daemon, for tests that watch it
    /// run (live output, a kill midway).
    pub fn ctl_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin("msbctl"));
        cmd.arg("--socket").arg(&self.socket).args(args);
        cmd
    }

    /// Runs `msbctl --json ARGS`, asserts it exited 0 and returns its JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let run = self.ctl(&all);
        assert_eq!(run.code, 0, "msbctl {args:?} failed: {run:?}");
        run.json()
    }

    pub fn status(&self) -> Value {
        self.json(&["status"])
    }

    /// The isolation `status` says sandboxes get here, layer by layer.
    pub fn isolation(&self) -> String {
        self.status()["resources"]["isolation"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// True when sandboxes get namespaces and a root of their own here; says why what needs
    /// them is skipped otherwise.
    pub fn jailed(&self) -> bool {
        let isolation = self.isolation();
        let jailed = isolation.contains("namespaces (user");
        if !jailed {
            eprintln!("skipped what needs namespaces: this host offers none ({isolation})");
        }
        jailed
    }

    pub fn task(&self, name: &str) -> Value {
        let status = self.status();
        status["tasks"]
            .as_array()
            .and_then(|tasks| tasks.iter().find(|t| t["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no task {name} in {status}"))
    }

    /// Runs `msbctl --json ARGS` once per item of `each` (its `{}` replaced by the item) from
    /// `clients` clients at once; returns every run, in the order of `each`.
    pub fn ctl_parallel(&self, clients: usize, args: &[&str], each: &[String]) -> Vec<Run> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let runs = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..clients.max(1) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(item) = each.get(i) else {
                        return;
                    };
                    let mut all = vec!["--json".to_string()];
                    all.extend(args.iter().map(|a| a.replace("{}", item)));
                    let all: Vec<&str> = all.iter().map(String::as_str).collect();
                    let run = self.ctl(&all);
                    runs.lock().expect("runs").push((i, run));
                });
            }
        });
        let mut runs = runs.into_inner().expect("runs");
        runs.sort_by_key(|(i, _)| *i);
        runs.into_iter().map(|(_, run)| run).collect()
    }

    /// This daemon instance's cgroup directories (its own and its sandboxes'), deepest first.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let Ok(instance) = fs::read_to_string(self.state.join("instance-id")) else {
            return Vec::new();
        };
        let own = format!("msbd-{}", &instance.trim()[..12.min(instance.trim().len())]);
        let mut dirs = Vec::new();
        // v1's controllers, a hybrid host's v2 hierarchy, a pure v2 host's.
        for controller in ["memory", "cpu", "pids", "unified", ""] {
            let dir = Path::new("/sys/fs/cgroup").join(controller).join(&own);
            if let Ok(entries) = fs::read_dir(&dir) {
                dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
            }
            if dir.is_dir() {
                dirs.push(dir);
            }
        }
        dirs
    }

    /// The sandboxes that have cgroups, by name (the daemon's own directories left out).
    pub fn sandbox_cgroups(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .cgroup_dirs()
            .iter()
            .filter(|dir| {
                dir.parent()
                    .and_then(Path::file_name)
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("msbd-"))
            })
            .filter_map(|dir| dir.file_name()?.to_str().map(String::from))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The sandboxes of the listed sessions, by name.
    pub fn session_sandboxes(&self) -> std::collections::BTreeSet<String> {
        self.json(&["sessions", "list"])
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["sandbox"].as_str().map(String::from))
            .collect()
    }

    /// Asserts that every working directory, record, cgroup and sandbox process of this
    /// daemon belongs to a listed session; `what` says what else they might belong to.
    pub fn assert_all_owned(&self, what: &str) {
        let owned = self.session_sandboxes();
        let ids: std::collections::BTreeSet<String> = self.session_ids(&[]).into_iter().collect();
        for dir in self.state_entries("work") {
            assert!(owned.contains(&dir), "working directory {dir} of {what}");
        }
        for file in self.state_entries("sandboxes") {
            let name = file.strip_suffix(".json");
            assert!(
                name.is_some_and(|n| owned.contains(n)),
                "record {file} of {what}"
            );
        }
        for cgroup in self.sandbox_cgroups() {
            assert!(owned.contains(&cgroup), "cgroup {cgroup} of {what}");
        }
        for pid in self.sandbox_pids() {
            let session = procfs::env_var(pid, "MSBD_SESSION").unwrap_or_default();
            assert!(
                ids.contains(&session) || !procfs::alive(pid),
                "process {pid} ({session}) of {what}"
            );
        }
    }

    /// Names of the entries of a directory under the state dir (`work`, `sandboxes`).
    pub fn state_entries(&self, dir: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.state.join(dir))
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.file_name().to_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Session ids from `msbctl sessions list FILTERS`, in its order (least recently
    /// accessed first).
    pub fn session_ids(&self, filters: &[&str]) -> Vec<String> {
        let mut args = vec!["sessions", "list"];
        args.extend_from_slice(filters);
        self.json(&args)
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["id"].as_str().map(String::from))
            .collect()
    }

    /// Polls `status --json` until `condition` holds; returns that status.
    pub fn wait_status(&self, what: &str, condition: impl Fn(&Value) -> bool) -> Value {
        wait_until(what, || {
            let status = self.status();
            condition(&status).then_some(status)
        })
    }

    /// Polls one task's status until `condition` holds; returns that task.
    pub fn wait_task(&self, name: &str, what: &str, condition: impl Fn(&Value) -> bool) -> Value {
        wait_until(&format!("{name}: {what}"), || {
            let task = self.task(name);
            condition(&task).then_some(task)
        })
    }

    pub fn instance(&self) -> String {
        fs::read_to_string(self.state.join("instance-id"))
            .expect("instance id")
            .trim()
            .to_string()
    }

    /// Live processes that carry this daemon instance's sandbox marker.
    pub fn sandbox_pids(&self) -> Vec<u32> {
        processes_with_env("MSBD_INSTANCE", &self.instance())
    }

    /// Live processes of one session's sandbox.
    pub fn session_pids(&self, session: &str) -> Vec<u32> {
        let instance = self.instance();
        processes_with_env("MSBD_SESSION", session)
            .into_iter()
            .filter(|pid| procfs::has_env(*pid, "MSBD_INSTANCE", &instance))
            .collect()
    }

    /// The process group (its first process) of a session's sandbox, as msbd shows it.
    pub fn sandbox_group(&self, id: &str) -> u32 {
        let shown = self.json(&["sessions", "show", id]);
        shown["details"]["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("no sandbox pid: {shown}")) as u32
    }

    /// SIGKILLs every process of this instance's sandboxes until none is left.
    pub fn kill_sandboxes(&self) {
        wait_until("every sandbox process to die", || {
            let pids = self.sandbox_pids();
            for pid in &pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(*pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            pids.is_empty().then_some(())
        });
    }

    /// SIGKILLs the daemon, leaving its sandboxes, socket and records behind.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Deletes the session store, as if the registry were lost: whatever ran stays running,
    /// but no session owns it any more. Only while the daemon is down.
    pub fn lose_registry(&self) {
        for file in ["sessions.db", "sessions.db-wal", "sessions.db-shm"] {
            let _ = fs::remove_file(self.state.join(file));
        }
    }

    /// Waits for the daemon process to exit on its own and returns its exit code.
    pub fn wait_exit(&mut self) -> i32 {
        let child = self.child.as_mut().expect("daemon running");
        let status = wait_until("msbd to exit", || child.try_wait().ok().flatten());
        self.child = None;
        status.code().unwrap_or(-1)
    }

    /// True while the daemon process has not exited.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Stops the daemon with `msbctl stop` and checks that no sandbox of it is left.
    pub fn finish(mut self) {
        if self.running() {
            let run = self.ctl(&["stop", "--timeout", "5s"]);
            assert!(run.code == 0 || run.code == 1, "stop failed: {run:?}");
            self.wait_exit();
        }
        self.assert_no_sandboxes();
    }

    pub fn assert_no_sandboxes(&self) {
        wait_until("every sandbox process to be gone", || {
            self.sandbox_pids().is_empty().then_some(())
        });
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("msbd.log")).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        // Whatever a failed test left running goes too, and its cgroups with it.
        if self.state.join("instance-id").exists() {
            self.kill_sandboxes();
            for dir in self.cgroup_dirs() {
                let _ = fs::remove_dir(dir);
            }
        }
        if std::thread::panicking() {
            eprintln!("--- msbd log ---\n{}", self.log());
        }
    }
}

/// Processes with a descriptor open on `dir`, with their command lines.
fn holders(dir: &Path) -> Vec<String> {
    procfs::pids()
        .into_iter()
        .filter(|pid| {
            fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.flatten()
                    .any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target == dir))
            })
        })
        .map(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            format!(
                "{pid}: {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            )
        })
        .collect()
}

/// An unrelated process that must survive everything msbd does; killed when dropped.
pub struct Bystander(Child);

impl Bystander {
    pub fn start() -> Self {
        Self(
            Command::new("sleep")
                .arg("300")
                .spawn()
                .expect("spawn sleep"),
        )
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Live processes whose environment holds `key=value`.
pub fn processes_with_env(key: &str, value: &str) -> Vec<u32> {
    procfs::pids()
        .into_iter()
        .filter(|pid| procfs::alive(*pid) && procfs::has_env(*pid, key, value))
        .collect()
}

/// A command template (for `--template`) whose sandbox ignores SIGTERM.
pub const STUBBORN: &str = "stubborn=trap '' TERM; while :; do sleep 1; done";

/// microsandbox's `msb` for the msb backend's tests, with an `MSB_HOME` of its own.
pub struct Msb {
    pub path: PathBuf,
    pub home: TempDir,
}

/// One sandbox as `msb ls --format json` shows it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
    pub status: String,
    pub created_at: String,
}

impl Listed {
    /// Not yet or no longer stopped: msb's `Stopped` and `Crashed` are what a dead one leaves.
    pub fn live(&self) -> bool {
        !matches!(self.status.as_str(), "Stopped" | "Crashed")
    }
}

impl Msb {
    /// The real `msb` that `tests/msb/install.sh` unpacks into the build directory
    /// (`TARGET/msb/bin/msb`, beside the `debug` or `release` directory of the binaries);
    /// `None`, saying why, where it is not there.
    pub fn real() -> Option<Self> {
        let target = bin("msbd")
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .expect("the build directory");
        let path = target.join("msb").join("bin").join("msb");
        if !path.exists() {
            eprintln!(
                "skipped: no msb at {} (tests/msb/install.sh {} installs microsandbox's; CI does so first)",
                path.display(),
                target.join("msb").display()
            );
            return None;
        }
        Some(Self {
            path,
            home: tempfile::tempdir().expect("tempdir"),
        })
    }

    /// The test double of `msb` (`tests/msb/shim/msb`), which records its calls and replays
    /// what the real one says, for what needs a microVM that boots.
    pub fn shim() -> Self {
        Self {
            path: Path::new(env!("CARGO_MANIFEST_DIR")).join("msb/shim/msb"),
            home: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// `msb ARGS` with this `MSB_HOME` and nothing else of the test's environment but `PATH`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("MSB_HOME", self.home.path())
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run msb"))
    }

    /// What `msb ls --format json` lists.
    pub fn sandboxes(&self) -> Vec<Value> {
        self.listed(&[])
    }

    /// What `msb ls --format json` lists of the sandboxes carrying every one of `labels`
    /// (`KEY=VALUE`).
    fn listed(&self, labels: &[String]) -> Vec<Value> {
        let mut args = vec!["ls", "--format", "json"];
        for label in labels {
            args.extend(["--label", label.as_str()]);
        }
        let run = self.run(&args);
        assert_eq!(run.code, 0, "msb ls failed: {run:?}");
        run.json().as_array().cloned().unwrap_or_default()
    }

    /// The sandboxes carrying every one of `labels` (`KEY=VALUE`).
    pub fn list(&self, labels: &[String]) -> Vec<Listed> {
        let field = |entry: &Value, name: &str| {
            entry[name]
                .as_str()
                .unwrap_or_else(|| panic!("msb ls: no {name} in {entry}"))
                .to_string()
        };
        self.listed(labels)
            .iter()
            .map(|entry| Listed {
                name: field(entry, "name"),
                status: field(entry, "status"),
                created_at: field(entry, "created_at"),
            })
            .collect()
    }

    /// The names of what `msb ls` lists.
    pub fn names(&self) -> std::collections::BTreeSet<String> {
        self.list(&[]).into_iter().map(|s| s.name).collect()
    }

    /// `msb create IMAGE -n NAME --label …`, outside msbd. Where microVMs cannot boot it
    /// fails and leaves the sandbox `Stopped`, as msb does.
    pub fn create(&self, image: &str, name: &str, labels: &[String]) -> Run {
        let mut args = vec!["create", image, "-n", name, "-q"];
        for label in labels {
            args.extend(["--label", label.as_str()]);
        }
        self.run(&args)
    }

    /// Doctor's `error:` lines, as it wrote them on stderr; `None` where it passes.
    pub fn doctor_errors(&self) -> Option<Vec<String>> {
        let doctor = self.run(&["doctor"]);
        (doctor.code != 0).then(|| {
            doctor
                .stderr
                .lines()
                .filter_map(|line| line.trim().strip_prefix("error:"))
                .map(|error| error.trim().to_string())
                .collect()
        })
    }

    /// The msbd command of `daemon` with `args` on the msb backend driving this msb.
    pub fn daemon_command(&self, daemon: &Daemon, args: &[&str]) -> Command {
        let mut all = vec!["--backend", "msb", "--msb-path"];
        let path = self.path.display().to_string();
        all.push(&path);
        all.extend_from_slice(args);
        let mut cmd = daemon.command(&all);
        cmd.env("MSB_HOME", self.home.path());
        cmd
    }

    /// msbd with `args` on the msb backend driving this msb, once it answers.
    pub fn daemon(&self, args: &[&str]) -> Daemon {
        let mut daemon = Daemon::unstarted();
        let cmd = self.daemon_command(&daemon, args);
        daemon.launch(cmd);
        daemon
    }

    /// The calls the test double recorded, each its arguments.
    pub fn calls(&self) -> Vec<Vec<String>> {
        fs::read_to_string(self.home.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(|line| {
                line.strip_suffix('\t')
                    .unwrap_or(line)
                    .split('\t')
                    .map(String::from)
                    .collect()
            })
            .collect()
    }

    /// Waits until the test double has recorded a call that starts with `start`; returns it.
    pub fn wait_call(&self, start: &[&str]) -> Vec<String> {
        wait_until(&format!("msb {}", start.join(" ")), || {
            self.calls()
                .into_iter()
                .find(|call| call.len() >= start.len() && call[..start.len()] == *start)
        })
    }
}

impl Drop for Msb {
    fn drop(&mut self) {
        // Nothing a failed test made runs on: every sandbox of this MSB_HOME goes.
        let names: Vec<String> = self
            .command(&["ls", "--format", "json"])
            .output()
            .ok()
            .and_then(|out| serde_json::from_slice::<Value>(&out.stdout).ok())
            .and_then(|list| list.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s["name"].as_str().map(String::from))
            .collect();
        for name in names {
            let _ = self.command(&["rm", "-f", &name]).output();
        }
    }
}
