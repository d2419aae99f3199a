//! Section 5: `msbctl sessions exec ID -- true` beside entering the same sandbox's namespaces
//! with `nsenter` and running `true` there (or running `true` here where the sandbox has no
//! namespaces of its own), run by run; and the output throughput of `exec -- cat FILE` beside
//! `cat` of a file as big here.

use crate::daemon::{Bins, Daemon, CTL_WAIT};
use crate::proc::{self, Running};
use crate::suite::Plan;
use crate::table::{median_ms, Figure, Table, Target};
use crate::{Context, Result};
use std::fs;
use std::process::Command;

/// The namespaces a sandbox may have, and nsenter's flag for each.
const NAMESPACES: [(&str, &str); 7] = [
    ("user", "-U"),
    ("mnt", "-m"),
    ("uts", "-u"),
    ("ipc", "-i"),
    ("net", "-n"),
    ("pid", "-p"),
    ("cgroup", "-C"),
];

pub fn run(bins: &Bins, plan: &Plan, table: &Table) -> Result<()> {
    eprintln!("[exec] msbd with the default isolation, one session");
    let args = crate::shutdown::daemon_args("1h", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let daemon = Daemon::start(bins, &args)?;
    let id = daemon
        .create_sessions(&[None], 1)?
        .pop()
        .ok_or("no session was created")?;
    let show = daemon
        .ctl
        .run(&["--json", "sessions", "show", &id], CTL_WAIT)?
        .json()
        .context("msbctl sessions show")?;
    let Some(pid) = show["details"]["pid"].as_u64() else {
        table.missing("exec round trip", "msbctl sessions show gives no pid");
        return Ok(());
    };
    let (pid, flags) = namespaced(pid);
    let reference = || {
        let mut cmd = if flags.is_empty() {
            Command::new("true")
        } else {
            let mut cmd = Command::new("nsenter");
            cmd.arg("-t").arg(pid.to_string()).args(&flags).arg("true");
            cmd
        };
        cmd.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        cmd
    };
    let what_ref = if flags.is_empty() {
        "`true` here".to_string()
    } else {
        format!("nsenter {}", flags.join(" "))
    };
    let mut execs = Vec::with_capacity(plan.pairs);
    let mut refs = Vec::with_capacity(plan.pairs);
    for _ in 0..plan.pairs {
        refs.push(proc::time(reference(), &what_ref, CTL_WAIT)?);
        execs.push(proc::time(
            daemon.ctl.command(&["sessions", "exec", &id, "--", "true"]),
            "msbctl sessions exec -- true",
            CTL_WAIT,
        )?);
    }
    table.row(
        "sessions exec -- true, round trip",
        Figure::ms(median_ms(&execs)),
        Some(Figure::ms(median_ms(&refs)).and(&what_ref)),
        Target::RatioAtMost(2.0),
    );

    let bytes = plan.big_file;
    let make = format!("head -c {bytes} /dev/zero > msb-bench.big");
    let made = daemon.ctl.run(
        &["sessions", "exec", &id, "--", "sh", "-c", &make],
        CTL_WAIT,
    )?;
    if !made.ok() {
        table.missing("exec -- cat FILE, output", &made.why());
        return Ok(());
    }
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let local = dir.path().join("msb-bench.big");
    fs::write(&local, vec![0u8; bytes]).context("cannot write the local file")?;
    let exec = read_all(
        daemon
            .ctl
            .command(&["sessions", "exec", &id, "--", "cat", "msb-bench.big"]),
        bytes,
    )?;
    let mut cat = Command::new("cat");
    cat.arg(&local);
    let here = read_all(cat, bytes)?;
    table.row(
        &format!("exec -- cat FILE ({} MiB), output", bytes >> 20),
        Figure::with_unit(exec, "MiB/s"),
        Some(Figure::with_unit(here, "MiB/s").and("cat here")),
        Target::None,
    );
    Ok(())
}

/// The first process from `pid` down (the sandbox's keeper, then its child) in namespaces of
/// its own, and nsenter's flags for those; `pid` and none where the sandbox has none.
fn namespaced(pid: u64) -> (u64, Vec<&'static str>) {
    let mut at = pid;
    for _ in 0..3 {
        let flags = entered(at);
        if !flags.is_empty() {
            return (at, flags);
        }
        let children = fs::read_to_string(format!("/proc/{at}/task/{at}/children"));
        match children
            .ok()
            .and_then(|c| c.split_whitespace().next()?.parse().ok())
        {
            Some(child) => at = child,
            None => break,
        }
    }
    (pid, Vec::new())
}

/// nsenter's flags for the namespaces `pid` does not share with this process.
fn entered(pid: u64) -> Vec<&'static str> {
    let link = |owner: &str, ns: &str| fs::read_link(format!("/proc/{owner}/ns/{ns}")).ok();
    NAMESPACES
        .iter()
        .filter(|(ns, _)| link(&pid.to_string(), ns) != link("self", ns))
        .map(|(_, flag)| *flag)
        .collect()
}

/// Runs `cmd`, which prints `bytes` bytes; returns its output rate in MiB/s.
fn read_all(cmd: Command, bytes: usize) -> Result<f64> {
    let run = Running::spawn(cmd, "a command printing a file")?.finish(CTL_WAIT)?;
    if !run.ok() || run.stdout.len() != bytes {
        return Err(format!(
            "printing the file gave {} bytes of {bytes}: {}",
            run.stdout.len(),
            run.why()
        ));
    }
    Ok(bytes as f64 / (1 << 20) as f64 / run.elapsed.as_secs_f64())
}
