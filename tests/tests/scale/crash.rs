//! A daemon killed in the middle of creates leaves nothing behind for good: after a restart
//! and two orphan-cleanup cycles, every working directory, record, cgroup and sandbox process
//! belongs to a session.

use msb_tests::Daemon;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::Read;
use std::time::Duration;

/// A moment within the first `max_ms` of the creates, from the kernel's random numbers.
fn random_moment(max_ms: u64) -> Duration {
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("random bytes");
    Duration::from_millis(u64::from_le_bytes(bytes) % max_ms)
}

#[test]
fn after_crashes_in_the_middle_of_creates_nothing_is_left_that_no_session_owns() {
    let _alone = super::alone();
    let args = [
        "--orphan-cleanup-interval",
        "300ms",
        "--max-sessions",
        "1000",
        "--max-total-memory-mb",
        "0",
    ];
    let mut daemon = Daemon::start(&args);
    for round in 0..20 {
        let new: Vec<String> = (0..8).map(|i| format!("r{round:02}-{i}")).collect();
        let pid = Pid::from_raw(daemon.pid() as i32);
        std::thread::scope(|scope| {
            let creates =
                scope.spawn(|| daemon.ctl_parallel(4, &["sessions", "create", "--id", "{}"], &new));
            std::thread::sleep(random_moment(120));
            kill(pid, Signal::SIGKILL).expect("SIGKILL msbd");
            creates.join().expect("creates");
        });
        daemon.kill();
        daemon.spawn(&args);
    }
    // Seen in one cycle and stopped in the next; what a crash left on disk goes in either.
    let first = daemon.task("orphan-cleanup")["cycles"]
        .as_u64()
        .unwrap_or(0);
    daemon.wait_task("orphan-cleanup", "two more cycles", |t| {
        t["cycles"].as_u64() >= Some(first + 2)
    });

    eprintln!(
        "{} sessions survived 20 crashes",
        daemon.session_ids(&[]).len()
    );
    daemon.assert_all_owned("no session after the crashes");
    daemon.finish();
}
