//! `msbd keeper`: the first process of every sandbox of the `process` backend. Started by
//! the daemon in a session of its own, it joins the sandbox's cgroups, sets the flavor's
//! rlimits, and, with `--isolate`, starts a child in fresh user, pid, mount, network, ipc and
//! uts namespaces (the network one unless `--host-network`): the keeper, still in the host's,
//! maps root and the sandbox's user inside to host identities (see `identity`), and the child
//! becomes pid 1 there (it builds the sandbox's root filesystem, see `rootfs`, and reaps),
//! and the command runs as pid 2, as the sandbox's user with `--as-user`. Without
//! `--isolate` the command is its child.
//! Without a command it idles until SIGTERM (the `default` template): pid 1 itself, with
//! `--isolate`.
//!
//! With `--log`, the command's stdout and stderr go to a bounded log that the keeper itself
//! writes while it waits (see `output`), and records how the command ended beside it (told by
//! pid 1 over a pipe, when there is one), for a daemon that is not the keeper's parent.
//!
//! Termination signals are held back from the keeper's first instant and taken with
//! `sigwait`, so a stop is never lost, not even one that arrives before the command exists
//! (pid 1 of a namespace would otherwise ignore it). The keeper outlives its sandbox's pid 1,
//! so msbd sees the sandbox end when its own child exits, whoever ended it.
//!
//! Readiness: msbd passes the write end of a pipe (`--ready-fd`). Every process of the keeper
//! holds it close-on-exec, so it closes without a word once the command has been exec'd; a
//! step that fails writes its error there instead, and msbd fails the create with it.
//!
//! It runs on one thread only, which is what makes `unshare` and `fork` safe here: a
//! supervising keeper waits for signals and its command's output together, through a
//! signalfd and `poll`.

use clap::Args;
use nix::fcntl::{open, OFlag};
use nix::libc;
use nix::mount::{mount, MsFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::CloneFlags;
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{
    execvp, fork, getegid, geteuid, getppid, pipe2, setgroups, sethostname, ForkResult, Pid,
};
use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::process::ExitCode;

use super::identity::{self, become_root};
use super::output::{Output, Pump};
use super::rootfs;
use crate::backend::log::{Ending, LogFiles};
use crate::template_options::Mount;

#[derive(Debug, Args)]
pub struct KeeperArgs {
    /// Run in fresh namespaces.
    #[arg(long)]
    pub isolate: bool,
    /// Only check that namespaces can be made here, and exit.
    #[arg(long)]
    pub probe: bool,
    #[arg(long)]
    pub hostname: Option<String>,
    /// With --isolate: the host uid (and gid) that root inside is; msbd's own by default.
    #[arg(long)]
    pub uid: Option<u32>,
    /// With --isolate: the host uid (and gid) that the sandbox's ordinary user is; without
    /// it, that user does not exist.
    #[arg(long, value_name = "UID")]
    pub user_uid: Option<u32>,
    /// The command runs as the sandbox's ordinary user, not as root inside.
    #[arg(long)]
    pub as_user: bool,
    /// With --isolate: no network namespace, the host's network.
    #[arg(long)]
    pub host_network: bool,
    /// With --isolate: a host path bound into the sandbox's root, HOST:INSIDE:ro|rw.
    #[arg(long = "mount", value_name = "HOST:INSIDE:MODE", value_parser = Mount::parse)]
    pub mounts: Vec<Mount>,
    /// Address-space limit.
    #[arg(long)]
    pub memory_mb: Option<u64>,
    #[arg(long)]
    pub nofile: Option<u64>,
    #[arg(long)]
    pub nproc: Option<u64>,
    /// The host has no seccomp (the daemon found out at start-up): commands run without
    /// the filter. Without this flag, a filter that cannot be installed fails the command.
    #[arg(long)]
    pub no_seccomp: bool,
    /// Cgroup directories to join.
    #[arg(long = "cgroup")]
    pub cgroups: Vec<PathBuf>,
    /// Inherited pipe to report start-up errors on; its closing means ready.
    #[arg(long)]
    pub ready_fd: Option<RawFd>,
    /// Run the command inside a sandbox that is already running (see `enter`).
    #[arg(long)]
    pub exec: bool,
    /// With --exec: the keeper whose namespaces the command enters.
    #[arg(long, value_name = "PID")]
    pub join: Option<i32>,
    /// With --exec: where the command starts, in the sandbox's view. With --isolate: the
    /// host directory that becomes the sandbox's /work.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// With --exec: instead of a command, unpack the tar archive on stdin at this path,
    /// resolved in the sandbox (from --workdir, or inside --root).
    #[arg(long, value_name = "PATH")]
    pub copy_in: Option<PathBuf>,
    /// With --exec: instead of a command, write this path (resolved like --copy-in's) to
    /// stdout as a tar archive.
    #[arg(long, value_name = "PATH")]
    pub copy_out: Option<PathBuf>,
    /// With --copy-in or --copy-out in a sandbox without namespaces: the directory that is
    /// `/` for the copy's paths.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The bounded log the command's stdout and stderr go to; its rotated part and the
    /// command's exit status lie beside it. Without it, they are the keeper's own.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// The command, looked up in PATH; none means idle until SIGTERM.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// The namespaces every sandbox gets; the network one unless it shares the host's.
const NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWUSER
    .union(CloneFlags::CLONE_NEWPID)
    .union(CloneFlags::CLONE_NEWNS)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWUTS);

/// Exit status of a keeper that could not set its sandbox up.
const SETUP_FAILED: u8 = 111;

/// Signals that end a sandbox, held back and taken with `sigwait`.
pub(super) fn termination() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(signal);
    }
    set
}

/// Every signal handled the default way, as on any host: msbd ignores SIGPIPE (as every Rust
/// program does), and without this its sandboxes would inherit that, so that `yes | head -1`
/// saw write errors instead of ending quietly. Realtime signals too, whatever msbd's own
/// parent ignored: through the system call, since glibc's `sigaction` refuses the two it
/// keeps for itself.
fn default_dispositions() {
    /// The kernel's `struct sigaction` (x86_64 and aarch64 alike).
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for signo in (1..=64).filter(|s| ![libc::SIGKILL, libc::SIGSTOP].contains(s)) {
        // SAFETY: rt_sigaction reads the struct above, the size of its mask is the kernel's,
        // and the default disposition runs no code of ours.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signo,
                &default,
                std::ptr::null_mut::<KernelSigaction>(),
                std::mem::size_of::<u64>(),
            );
        }
    }
}

/// Termination signals plus SIGCHLD: what a supervising keeper waits for.
pub(super) fn supervised() -> SigSet {
    let mut set = termination();
    set.add(Signal::SIGCHLD);
    set
}

/// Where start-up errors go: the readiness pipe (when msbd gave one) and stderr.
pub(super) struct Ready(Option<File>);

impl Ready {
    fn take(fd: Option<RawFd>) -> Self {
        Self(fd.map(|fd| {
            // Close-on-exec: the command must not hold it, so that its exec means ready.
            // SAFETY: msbd passes a pipe's write end it does not use otherwise.
            unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                File::from_raw_fd(fd)
            }
        }))
    }

    pub(super) fn fail(&mut self, message: &str) -> ExitCode {
        if let Some(pipe) = &mut self.0 {
            let _ = pipe.write_all(message.as_bytes());
        }
        eprintln!("msbd keeper: {message}");
        ExitCode::from(SETUP_FAILED)
    }

    /// This process's copy is no longer needed (it closes; the others decide).
    pub(super) fn close(&mut self) {
        self.0 = None;
    }
}

pub fn run(args: KeeperArgs) -> ExitCode {
    // First thing: from here on no termination signal can be lost, however early it comes.
    // A failure leaves them deliverable as usual, which still ends the keeper.
    let _ = supervised().thread_block();
    default_dispositions();
    let mut ready = Ready::take(args.ready_fd);
    match keep(&args, &mut ready) {
        Ok(code) => code,
        Err(err) => ready.fail(&err),
    }
}

fn keep(args: &KeeperArgs, ready: &mut Ready) -> Result<ExitCode, String> {
    confine(args)?;
    if args.exec {
        return super::enter::run(args, ready);
    }
    let output = args.log.as_deref().map(Output::open).transpose()?;
    let record = open_record(args)?;
    if let Some(signal) = pending_termination() {
        // Stopped before the sandbox's first process existed: it is never made.
        return Ok(died_of(signal));
    }
    if args.isolate || args.probe {
        return isolate(args, ready, output, record);
    }
    // SAFETY: no other thread exists in this process.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            if let Some(output) = output {
                output.attach()?;
            }
            start(args, ready)
        }
        ForkResult::Parent { child } => {
            ready.close();
            Ok(exit_code(supervise(
                child,
                Forward::UnlessFromParent,
                record,
                output.map(Output::into_pump),
            )))
        }
    }
}

/// Starts the sandbox's pid 1 in fresh namespaces, maps its root to a host identity from
/// out here (only a process privileged in the parent namespace may map another uid than its
/// own), lets it go on, and supervises it; records how the command ended, as pid 1 tells it.
fn isolate(
    args: &KeeperArgs,
    ready: &mut Ready,
    output: Option<Output>,
    record: Option<File>,
) -> Result<ExitCode, String> {
    let (go_rx, go_tx) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let (ending_rx, ending_tx) =
        pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(|e| format!("pipe: {e}"))?;
    if geteuid().is_root() {
        // None of msbd's supplementary groups goes with it.
        setgroups(&[]).map_err(|e| format!("setgroups: {e}"))?;
    }
    let (uid, gid) = match args.uid {
        Some(uid) => (uid, uid),
        None => (geteuid().as_raw(), getegid().as_raw()),
    };
    let namespaces = if args.host_network {
        NAMESPACES
    } else {
        NAMESPACES | CloneFlags::CLONE_NEWNET
    };
    match clone_namespaced(namespaces)? {
        None => {
            drop((go_tx, ending_rx, record));
            if let Some(output) = output {
                output.attach()?;
            }
            // Nothing comes when the keeper died before it mapped us: then there is no sandbox.
            let mut go = [0u8; 1];
            if !matches!(nix::unistd::read(&go_rx, &mut go), Ok(1)) {
                return Ok(ExitCode::from(SETUP_FAILED));
            }
            drop(go_rx);
            Ok(init(args, ready, ending_tx))
        }
        Some(child) => {
            drop((go_rx, ending_tx));
            if let Err(err) = identity::map(child, uid, gid, args.user_uid) {
                let _ = kill(child, Signal::SIGKILL);
                let _ = waitpid(child, None);
                return Err(err);
            }
            nix::unistd::write(&go_tx, b"1").map_err(|e| format!("start pid 1: {e}"))?;
            drop(go_tx);
            ready.close();
            let status = supervise(
                child,
                Forward::UnlessFromParent,
                None,
                output.map(Output::into_pump),
            );
            let mut told = [0u8; 64];
            let told = nix::unistd::read(&ending_rx, &mut told)
                .ok()
                .and_then(|n| Ending::parse(&String::from_utf8_lossy(&told[..n])));
            record_ending(record, told);
            Ok(exit_code(status))
        }
    }
}

/// Forks into fresh namespaces: `None` in the child, which is pid 1 of its pid namespace,
/// the child's pid in the parent.
fn clone_namespaced(namespaces: CloneFlags) -> Result<Option<Pid>, String> {
    // SAFETY: clone without CLONE_VM and without a stack is fork with namespaces; this
    // process has one thread only, so the child's copy of its memory is consistent.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (namespaces.bits() | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match pid {
        0 => Ok(None),
        pid if pid > 0 => Ok(Some(Pid::from_raw(pid as i32))),
        _ => Err(format!("clone: {}", std::io::Error::last_os_error())),
    }
}

/// Joins the sandbox's cgroups and sets its flavor's rlimits: what every process of the
/// sandbox, and every command run in it later, is held to.
fn confine(args: &KeeperArgs) -> Result<(), String> {
    for dir in &args.cgroups {
        // Joining is best effort: the daemon reports what the host offers.
        if let Err(err) = std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string()) {
            eprintln!("msbd keeper: cannot join {}: {err}", dir.display());
        }
    }
    let limits = [
        (
            Resource::RLIMIT_AS,
            args.memory_mb.map(|mb| mb * 1024 * 1024),
        ),
        (Resource::RLIMIT_NOFILE, args.nofile),
        (Resource::RLIMIT_NPROC, args.nproc),
    ];
    for (resource, limit) in limits {
        if let Some(limit) = limit {
            setrlimit(resource, limit, limit)
                .map_err(|e| format!("setrlimit {resource:?}: {e}"))?;
        }
    }
    Ok(())
}

/// The file the command's end is recorded in, when there is a log: made now, as the sandbox
/// starts, since making a file amid the many removals of a stop of many sandboxes is slow on
/// some file systems, and then only written.
fn open_record(args: &KeeperArgs) -> Result<Option<File>, String> {
    let Some(log) = args.log.as_deref() else {
        return Ok(None);
    };
    let path = LogFiles::of(log).exit;
    File::create(&path)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Pid 1 of the sandbox's pid namespace: its own root filesystem, then the command as pid 2;
/// exits with the command's status, which takes every other process of the namespace with
/// it, and tells the keeper above how the command ended (`ending`).
fn init(args: &KeeperArgs, ready: &mut Ready, ending: OwnedFd) -> ExitCode {
    let setup = || -> Result<(), String> {
        // Opened while still the keeper's user, which owns the directories on their paths
        // (the sandbox's user may not pass them), and in this mount namespace, so they can
        // be bound.
        let work = args
            .workdir
            .as_deref()
            .map(|dir| {
                open(
                    dir,
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| format!("working directory {}: {e}", dir.display()))
            })
            .transpose()?;
        let mounts = args
            .mounts
            .iter()
            .map(|mount| {
                open(&mount.host, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
                    .map(|fd| (fd, mount))
                    .map_err(|e| format!("mount {mount}: {}: {e}", mount.host.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        become_root()?;
        // Should the keeper above be killed outright, pid 1 goes too, and the namespace with
        // it. (Set after the change of identity, which clears it.)
        let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| format!("make / private: {e}"))?;
        let hostname: Option<String> = args
            .hostname
            .as_ref()
            .map(|name| name.chars().take(63).collect());
        if let Some(name) = &hostname {
            sethostname(name).map_err(|e| format!("sethostname: {e}"))?;
        }
        rootfs::enter(&rootfs::Plan {
            work: work.as_ref(),
            mounts: &mounts,
            hostname: hostname.as_deref().unwrap_or("localhost"),
        })?;
        if args.host_network {
            return Ok(());
        }
        loopback_up().map_err(|e| format!("bring up lo: {e}"))
    };
    if let Err(err) = setup() {
        return ready.fail(&err);
    }
    if args.probe {
        return ExitCode::SUCCESS;
    }
    if let Some(signal) = pending_termination() {
        // Stopped before the command existed: it is never started.
        return died_of(signal);
    }
    if args.command.is_empty() {
        // Without a command pid 1 idles itself: one process fewer to start, and to end.
        ready.close();
        idle_as_init();
        let _ = nix::unistd::write(&ending, Ending::Exited(0).text().as_bytes());
        return ExitCode::SUCCESS;
    }
    // SAFETY: still a single thread.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => start(args, ready).unwrap_or_else(|err| ready.fail(&err)),
        Ok(ForkResult::Parent { child }) => {
            ready.close();
            let status = supervise(child, Forward::OnlyRelayed, None, None);
            if let Some(ended) = self::ending(status) {
                // The pipe holds far more than a line: this never blocks.
                let _ = nix::unistd::write(&ending, ended.text().as_bytes());
            }
            exit_code(status)
        }
        Err(err) => ready.fail(&format!("fork: {err}")),
    }
}

/// Pid 1 of a sandbox without a command: reaps what commands run in it leave behind until
/// a termination signal comes from outside the sandbox: msbd's, or one its keeper relays.
fn idle_as_init() {
    loop {
        let (signo, info) = next_signal();
        if signo == libc::SIGCHLD {
            while matches!(
                waitpid(None, Some(WaitPidFlag::WNOHANG)),
                Ok(status) if status != WaitStatus::StillAlive
            ) {}
            continue;
        }
        // SAFETY: every signal waited for carries a sender's pid, 0 for one outside the
        // sandbox's pid namespace.
        if unsafe { info.si_pid() } == 0 {
            return;
        }
    }
}

/// The termination signal already waiting, if any.
pub(super) fn pending_termination() -> Option<Signal> {
    let pending = sigpending().ok()?;
    termination()
        .iter()
        .find(|signal| pending.contains(*signal))
}

fn sigpending() -> Result<SigSet, nix::Error> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set it is given.
    let res = unsafe { libc::sigpending(set.as_mut_ptr()) };
    nix::errno::Errno::result(res)?;
    // SAFETY: initialised by the successful call above.
    Ok(unsafe { SigSet::from_sigset_t_unchecked(set.assume_init()) })
}

/// Brings up the new network namespace's loopback interface (it starts down), so code in
/// the sandbox can reach its own servers on 127.0.0.1; nothing else is reachable.
fn loopback_up() -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let socket = std::net::UdpSocket::bind(("0.0.0.0", 0))?;
    // SAFETY: an all-zero ifreq is valid; it names "lo", and both ioctls read or write
    // only that struct through a socket that stays open for the calls.
    unsafe {
        let mut request: libc::ifreq = std::mem::zeroed();
        for (dst, src) in request.ifr_name.iter_mut().zip(b"lo") {
            *dst = *src as libc::c_char;
        }
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Which termination signals a supervising keeper passes on to its child. A stop from msbd
/// signals the whole process group, so everyone already has it; only a signal aimed at one
/// keeper needs relaying, and relays travel as queued signals so the next level knows them.
#[derive(Clone, Copy)]
pub(super) enum Forward {
    /// The outer keeper: relay what did not come from msbd, its parent.
    UnlessFromParent,
    /// Pid 1: relay what the outer keeper relayed.
    OnlyRelayed,
    /// A command's entering process: msbd signals it alone, so everything is relayed.
    All,
}

/// Waits for `main` to exit (reaping every other child meanwhile) and returns how it ended,
/// passing termination signals on as `forward` says; records how it ended at `record`, and
/// copies its output into the log meanwhile (`pump`).
pub(super) fn supervise(
    main: Pid,
    forward: Forward,
    record: Option<File>,
    mut pump: Option<Pump>,
) -> WaitStatus {
    // A signal that came between the last look and the fork reached only this process:
    // `main` is told too. (Taken from the queue below, it is not relayed again.)
    if let Some(signal) = pending_termination() {
        relay_signal(main, signal as i32, forward);
    }
    let signals = match SignalFd::with_flags(&supervised(), SfdFlags::SFD_CLOEXEC) {
        Ok(signals) => signals,
        Err(err) => {
            // Nothing could tell this keeper of a stop: the sandbox must not live on.
            eprintln!("msbd keeper: signalfd: {err}");
            let _ = kill(main, Signal::SIGKILL);
            return WaitStatus::StillAlive;
        }
    };
    loop {
        let (signalled, output) = {
            let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
            if let Some(pump) = &pump {
                fds.push(PollFd::new(pump.fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::Error::EINTR) => continue,
                Err(err) => {
                    // Only the pipe can be at fault; the wait goes on without the log.
                    eprintln!("msbd keeper: poll: {err}");
                    pump = None;
                    continue;
                }
            }
            let ready = |fd: &PollFd| fd.any().unwrap_or(true);
            (ready(&fds[0]), fds.get(1).is_some_and(ready))
        };
        if output && !pump.as_mut().is_some_and(Pump::copy) {
            // Nobody writes into it any more.
            pump = None;
        }
        if !signalled {
            continue;
        }
        let Ok(Some(info)) = signals.read_signal() else {
            continue;
        };
        let signo = info.ssi_signo as i32;
        if signo == libc::SIGCHLD {
            if let Some(status) = reap(main) {
                if let Some(pump) = pump {
                    pump.finish();
                }
                record_ending(record, ending(status));
                return status;
            }
            continue;
        }
        let relay = match forward {
            Forward::UnlessFromParent => info.ssi_pid as i32 != getppid().as_raw(),
            Forward::OnlyRelayed => info.ssi_code == libc::SI_QUEUE,
            Forward::All => true,
        };
        if relay {
            relay_signal(main, signo, forward);
        }
    }
}

/// The next termination signal or SIGCHLD (all blocked since start-up), with who sent it.
pub(super) fn next_signal() -> (i32, libc::siginfo_t) {
    let set = supervised();
    loop {
        let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::uninit();
        // SAFETY: sigwaitinfo fills `info` for the signal it returns; the set is blocked.
        let signo = unsafe { libc::sigwaitinfo(set.as_ref(), info.as_mut_ptr()) };
        if signo >= 0 {
            // SAFETY: initialised by the successful call above.
            return (signo, unsafe { info.assume_init() });
        }
    }
}

fn relay_signal(to: Pid, signo: i32, forward: Forward) {
    match forward {
        Forward::UnlessFromParent => {
            // SAFETY: sigqueue only reads its arguments.
            unsafe {
                libc::sigqueue(
                    to.as_raw(),
                    signo,
                    libc::sigval {
                        sival_ptr: std::ptr::null_mut(),
                    },
                );
            }
        }
        Forward::OnlyRelayed | Forward::All => {
            if let Ok(signal) = Signal::try_from(signo) {
                let _ = kill(to, signal);
            }
        }
    }
}

/// Reaps every child that has exited; `Some` with `main`'s status once it is among them.
pub(super) fn reap(main: Pid) -> Option<WaitStatus> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return None,
            Ok(status) if status.pid() == Some(main) => return Some(status),
            Ok(_) | Err(nix::Error::EINTR) => {}
            // No child at all: `main` is gone, and how it ended is unknown.
            Err(_) => return Some(WaitStatus::StillAlive),
        }
    }
}

/// Records how the command ended in `record`, when there is one and the end is known.
fn record_ending(record: Option<File>, ending: Option<Ending>) {
    if let (Some(mut record), Some(ending)) = (record, ending) {
        if let Err(err) = ending.record(&mut record) {
            eprintln!("msbd keeper: cannot record the exit: {err}");
        }
    }
}

fn ending(status: WaitStatus) -> Option<Ending> {
    match status {
        WaitStatus::Exited(_, code) => Some(Ending::Exited(code)),
        WaitStatus::Signaled(_, signal, _) => Some(Ending::Killed(signal as i32)),
        _ => None,
    }
}

/// The status of a process that ended by `signal`, as a shell reports it: 128+N.
pub(super) fn died_of(signal: Signal) -> ExitCode {
    ExitCode::from(128u8.saturating_add(signal as u8))
}

fn exit_code(status: WaitStatus) -> ExitCode {
    match status {
        WaitStatus::Exited(_, code) => ExitCode::from(code as u8),
        WaitStatus::Signaled(_, signal, _) => died_of(signal),
        _ => ExitCode::FAILURE,
    }
}

/// Replaces this process with the command (looked up in PATH), or idles until SIGTERM,
/// SIGINT or SIGHUP.
fn start(args: &KeeperArgs, ready: &mut Ready) -> Result<ExitCode, String> {
    let command = &args.command;
    let Some(program) = command.first() else {
        ready.close();
        return Ok(idle());
    };
    let argv: Vec<CString> = command
        .iter()
        .map(|arg| {
            CString::new(arg.as_bytes()).map_err(|_| format!("argument {arg:?} holds a NUL byte"))
        })
        .collect::<Result<_, _>>()?;
    if let Some(signal) = pending_termination() {
        return Ok(died_of(signal));
    }
    super::lockdown::lock_down(!args.no_seccomp, args.as_user).map_err(|e| e.to_string())?;
    // The command gets the ordinary signal mask; a stop that comes from now on ends it the
    // ordinary way.
    let _ = SigSet::empty().thread_set_mask();
    match execvp(&argv[0], &argv) {
        Ok(never) => match never {},
        Err(err) => Err(format!("cannot run {program}: {}", err.desc())),
    }
}

fn idle() -> ExitCode {
    // The termination signals are blocked since start-up, so none is lost before `wait`.
    match termination().wait() {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
