//! Work in a `process` sandbox seen from the host: where a command runs, and what it leaves
//! behind. The behaviour every backend shares is in the suite (`suite/exec.rs`).

use msb_tests::{processes_with_env, wait_until, Daemon};

fn with_session(args: &[&str], id: &str) -> Daemon {
    let daemon = Daemon::start(args);
    let created = daemon.ctl(&["sessions", "create", "--id", id]);
    assert_eq!(created.code, 0, "{created:?}");
    daemon
}

#[test]
fn a_command_runs_inside_the_sandbox() {
    let daemon = with_session(&[], "w6");
    let shown = daemon.json(&["sessions", "show", "w6"]);
    let workdir = shown["details"]["workdir"]
        .as_str()
        .expect("workdir")
        .to_string();
    let sandbox = shown["sandbox"].as_str().expect("sandbox").to_string();
    let facts = daemon.exec(
        "w6",
        &[],
        &[
            "sh",
            "-c",
            "echo pid=$$; echo cwd=$(pwd); echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' '); \
             grep 'Max open files' /proc/self/limits; cat /proc/self/cgroup",
        ],
    );
    assert_eq!(facts.code, 0, "{facts:?}");
    let out = facts.stdout;
    let isolated = daemon.jailed();
    // With namespaces, the working directory is /work of the sandbox's own root.
    let cwd = if isolated { "/work" } else { workdir.as_str() };
    assert!(out.contains(&format!("cwd={cwd}\n")), "{out}");
    assert!(
        out.contains("Max open files            1024"),
        "the flavor's limit: {out}"
    );
    if !daemon.cgroup_dirs().is_empty() {
        assert!(out.contains(&sandbox), "in the sandbox's cgroups: {out}");
    }
    if isolated {
        let pid: u32 = out
            .lines()
            .find_map(|l| l.strip_prefix("pid="))
            .and_then(|p| p.parse().ok())
            .expect("pid line");
        assert!(pid < 100, "pid {pid} in the sandbox's pid namespace: {out}");
        let ifaces = out
            .lines()
            .find_map(|l| l.strip_prefix("ifaces="))
            .unwrap_or_default();
        assert_eq!(ifaces.trim(), "lo", "only loopback: {out}");
    }
    daemon.finish();
}

#[test]
fn what_a_command_leaves_in_the_background_goes_with_its_sandbox() {
    for isolation in ["auto", "none"] {
        let daemon = with_session(&["--isolation", isolation], "w12");
        let mark = format!("MSB_TEST_MARK=w12-{isolation}");
        let run = daemon.exec(
            "w12",
            &["-e", &mark],
            &[
                "sh",
                "-c",
                "setsid sleep 300 > /dev/null 2>&1 < /dev/null & echo started",
            ],
        );
        assert_eq!((run.code, run.stdout.as_str()), (0, "started\n"), "{run:?}");
        let value = mark.trim_start_matches("MSB_TEST_MARK=");
        wait_until("the background process to run", || {
            (!processes_with_env("MSB_TEST_MARK", value).is_empty()).then_some(())
        });
        assert_eq!(daemon.ctl(&["sessions", "stop", "w12"]).code, 0);
        wait_until("the background process to be gone with its sandbox", || {
            processes_with_env("MSB_TEST_MARK", value)
                .is_empty()
                .then_some(())
        });
        daemon.finish();
    }
}
