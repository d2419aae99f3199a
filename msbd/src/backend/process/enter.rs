//! `msbd keeper --exec`: runs one command inside a sandbox that is already running, as
//! `nsenter` and `docker exec` do. msbd starts it with the command's stdin, stdout and stderr
//! as its own; it joins the sandbox's cgroups and rlimits (`keeper::confine`), enters the
//! namespaces of the sandbox's pid 1 (the only child of the keeper named by `--join`) as its
//! root, and forks a subreaper inside them, which forks the command; with `--as-user` the
//! command (or copy) becomes the sandbox's ordinary user first, as the sandbox's own did.
//! Whatever the command leaves behind is reparented to the subreaper instead of escaping,
//! so a termination signal (a timeout, a cancel, a client gone) kills the whole tree,
//! however it forked or detached. A command that exits on its own may leave
//! background processes running in the sandbox, as `docker exec` does.
//!
//! The command's end travels up as it happened: its exit code, or death by its signal.
//! With `--copy-in`/`--copy-out` the "command" is msbd's own tar code, run in the same place:
//! in a sandbox with namespaces, its root filesystem is `/`, so paths resolve in the
//! sandbox's own view; without, chrooted into `--root`. Either way `..` and symlinks resolve
//! inside the sandbox's files, never the host's.

use super::identity::{become_root, become_user};
use super::keeper::{
    died_of, next_signal, pending_termination, reap, supervise, Forward, KeeperArgs, Ready,
};
use nix::libc;
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{chdir, chroot, execvp, fork, geteuid, getpid, setgroups, ForkResult, Pid};
use std::ffi::CString;
use std::fs::File;
use std::path::Path;
use std::process::ExitCode;

/// The namespaces a command enters, in the order `nsenter` enters them: the user namespace
/// first (it grants the rights for the others), the mount namespace last (after it, the
/// host's /proc is no longer there to open the others from). One the sandbox shares with
/// the host (the network, with `network=host`) is not entered: the host's is already ours,
/// and from inside the sandbox's user namespace joining it again would be refused.
const ENTERED: [(&str, CloneFlags); 6] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid_for_children", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// Exit status of a command that was not found, and of one that could not be run.
const NOT_FOUND: u8 = 127;
const CANNOT_RUN: u8 = 126;

pub(super) fn run(args: &KeeperArgs, ready: &mut Ready) -> Result<ExitCode, String> {
    if let Some(keeper) = args.join {
        enter(keeper)?;
    }
    if let Some(dir) = &args.workdir {
        chdir(dir).map_err(|e| format!("working directory {}: {e}", dir.display()))?;
    }
    if let Some(signal) = pending_termination() {
        return Ok(died_of(signal));
    }
    // SAFETY: no other thread exists in this process.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => Ok(subreaper(args, ready)),
        ForkResult::Parent { child } => {
            ready.close();
            quiet_stdio();
            Ok(end_as(supervise(child, Forward::All, None, None)))
        }
    }
}

/// Joins the namespaces of the sandbox whose keeper is `keeper`, as its root.
fn enter(keeper: i32) -> Result<(), String> {
    let init = init_of(keeper)
        .ok_or_else(|| format!("the sandbox is not running (keeper {keeper} has no pid 1)"))?;
    let mut opened: Vec<(File, CloneFlags, &str)> = Vec::new();
    for (name, flag) in ENTERED {
        let path = format!("/proc/{init}/ns/{name}");
        let file =
            File::open(&path).map_err(|e| format!("the sandbox is not running ({path}: {e})"))?;
        if !shared_with_us(&file, name) {
            opened.push((file, flag, name));
        }
    }
    // The keeper has one child ever: still its child now, the pid named the same process
    // when its namespaces were opened.
    if init_of(keeper) != Some(init) {
        return Err(format!(
            "the sandbox is not running (its pid 1, {init}, ended)"
        ));
    }
    if geteuid().is_root() {
        // None of msbd's supplementary groups goes in (inside, setgroups is denied).
        setgroups(&[]).map_err(|e| format!("setgroups: {e}"))?;
    }
    for (file, flag, name) in opened {
        setns(file, flag).map_err(|e| format!("enter the sandbox's {name} namespace: {e}"))?;
    }
    become_root()
}

/// Whether namespace `file` (of kind `name`) is the one this process is in already.
fn shared_with_us(file: &File, name: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata(format!("/proc/self/ns/{name}"));
    match (file.metadata(), ours) {
        (Ok(theirs), Ok(ours)) => theirs.dev() == ours.dev() && theirs.ino() == ours.ino(),
        _ => false,
    }
}

/// The sandbox's pid 1: the keeper's only child.
fn init_of(keeper: i32) -> Option<i32> {
    std::fs::read_to_string(format!("/proc/{keeper}/task/{keeper}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The first process inside the sandbox: forks the command and kills its whole tree on a
/// termination signal; exits as the command did.
fn subreaper(args: &KeeperArgs, ready: &mut Ready) -> ExitCode {
    // SAFETY: prctl with these arguments only sets flags of this process.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    // Should the process above be killed outright, the tree still goes (SIGTERM is waited
    // for below, like any stop).
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
    if let Some(signal) = pending_termination() {
        return died_of(signal);
    }
    // SAFETY: still a single thread.
    let main = match unsafe { fork() } {
        Ok(ForkResult::Child) => return command(args, ready),
        Ok(ForkResult::Parent { child }) => child,
        Err(err) => return ready.fail(&format!("fork: {err}")),
    };
    ready.close();
    quiet_stdio();
    let mut ended = None;
    loop {
        let (signo, _) = next_signal();
        if signo != libc::SIGCHLD {
            kill_tree(main, &mut ended);
        } else if ended.is_none() {
            ended = reap(main);
        }
        if let Some(status) = ended {
            return end_as(status);
        }
    }
}

/// Kills every descendant, until none is left; records `main`'s end when it is reaped here.
/// The tree is stopped before it is killed, so that a fork bomb cannot outrun the killing:
/// a stopped process forks no more.
fn kill_tree(main: Pid, ended: &mut Option<WaitStatus>) {
    loop {
        let tree = stopped_descendants();
        if tree.is_empty() {
            return;
        }
        for pid in tree {
            let _ = kill(pid, Signal::SIGKILL);
        }
        // Dying takes the kernel a moment; the orphans it hands over are killed next round.
        std::thread::sleep(std::time::Duration::from_millis(2));
        while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            match status {
                WaitStatus::StillAlive => break,
                status if status.pid() == Some(main) => *ended = Some(status),
                _ => {}
            }
        }
    }
}

/// Stops every descendant with SIGSTOP and returns them: walks the tree again until a walk
/// finds nobody new, since one not yet stopped may have forked meanwhile.
fn stopped_descendants() -> Vec<Pid> {
    let mut stopped: Vec<Pid> = Vec::new();
    loop {
        let mut new = false;
        let mut next = vec![getpid()];
        while let Some(parent) = next.pop() {
            for child in children(parent) {
                if !stopped.contains(&child) {
                    let _ = kill(child, Signal::SIGSTOP);
                    stopped.push(child);
                    new = true;
                }
                next.push(child);
            }
        }
        if !new {
            return stopped;
        }
    }
}

/// The children of every thread of `pid`.
fn children(pid: Pid) -> Vec<Pid> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .map(Pid::from_raw)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The command itself: a program from PATH, or msbd's own copy code.
fn command(args: &KeeperArgs, ready: &mut Ready) -> ExitCode {
    let _ = SigSet::empty().thread_set_mask();
    if args.copy_in.is_some() || args.copy_out.is_some() {
        // What it writes belongs to whoever the sandbox's commands run as.
        if args.as_user {
            if let Err(err) = become_user() {
                return ready.fail(&err);
            }
        }
        // Started: from here on its failures are the copy's, told on its stderr.
        ready.close();
        return copy(args);
    }
    let Some(program) = args.command.first() else {
        return ready.fail("no command given");
    };
    let argv = match args
        .command
        .iter()
        .map(|arg| CString::new(arg.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(argv) => argv,
        Err(_) => return ready.fail("an argument holds a NUL byte"),
    };
    if let Err(err) = super::lockdown::lock_down(!args.no_seccomp, args.as_user) {
        return ready.fail(&err.to_string());
    }
    // The readiness pipe closes on exec: the command has started. A command that cannot
    // be run is the command's failure, told on its stderr like a shell does.
    let err = match execvp(&argv[0], &argv) {
        Ok(never) => match never {},
        Err(err) => err,
    };
    ready.close();
    eprintln!("msbd: cannot run {program}: {}", err.desc());
    ExitCode::from(if err == nix::Error::ENOENT {
        NOT_FOUND
    } else {
        CANNOT_RUN
    })
}

/// Copies in (archive on stdin) or out (archive to stdout), in the sandbox's root filesystem
/// or chrooted into `--root`.
fn copy(args: &KeeperArgs) -> ExitCode {
    let confined = || -> Result<(), String> {
        if let Some(root) = &args.root {
            chroot(root)
                .map_err(|e| format!("cannot confine the copy to {}: {e}", root.display()))?;
            chdir("/").map_err(|e| format!("chdir /: {e}"))?;
        } else if args.join.is_none() {
            return Err("a copy needs --root or --join".into());
        }
        let result = match (&args.copy_in, &args.copy_out) {
            (Some(path), _) => msb_proto::archive::unpack(std::io::stdin().lock(), path).map(drop),
            (None, Some(path)) => msb_proto::archive::pack(path, std::io::stdout().lock()),
            (None, None) => Ok(()),
        };
        let path = args.copy_in.as_deref().or(args.copy_out.as_deref());
        result.map_err(|e| format!("{}: {e}", path.unwrap_or(Path::new("/")).display()))
    };
    match confined() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Ends this process the way `status` says its child ended: the same exit code, or death
/// by the same signal, so msbd sees the command's own end.
fn end_as(status: WaitStatus) -> ExitCode {
    match status {
        WaitStatus::Exited(_, code) => ExitCode::from(code as u8),
        WaitStatus::Signaled(_, signal, _) => {
            // No core file of ours for the command's crash.
            let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
            // SAFETY: the default disposition runs no code of ours.
            let _ =
                unsafe { nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigDfl) };
            let mut set = SigSet::empty();
            set.add(signal);
            let _ = set.thread_unblock();
            let _ = nix::sys::signal::raise(signal);
            died_of(signal)
        }
        _ => ExitCode::FAILURE,
    }
}

/// Points stdin, stdout and stderr at /dev/null, so that only the command holds the pipes
/// msbd reads: their end of file is the command's.
fn quiet_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        for fd in 0..=2 {
            // SAFETY: dup2 onto the standard descriptors, which this process owns.
            unsafe {
                libc::dup2(null.as_raw_fd(), fd);
            }
        }
    }
}
