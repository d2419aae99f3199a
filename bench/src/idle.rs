//! Section 6: what an idle daemon with 100 sessions costs while nothing is due (no cycle, no
//! client): its syscalls, counted by `strace -c -f` where it is installed (epoll waits
//! included), else its read and write syscalls from /proc/PID/io's syscr and syscw; its
//! wake-ups, as the context switches of all its threads; its CPU time from /proc/PID/stat;
//! and its resident memory.

use crate::daemon::CTL_WAIT;
use crate::daemon::{Bins, Daemon};
use crate::proc::Running;
use crate::suite::Plan;
use crate::table::{Figure, Table, Target};
use crate::{proc, Context, Result};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::fs;
use std::process::Command;
use std::time::Duration;

/// Sessions of the idle daemon.
const SESSIONS: usize = 100;
/// Time given to the daemon to settle after the creates.
const SETTLE: Duration = Duration::from_secs(1);

pub fn run(bins: &Bins, plan: &Plan, table: &Table) -> Result<()> {
    eprintln!("[idle] {SESSIONS} sessions, watched for {:?}", plan.idle);
    let args = crate::shutdown::daemon_args("1h", &["--isolation", "none"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let daemon = Daemon::start(bins, &args)?;
    daemon.create_sessions(&[None; SESSIONS], crate::daemon::CLIENTS)?;
    let pid = daemon.pid().ok_or("msbd is not running")?;
    proc::sleep(SETTLE)?;
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let summary = dir.path().join("strace.txt");
    let mut strace = Command::new("strace");
    strace
        .args(["-c", "-f", "-o"])
        .arg(&summary)
        .args(["-p", &pid.to_string()]);
    // Absent strace, the count falls back to /proc/PID/io.
    let strace = Running::spawn(strace, "strace").ok();
    // Counted once strace has attached: attaching stops every thread, a switch each.
    proc::sleep(SETTLE)?;
    let before = Usage::of(pid)?;
    proc::sleep(plan.idle)?;
    let after = Usage::of(pid)?;
    let secs = plan.idle.as_secs();
    let traced = strace.and_then(|strace| {
        let _ = signal::kill(Pid::from_raw(strace.pid() as i32), Signal::SIGINT);
        // strace exits 130 on SIGINT; it ran if it attached. No summary: no call at all.
        let run = strace.finish(CTL_WAIT).ok()?;
        run.stderr.contains("attached").then_some(())?;
        Some(total_calls(&fs::read_to_string(&summary).unwrap_or_default()).unwrap_or(0))
    });
    match traced {
        Some(calls) => table.row(
            &format!("syscalls in {secs} s (strace -c -f)"),
            Figure::with_unit(calls as f64, "calls"),
            None,
            Target::None,
        ),
        None => table.row(
            &format!("read+write syscalls in {secs} s (/proc/PID/io)"),
            Figure::with_unit((after.syscalls - before.syscalls) as f64, "calls"),
            None,
            Target::None,
        ),
    }
    table.row(
        &format!("wake-ups in {secs} s (context switches, all threads)"),
        Figure::with_unit(after.switches_since(&before) as f64, "switches"),
        None,
        Target::AtMost(0.0),
    );
    table.row(
        &format!("CPU time in {secs} s (/proc/PID/stat)"),
        Figure::ms((after.cpu - before.cpu).as_secs_f64() * 1000.0),
        None,
        Target::None,
    );
    table.row(
        &format!("RSS with {SESSIONS} sessions"),
        Figure::with_unit(daemon.rss_kib()? as f64 / 1024.0, "MiB"),
        None,
        Target::None,
    );
    Ok(())
}

/// The calls of the `total` line of an `strace -c` summary: `100.00 0.000123 12 10 [1] total`.
fn total_calls(summary: &str) -> Option<u64> {
    let line = summary
        .lines()
        .rev()
        .find(|l| l.trim_end().ends_with("total"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

struct Usage {
    syscalls: u64,
    /// Voluntary and involuntary context switches, by thread id.
    switches: HashMap<String, u64>,
    cpu: Duration,
}

impl Usage {
    fn of(pid: u32) -> Result<Self> {
        let io = fs::read_to_string(format!("/proc/{pid}/io")).context("/proc/PID/io")?;
        let field = |name: &str| -> u64 {
            io.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).context("/proc/PID/stat")?;
        // utime and stime: fields 14 and 15, the 12th and 13th after the command's ')'.
        let ticks: u64 = stat
            .rfind(')')
            .map(|at| {
                stat[at + 1..]
                    .split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum()
            })
            .ok_or("cannot read /proc/PID/stat")?;
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|hz| *hz > 0)
            .unwrap_or(100) as u64;
        let mut switches = HashMap::new();
        for task in fs::read_dir(format!("/proc/{pid}/task")).context("/proc/PID/task")? {
            let Ok(task) = task else { continue };
            let status = fs::read_to_string(task.path().join("status")).unwrap_or_default();
            let count = status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
            switches.insert(task.file_name().to_string_lossy().into_owned(), count);
        }
        Ok(Self {
            syscalls: field("syscr:") + field("syscw:"),
            switches,
            cpu: Duration::from_millis(ticks * 1000 / hz),
        })
    }

    /// Context switches since `before` of the threads alive now (a thread that ended in
    /// between took its count with it; one that started counts whole).
    fn switches_since(&self, before: &Usage) -> u64 {
        self.switches
            .iter()
            .map(|(tid, now)| now.saturating_sub(before.switches.get(tid).copied().unwrap_or(0)))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strace_totals() {
        let with_errors = "% time     seconds  usecs/call     calls    errors syscall\n\
            ------ ----------- ----------- --------- --------- ----------------\n\
            100.00    0.000123          12        10         1 total\n";
        assert_eq!(super::total_calls(with_errors), Some(10));
        let without = "100.00    0.000000           0         7           total\n";
        assert_eq!(super::total_calls(without), Some(7));
        assert_eq!(super::total_calls("nothing"), None);
    }
}
