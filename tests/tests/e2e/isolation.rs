//! Inside a sandbox: its own pid and network namespaces, and the flavor's limits.

use msb_tests::{wait_until, Daemon};

/// Writes what the sandbox sees of itself to `facts` in its working directory.
const PROBE: &str = "probe=echo pid=$$ > facts.tmp; \
    echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ') >> facts.tmp; \
    echo loopback=$(grep -c 'host LOCAL' /proc/net/fib_trie) >> facts.tmp; \
    grep -E 'Max (address space|open files|processes)' /proc/self/limits >> facts.tmp; \
    mv facts.tmp facts; sleep 300";

fn facts(daemon: &Daemon, flavor: &str) -> String {
    let created = daemon.json(&[
        "sessions",
        "create",
        "--template",
        "probe",
        "--flavor",
        flavor,
    ]);
    let sandbox = created["sandbox"].as_str().unwrap_or_default().to_string();
    let file = daemon.state.join("work").join(sandbox).join("facts");
    wait_until("the sandbox to write its facts", || {
        std::fs::read_to_string(&file).ok()
    })
}

/// The soft limit on one line of /proc/self/limits.
fn limit(facts: &str, name: &str) -> Option<u64> {
    let line = facts.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

#[test]
fn a_sandbox_has_its_own_namespaces_and_its_flavors_limits() {
    let daemon = Daemon::start(&["--template", PROBE]);
    let jailed = daemon.jailed();
    let facts = facts(&daemon, "medium");
    if jailed {
        let pid: u32 = facts
            .lines()
            .find_map(|l| l.strip_prefix("pid="))
            .and_then(|p| p.parse().ok())
            .expect("pid line");
        assert!(pid <= 3, "pid {pid} in its own namespace: {facts}");
        let ifaces = facts
            .lines()
            .find_map(|l| l.strip_prefix("ifaces="))
            .unwrap_or_default();
        assert_eq!(ifaces.trim(), "lo", "only loopback: {facts}");
        let loopback: u32 = facts
            .lines()
            .find_map(|l| l.strip_prefix("loopback="))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        assert!(loopback >= 1, "loopback is up, with 127.0.0.1: {facts}");
    }
    assert_eq!(
        limit(&facts, "Max address space"),
        Some(2048 * 1024 * 1024),
        "{facts}"
    );
    assert_eq!(limit(&facts, "Max open files"), Some(2048), "{facts}");
    assert_eq!(limit(&facts, "Max processes"), Some(512), "{facts}");
    daemon.finish();
}

#[test]
fn isolation_none_runs_without_namespaces_and_namespaces_is_enforced() {
    let daemon = Daemon::start(&["--isolation", "none", "--template", PROBE]);
    assert!(daemon.status()["resources"]["isolation"]
        .as_str()
        .is_some_and(|i| i.starts_with("no namespaces")));
    let facts = facts(&daemon, "small");
    let pid: u32 = facts
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .and_then(|p| p.parse().ok())
        .expect("pid");
    assert!(pid > 3, "a host pid: {facts}");
    assert_eq!(
        limit(&facts, "Max address space"),
        Some(1024 * 1024 * 1024),
        "{facts}"
    );
    daemon.finish();
}

#[test]
fn a_sandbox_is_in_cgroups_with_its_flavors_limits_where_the_host_has_them() {
    let daemon = Daemon::start(&[]);
    let isolation = daemon.isolation();
    // The paths below are v1's; v2's files are checked by the unit tests of `cgroups`.
    if !isolation.contains("cgroup v1") {
        eprintln!("skipped: this host offers no cgroup v1 controllers to msbd ({isolation})");
        daemon.finish();
        return;
    }
    daemon.json(&["sessions", "create", "--id", "limited", "--flavor", "large"]);
    let leader = daemon.sandbox_group("limited");
    // The keeper joins its cgroups first thing, before anything of the command runs.
    let cgroups = wait_until("the sandbox to join its cgroups", || {
        let cgroups = std::fs::read_to_string(format!("/proc/{leader}/cgroup")).ok()?;
        (cgroups.matches("msb-limited-").count() >= 3).then_some(cgroups)
    });
    let path_of = |controller: &str| {
        cgroups
            .lines()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|c| c == controller))
            })
            .and_then(|l| l.split(':').nth(2))
            .map(|p| p.to_string())
            .unwrap_or_else(|| panic!("no {controller} cgroup in {cgroups}"))
    };
    let read = |controller: &str, file: &str| {
        std::fs::read_to_string(format!(
            "/sys/fs/cgroup/{controller}{}/{file}",
            path_of(controller)
        ))
        .unwrap_or_else(|e| panic!("{controller}/{file}: {e}"))
        .trim()
        .to_string()
    };
    assert_eq!(
        read("memory", "memory.limit_in_bytes"),
        (4096u64 * 1024 * 1024).to_string()
    );
    assert_eq!(read("cpu", "cpu.cfs_quota_us"), "400000");
    assert_eq!(read("pids", "pids.max"), "1024");
    let dir = format!("/sys/fs/cgroup/memory{}", path_of("memory"));
    daemon.json(&["sessions", "stop", "limited"]);
    assert!(
        !std::path::Path::new(&dir).exists(),
        "the sandbox's cgroup is removed with it"
    );
    let own = std::path::Path::new(&dir)
        .parent()
        .map(|p| p.to_path_buf())
        .expect("msbd's cgroup");
    daemon.finish();
    assert!(
        !own.exists(),
        "msbd removes its own cgroup when it exits: {}",
        own.display()
    );
}

/// Runs msbd as the unprivileged `nobody` with `args`, in a directory it may write.
fn msbd_as_nobody(dir: &std::path::Path, args: &[&str]) -> std::process::Child {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let exe = dir.join("msbd-public");
    std::fs::copy(msb_tests::bin("msbd"), &exe).expect("copy msbd");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::process::Command::new(exe)
        .arg("--socket")
        .arg(dir.join("run/msbd.sock"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(args)
        .env("HOME", dir)
        .uid(65534)
        .gid(65534)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run msbd as nobody")
}

#[test]
fn strict_isolation_refuses_a_host_without_every_layer_and_auto_says_what_is_missing() {
    // As root on this host every layer is there: strict mode starts, nothing is missing.
    let strict = Daemon::start(&["--isolation", "namespaces"]);
    let isolation = strict.isolation();
    assert!(!isolation.contains("DEGRADED"), "{isolation}");
    strict.finish();
    // An msbd that is not root cannot give sandboxes uids (nor, here, cgroups) of their own.
    let dir = tempfile::tempdir().expect("tempdir");
    let refused = msbd_as_nobody(dir.path(), &["--isolation", "namespaces"])
        .wait_with_output()
        .expect("msbd ends");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_ne!(refused.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("needs every layer") && stderr.contains("msbd is not root"),
        "{stderr}"
    );
    let mut auto = msbd_as_nobody(dir.path(), &[]);
    let socket = dir.path().join("run/msbd.sock");
    let status = wait_until("the unprivileged msbd to answer", || {
        let run = msb_tests::msbctl(&socket, &["--json", "status"]);
        (run.code == 0).then(|| run.json())
    });
    let isolation = status["resources"]["isolation"]
        .as_str()
        .unwrap_or_default();
    assert!(
        isolation.starts_with("DEGRADED") && isolation.contains("msbd is not root"),
        "{isolation}"
    );
    assert_eq!(msb_tests::msbctl(&socket, &["stop"]).code, 0);
    let _ = auto.wait();
}
