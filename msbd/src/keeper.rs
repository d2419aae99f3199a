//! `msbd keeper`: the first process of every sandbox of the `process` backend. Started by
//! the daemon in a session of its own, it joins the sandbox's cgroups, sets the flavor's
//! rlimits, and, with `--isolate`, moves into fresh user, pid, mount, network, ipc and uts
//! namespaces: a child becomes pid 1 there (it mounts a private /proc and reaps), and the
//! command runs as pid 2. Without a command it idles until SIGTERM (the `default` template).
//!
//! It runs before any thread exists, which is what makes `unshare` and `fork` safe here.

use clap::Args;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{execv, fork, getegid, geteuid, sethostname, ForkResult, Pid};
use std::ffi::CString;
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Address-space limit.
    #[arg(long)]
    pub memory_mb: Option<u64>,
    #[arg(long)]
    pub nofile: Option<u64>,
    #[arg(long)]
    pub nproc: Option<u64>,
    /// Cgroup directories to join.
    #[arg(long = "cgroup")]
    pub cgroups: Vec<PathBuf>,
    /// The command; none means idle until SIGTERM.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// The namespaces a sandbox gets.
const NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWUSER
    .union(CloneFlags::CLONE_NEWPID)
    .union(CloneFlags::CLONE_NEWNS)
    .union(CloneFlags::CLONE_NEWNET)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWUTS);

pub fn run(args: KeeperArgs) -> ExitCode {
    match keep(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("msbd keeper: {err}");
            ExitCode::from(111)
        }
    }
}

fn keep(args: KeeperArgs) -> Result<ExitCode, String> {
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
    if !args.isolate && !args.probe {
        return run_command(&args.command);
    }
    enter_namespaces()?;
    // SAFETY: no other thread exists in this process.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => Ok(init(&args)),
        ForkResult::Parent { child } => Ok(wait_for(child)),
    }
}

/// Unshares every namespace and maps root inside to our own user outside.
fn enter_namespaces() -> Result<(), String> {
    let (uid, gid) = (geteuid(), getegid());
    unshare(NAMESPACES).map_err(|e| format!("unshare: {e}"))?;
    let write = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), text)
            .map_err(|e| format!("write /proc/self/{file}: {e}"))
    };
    write("setgroups", "deny".into())?;
    write("uid_map", format!("0 {uid} 1"))?;
    write("gid_map", format!("0 {gid} 1"))
}

/// Pid 1 of the sandbox's pid namespace: a private /proc, then the command as pid 2; exits
/// with the command's status, which takes every other process of the namespace with it.
fn init(args: &KeeperArgs) -> ExitCode {
    let setup = || -> Result<(), String> {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| format!("make / private: {e}"))?;
        mount(
            Some("proc"),
            "/proc",
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(|e| format!("mount /proc: {e}"))?;
        if let Some(name) = &args.hostname {
            let name: String = name.chars().take(63).collect();
            sethostname(name).map_err(|e| format!("sethostname: {e}"))?;
        }
        loopback_up().map_err(|e| format!("bring up lo: {e}"))
    };
    if let Err(err) = setup() {
        eprintln!("msbd keeper: {err}");
        return ExitCode::from(111);
    }
    if args.probe {
        return ExitCode::SUCCESS;
    }
    // SAFETY: still a single thread.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => run_command(&args.command).unwrap_or_else(|err| {
            eprintln!("msbd keeper: {err}");
            ExitCode::from(111)
        }),
        Ok(ForkResult::Parent { child }) => reap_until(child),
        Err(err) => {
            eprintln!("msbd keeper: fork: {err}");
            ExitCode::from(111)
        }
    }
}

/// Brings up the new network namespace's loopback interface (it starts down), so code in
/// the sandbox can reach its own servers on 127.0.0.1; nothing else is reachable.
fn loopback_up() -> std::io::Result<()> {
    use nix::libc;
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

/// Reaps every orphan of the namespace until `main` exits, then exits as it did.
fn reap_until(main: Pid) -> ExitCode {
    loop {
        match waitpid(None, None) {
            Ok(status) if status.pid() == Some(main) => return exit_code(status),
            Ok(_) => {}
            Err(nix::Error::EINTR) => {}
            Err(_) => return ExitCode::FAILURE,
        }
    }
}

fn wait_for(child: Pid) -> ExitCode {
    loop {
        match waitpid(child, None) {
            Ok(status) => return exit_code(status),
            Err(nix::Error::EINTR) => {}
            Err(_) => return ExitCode::FAILURE,
        }
    }
}

fn exit_code(status: WaitStatus) -> ExitCode {
    match status {
        WaitStatus::Exited(_, code) => ExitCode::from(code as u8),
        WaitStatus::Signaled(_, signal, _) => ExitCode::from(128u8.saturating_add(signal as u8)),
        _ => ExitCode::FAILURE,
    }
}

/// Replaces this process with the command, or idles until SIGTERM, SIGINT or SIGHUP.
fn run_command(command: &[String]) -> Result<ExitCode, String> {
    let Some(program) = command.first() else {
        return Ok(idle());
    };
    let argv: Vec<CString> = command
        .iter()
        .map(|arg| {
            CString::new(arg.as_bytes()).map_err(|_| format!("argument {arg:?} holds a NUL byte"))
        })
        .collect::<Result<_, _>>()?;
    let path =
        CString::new(program.as_bytes()).map_err(|_| "program holds a NUL byte".to_string())?;
    match execv(&path, &argv) {
        Ok(never) => match never {},
        Err(err) => Err(format!("exec {program}: {err}")),
    }
}

fn idle() -> ExitCode {
    let mut signals = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(signal);
    }
    // Blocked signals stay pending until `wait` takes them, so none is lost before it runs.
    if signals.thread_block().is_err() {
        return ExitCode::FAILURE;
    }
    match signals.wait() {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
