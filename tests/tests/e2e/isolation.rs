//! Inside a sandbox: its own pid and network namespaces, and the flavor's limits.

use msb_tests::{wait_until, Daemon};

/// Writes what the sandbox sees of itself to `facts` in its working directory.
const PROBE: &str = "probe=echo pid=$$ > facts.tmp; \
    echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ') >> facts.tmp; \
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
    let status = daemon.status();
    let isolation = status["resources"]["isolation"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !isolation.starts_with("namespaces") {
        eprintln!("skipped the namespace checks: this host offers no namespaces ({isolation}); see msbd.log");
    }
    let facts = facts(&daemon, "medium");
    if isolation.starts_with("namespaces") {
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
