//! The daemon's metrics in the Prometheus text format (0.0.4), for `msbctl metrics` (and the
//! node_exporter textfile collector) and `--metrics-listen` (`http`). Each scrape reads what
//! the daemon already keeps (task status, the session registry's counts, resources,
//! connections, the store), so the metrics and `status` never disagree, and adds what the
//! event tally counted (cycle and command durations, events, reaped orphans).

pub mod http;

use crate::context::Context;
use crate::events::TaskLabel;
use msb_proto::{Health, SessionStatus, TaskState, TaskStatus};
use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// Every state a task can be in, so each task has a series per state.
const TASK_STATES: [TaskState; 6] = [
    TaskState::Running,
    TaskState::Paused,
    TaskState::Backoff,
    TaskState::Stalled,
    TaskState::Failed,
    TaskState::Stopped,
];

const HEALTHS: [Health; 3] = [Health::Healthy, Health::Degraded, Health::Unhealthy];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskStateLabel {
    task: String,
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskHealthLabel {
    task: String,
    health: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlavorLabel {
    flavor: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabel {
    version: &'static str,
}

/// Reads one of a task's counts from its status.
type Count = fn(&TaskStatus) -> u64;

/// A counter that starts at `value`: what the daemon counted, read at this scrape.
fn counter(value: u64) -> Counter {
    let counter = Counter::default();
    counter.inc_by(value);
    counter
}

fn gauge(value: u64) -> Gauge {
    let gauge = Gauge::default();
    gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
    gauge
}

/// Every metric, as it stands now.
pub fn render(ctx: &Context) -> String {
    let mut registry = Registry::with_prefix("msbd");
    registry.register(
        "build",
        "The version of msbd that runs",
        Info::new(BuildLabel {
            version: msb_proto::VERSION,
        }),
    );
    registry.register_with_unit(
        "start_time",
        "When msbd started, in unix seconds",
        Unit::Seconds,
        gauge(ctx.started_at()),
    );
    tasks(&mut registry, ctx);
    sessions(&mut registry, ctx);
    work(&mut registry, ctx);
    daemon(&mut registry, ctx);
    let mut text = String::new();
    // Writing into a String cannot fail; the encoder's error type is only fmt's.
    let _ = prometheus_text::encode(&mut text, &registry);
    text
}

fn tasks(registry: &mut Registry, ctx: &Context) {
    let status = ctx.supervisor.status();
    let states = Family::<TaskStateLabel, Gauge>::default();
    let healths = Family::<TaskHealthLabel, Gauge>::default();
    let per_task = |read: Count| {
        let family = Family::<TaskLabel, Counter>::default();
        for task in &status {
            family
                .get_or_create(&TaskLabel {
                    task: task.name.clone(),
                })
                .inc_by(read(task));
        }
        family
    };
    for task in &status {
        for state in TASK_STATES {
            states
                .get_or_create(&TaskStateLabel {
                    task: task.name.clone(),
                    state: state.to_string(),
                })
                .set(i64::from(task.state == state));
        }
        for health in HEALTHS {
            healths
                .get_or_create(&TaskHealthLabel {
                    task: task.name.clone(),
                    health: health.to_string(),
                })
                .set(i64::from(task.health == health));
        }
        // A task that has not run yet still has its (empty) histogram.
        drop(ctx.events.tally().cycle_seconds.get_or_create(&TaskLabel {
            task: task.name.clone(),
        }));
    }
    registry.register(
        "task_state",
        "1 for the state each background task is in, 0 for the others",
        states,
    );
    registry.register(
        "task_health",
        "1 for the health of each background task, 0 for the others",
        healths,
    );
    let counts: [(&str, &str, Count); 4] = [
        (
            "task_cycles",
            "Cycles each task ran, as status counts them",
            |t| t.cycles,
        ),
        (
            "task_failed_cycles",
            "Cycles that failed or panicked",
            |t| t.failed_cycles,
        ),
        (
            "task_restarts",
            "Restarts of each task, automatic and by operators",
            |t| t.restarts,
        ),
        (
            "task_processed",
            "Items each task processed (sessions expired, orphans stopped)",
            |t| t.processed_total,
        ),
    ];
    for (name, help, read) in counts {
        registry.register(name, help, per_task(read));
    }
    registry.register_with_unit(
        "task_cycle_duration",
        "How long each task's cycles took",
        Unit::Seconds,
        ctx.events.tally().cycle_seconds.clone(),
    );
}

fn sessions(registry: &mut Registry, ctx: &Context) {
    let by_status = Family::<StatusLabel, Gauge>::default();
    for (status, count) in ctx.sessions.by_status() {
        // Stopped sessions are gone from the registry; the status exists only in answers.
        if status != SessionStatus::Stopped {
            by_status
                .get_or_create(&StatusLabel {
                    status: status.to_string(),
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }
    registry.register(
        "sessions",
        "Sessions by status (ended ones are kept a while, and count against no limit)",
        by_status,
    );
    let report = ctx.resources.report();
    let by_flavor = Family::<FlavorLabel, Gauge>::default();
    let flavors = report.by_flavor;
    for (flavor, count) in [
        ("small", flavors.small),
        ("medium", flavors.medium),
        ("large", flavors.large),
    ] {
        by_flavor
            .get_or_create(&FlavorLabel { flavor })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
    registry.register(
        "sessions_by_flavor",
        "Live sessions by flavor, as status counts them",
        by_flavor,
    );
    registry.register(
        "sessions_limit",
        "Most sessions at once (--max-sessions)",
        gauge(ctx.resources.max_sessions()),
    );
    registry.register_with_unit(
        "memory_reserved",
        "Memory the live sessions' flavors reserve",
        Unit::Bytes,
        gauge(report.memory_mb.used.saturating_mul(1 << 20)),
    );
    if let Some(max) = report.memory_mb.max {
        registry.register_with_unit(
            "memory_limit",
            "Memory all sessions' flavors may reserve (--max-total-memory-mb)",
            Unit::Bytes,
            gauge(max.saturating_mul(1 << 20)),
        );
    }
    registry.register(
        "evictions",
        "Idle sessions evicted to make room for new ones",
        counter(report.evictions),
    );
    registry.register(
        "orphans_reaped",
        "Orphaned sandboxes orphan-cleanup stopped",
        ctx.events.tally().orphans_reaped.clone(),
    );
}

fn work(registry: &mut Registry, ctx: &Context) {
    let tally = ctx.events.tally();
    registry.register(
        "execs",
        "Commands run in sessions (exec and run), by how they ended",
        tally.execs.clone(),
    );
    registry.register_with_unit(
        "exec_duration",
        "How long commands run in sessions took",
        Unit::Seconds,
        tally.exec_seconds.clone(),
    );
}

fn daemon(registry: &mut Registry, ctx: &Context) {
    let connections = ctx.admission.connections();
    registry.register(
        "connections",
        "Client connections open now",
        gauge(connections.open),
    );
    registry.register(
        "connections_admitted",
        "Client connections admitted",
        counter(connections.admitted),
    );
    registry.register(
        "connections_refused",
        "Client connections refused (not allowed, or over the per-uid limit)",
        counter(connections.refused),
    );
    registry.register(
        "store_errors",
        "Writes of the session store that failed, retries included",
        counter(ctx.store.errors()),
    );
    registry.register(
        "store_degraded",
        "1 while the session store does not take writes",
        gauge(u64::from(ctx.store.health().health != Health::Healthy)),
    );
    let tally = ctx.events.tally();
    registry.register("events", "Events, by kind", tally.events.clone());
    registry.register(
        "events_missed",
        "Events followers missed because they read too slowly",
        tally.missed.clone(),
    );
}
