//! Section 4: msbd's own cost at a scale no host holds in processes. msbd's registry (the
//! library's own type, as the daemon uses it) filled with sessions that have no sandbox
//! behind them, then the work of a session-cleanup cycle before any stop: finding the
//! sessions due, with none and with 1% expired. Then whole session-cleanup cycles of msbd's
//! session manager, with its store on disk, over sessions adopted from a backend that records
//! what it is asked instead of running anything (`recording`).

use crate::proc;
use crate::recording::Recording;
use crate::suite::Plan;
use crate::table::{median_ms, Figure, Table, Target};
use crate::Result;
use msb_proto::{Flavor, Labels, SessionStatus};
use msbd::backend::SandboxInfo;
use msbd::deadline::Hurry;
use msbd::events::Events;
use msbd::session::Session;
use msbd::sessions::{Registry, SessionCleanup, SessionManager, SessionSettings};
use msbd::store::Store;
use msbd::supervisor::{CycleContext, Task};
use msbd::templates::Templates;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The session timeout of the registry.
const TIMEOUT_MS: u64 = 30 * 60 * 1000;
/// Runs of each measure; the median is shown.
const RUNS: usize = 21;

pub fn run(plan: &Plan, table: &Table) -> Result<()> {
    let size = plan.in_process;
    eprintln!("[in-process] {size} sessions");
    let now = msbd::clock::now_ms();
    let rss_before = proc::rss_kib(std::process::id())?;
    let mut registry = Registry::new(TIMEOUT_MS, TIMEOUT_MS);
    let start = Instant::now();
    for i in 0..size {
        registry.insert(session(i, now));
    }
    let insert = start.elapsed();
    let rss = proc::rss_kib(std::process::id())?;
    let what = |name: &str| format!("{name}, {size} in-process");
    table.row(
        &what("registry insert"),
        Figure::with_unit(size as f64 / insert.as_secs_f64(), "/s"),
        None,
        Target::None,
    );
    table.row(
        &what("registry memory per session"),
        Figure::with_unit(rss.saturating_sub(rss_before) as f64 / size as f64, "KiB"),
        None,
        Target::AtMost(1.0),
    );
    let due = |registry: &Registry| {
        let mut samples = Vec::with_capacity(RUNS);
        let mut found = 0;
        for _ in 0..RUNS {
            let start = Instant::now();
            found = registry.due(msbd::clock::now_ms()).len();
            samples.push(start.elapsed());
        }
        (median_ms(&samples), found)
    };
    let (none, found) = due(&registry);
    table.row(
        &what("session-cleanup's scan, 0% expired"),
        Figure::ms(none).and(&format!("{found} due")),
        None,
        Target::AtMost(0.1),
    );
    let expiring = size / 100;
    let idle_since = now.saturating_sub(TIMEOUT_MS + 1000);
    for i in 0..expiring {
        registry.update(&id(i), |s| s.last_accessed_ms = idle_since);
    }
    let (some, found) = due(&registry);
    table.row(
        &what("session-cleanup's scan, 1% expired"),
        Figure::ms(some).and(&format!("{found} due")),
        None,
        Target::None,
    );
    drop(registry);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    for (share, target) in [(0, Target::AtMost(0.1)), (1, Target::None)] {
        let (cycle, stopped) = runtime.block_on(whole_cycle(size, share))?;
        table.row(
            &what(&format!(
                "session-cleanup cycle, {share}% expired, recording backend"
            )),
            Figure::ms(cycle).and(&format!("{stopped} stopped")),
            None,
            target,
        );
    }
    Ok(())
}

/// The median duration of session-cleanup cycles of a session manager holding `size`
/// adopted sessions, `percent` of them expired (stopped by the first cycle measured, so
/// only one cycle is run then), and how many stops the backend was asked for.
async fn whole_cycle(size: usize, percent: usize) -> Result<(f64, u64)> {
    let dir = tempfile::tempdir().map_err(|e| format!("temporary dir: {e}"))?;
    let store = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || Store::open(&dir)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("store: {e}"))?
    .0;
    let backend = Arc::new(Recording::default());
    let settings = SessionSettings {
        templates: Templates::new(&[], &[]),
        timeout: Duration::from_millis(TIMEOUT_MS),
        busy_timeout: Duration::from_millis(TIMEOUT_MS),
        stop_grace: Duration::from_secs(1),
    };
    let manager = Arc::new(SessionManager::new(
        store,
        backend.clone(),
        settings,
        Arc::new(Hurry::default()),
        Events::new(1024),
    ));
    let now = msbd::clock::now_ms();
    let expired = size * percent / 100;
    let sessions: Vec<Session> = (0..size)
        .map(|i| {
            let mut session = session(i, now);
            if i < expired {
                session.last_accessed_ms = now.saturating_sub(TIMEOUT_MS + 1000);
            }
            session
        })
        .collect();
    let running: Vec<SandboxInfo> = sessions
        .iter()
        .map(|s| SandboxInfo {
            name: s.sandbox.clone(),
            session_id: s.id.clone(),
            pid: None,
        })
        .collect();
    let (adopted, _) = manager.restore(sessions, &running).await;
    if adopted != size as u64 || backend.adopted() != size as u64 {
        return Err(format!(
            "restore adopted {adopted} of {size} sessions ({} watched)",
            backend.adopted()
        ));
    }
    let task = Arc::new(SessionCleanup(manager));
    let runs = if expired > 0 { 1 } else { RUNS };
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        task.clone()
            .run_cycle(CycleContext::default())
            .await
            .map_err(|e| format!("session-cleanup cycle: {e}"))?;
        samples.push(start.elapsed());
    }
    if backend.stops() != expired as u64 {
        return Err(format!(
            "the cycle stopped {} sandboxes, not the {expired} expired",
            backend.stops()
        ));
    }
    Ok((median_ms(&samples), backend.stops()))
}

fn id(i: usize) -> String {
    format!("bench-{i:08}")
}

fn session(i: usize, now: u64) -> Session {
    Session {
        id: id(i),
        template: "default".into(),
        flavor: Flavor::Small,
        status: SessionStatus::Ready,
        sandbox: format!("msb-bench-{i:08}"),
        created_at_ms: now,
        last_accessed_ms: now,
        busy_since_ms: None,
        error: None,
        owner: Some(0),
        labels: Labels::new(),
        stopping: false,
        working: 0,
    }
}
