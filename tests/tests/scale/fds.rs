//! Under a small open-file limit (what systemd gives a service by default), creates beyond
//! msbd's descriptor budget fail with a clear error before anything is made.

use msb_tests::Daemon;
use nix::sys::resource::{setrlimit, Resource};
use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;

#[test]
fn under_a_1024_open_file_limit_creates_beyond_the_budget_fail_cleanly() {
    let _alone = super::alone();
    let daemon = Daemon::start_with(
        &["--max-sessions", "2000", "--max-total-memory-mb", "0"],
        |_| {},
        |cmd| {
            // SAFETY: setrlimit is async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    setrlimit(Resource::RLIMIT_NOFILE, 1024, 1024).map_err(std::io::Error::from)
                });
            }
        },
    );
    let budget = daemon.status()["resources"]["fds"].clone();
    assert_eq!(budget["limit"], 1024, "{budget}");
    let max = budget["max_sandboxes"].as_u64().expect("max_sandboxes");
    assert!(max > 100 && max < 1100, "{budget}");

    let ids: Vec<String> = (0..1100).map(|i| format!("s-{i:04}")).collect();
    let runs = daemon.ctl_parallel(4, &["sessions", "create", "--id", "{}"], &ids);
    let mut created = BTreeSet::new();
    for (id, run) in ids.iter().zip(&runs) {
        if run.code == 0 {
            created.insert(id.clone());
            continue;
        }
        let error = &run.json()["error"];
        assert_eq!(error["code"], "limit_reached", "{id}: {run:?}");
        assert!(
            error["message"].as_str().is_some_and(
                |m| m.contains("file descriptor budget") && m.contains("RLIMIT_NOFILE 1024")
            ),
            "{id}: {run:?}"
        );
    }
    eprintln!("{} of 1100 creates fit the budget of {max}", created.len());
    assert_eq!(
        created.len() as u64,
        max,
        "every create within the budget succeeds"
    );

    let listed: BTreeSet<String> = daemon.session_ids(&[]).into_iter().collect();
    assert_eq!(listed, created);
    let workdirs: BTreeSet<String> = daemon.state_entries("work").into_iter().collect();
    assert_eq!(
        workdirs,
        daemon.session_sandboxes(),
        "no directory of a failed create"
    );
    daemon.assert_all_owned("a failed create");
    assert_eq!(daemon.status()["overall"], "healthy");
    assert!(
        !daemon.log().contains("Too many open files"),
        "msbd itself never ran out"
    );
    daemon.finish();
}
