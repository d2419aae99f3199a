//! What the events add up to, for the metrics: how many of each kind, how long cycles and
//! commands took, how commands ended, how many orphans were reaped (orphan-cleanup's cycles
//! count them), and how many events followers missed. Counted as each event is emitted (a
//! cycle's duration with it, by `Events::emit_cycle`), so nothing is counted twice or
//! forgotten by a part that happens to emit.

use msb_proto::EventKind;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use std::time::Duration;

/// The task whose cycles count the orphans they stopped (`stopped`).
const ORPHAN_CLEANUP: &str = msb_proto::TASK_NAMES[1];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabel {
    pub task: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

/// How a command ended, as the `outcome` label says it.
fn exec_outcome(exit_code: i32, timed_out: bool) -> &'static str {
    match (timed_out, exit_code) {
        (true, _) => "timed_out",
        (false, 0) => "ok",
        (false, _) => "failed",
    }
}

/// 1 ms to about 4 minutes, each bucket four times the last.
fn cycle_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 4.0, 10))
}

/// 10 ms to about 45 minutes.
fn exec_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 4.0, 10))
}

/// The counters and histograms; each is a shared handle, so a scrape registers clones.
#[derive(Debug, Clone)]
pub struct Tally {
    pub events: Family<KindLabel, Counter>,
    pub cycle_seconds: Family<TaskLabel, Histogram, fn() -> Histogram>,
    pub execs: Family<OutcomeLabel, Counter>,
    pub exec_seconds: Histogram,
    pub orphans_reaped: Counter,
    /// Events that followers missed because they fell behind.
    pub missed: Counter,
}

impl Default for Tally {
    fn default() -> Self {
        let tally = Self {
            events: Family::default(),
            cycle_seconds: Family::new_with_constructor(cycle_buckets),
            execs: Family::default(),
            exec_seconds: exec_buckets(),
            orphans_reaped: Counter::default(),
            missed: Counter::default(),
        };
        // Every outcome is exposed from the start, at zero, so a rate never lacks a series.
        for outcome in ["ok", "failed", "timed_out"] {
            drop(tally.execs.get_or_create(&OutcomeLabel { outcome }));
        }
        tally
    }
}

impl Tally {
    /// Observes how long one of `task`'s cycles took.
    pub(super) fn cycle(&self, task: &str, took: Duration) {
        self.cycle_seconds
            .get_or_create(&TaskLabel {
                task: task.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    pub(super) fn count(&self, kind: &EventKind) {
        self.events
            .get_or_create(&KindLabel { kind: kind.name() })
            .inc();
        match kind {
            // The duration is observed by `cycle`, from the exact time.
            EventKind::Cycle { report } if report.task == ORPHAN_CLEANUP => {
                let reaped = report.counts.get("stopped").copied().unwrap_or(0);
                self.orphans_reaped.inc_by(reaped);
            }
            EventKind::ExecEnded {
                exit_code,
                timed_out,
                duration_ms,
                ..
            } => {
                self.execs
                    .get_or_create(&OutcomeLabel {
                        outcome: exec_outcome(*exit_code, *timed_out),
                    })
                    .inc();
                self.exec_seconds.observe(*duration_ms as f64 / 1000.0);
            }
            _ => {}
        }
    }
}
