//! Graceful shutdown of msbd with well-behaved sandboxes: by `msbctl stop` and by SIGTERM.

use super::{Backend, Rig};

pub fn stop_with_well_behaved_sandboxes_is_clean(backend: &Backend) {
    let mut rig = Rig::start(backend, &[]);
    rig.json(&["sessions", "create"]);
    rig.json(&["sessions", "create"]);
    let run = rig.ctl(&["stop", "--timeout", "10s"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("shutdown clean") && run.stdout.contains("2 stopped"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("stopping 2 sandbox"),
        "progress is shown: {run:?}"
    );
    assert_eq!(rig.wait_exit(), 0);
    rig.assert_no_sandboxes();
}

pub fn sigterm_shuts_down_the_same_way(backend: &Backend) {
    let mut rig = Rig::start(backend, &["--shutdown-timeout", "5s"]);
    rig.json(&["sessions", "create"]);
    let pid = nix::unistd::Pid::from_raw(rig.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    assert_eq!(rig.wait_exit(), 0);
    rig.assert_no_sandboxes();
    assert!(rig.log().contains("shutdown clean"), "{}", rig.log());
}
