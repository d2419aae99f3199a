//! The health rules, kept pure so they can be tested on their own. Paused is degraded and
//! never unhealthy: an operator's maintenance window is not an outage.

use msb_proto::{Health, TaskState};

pub fn health_of(state: TaskState, consecutive_failures: u64) -> Health {
    match state {
        TaskState::Failed | TaskState::Stalled => Health::Unhealthy,
        TaskState::Paused | TaskState::Backoff | TaskState::Stopped => Health::Degraded,
        TaskState::Running if consecutive_failures > 0 => Health::Degraded,
        TaskState::Running => Health::Healthy,
    }
}

/// The worst of the tasks' health; no tasks at all is healthy.
pub fn overall(healths: impl IntoIterator<Item = Health>) -> Health {
    healths.into_iter().max().unwrap_or(Health::Healthy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_is_degraded_never_unhealthy() {
        assert_eq!(health_of(TaskState::Paused, 0), Health::Degraded);
        assert_eq!(health_of(TaskState::Paused, 7), Health::Degraded);
    }

    #[test]
    fn failed_and_stalled_are_unhealthy() {
        assert_eq!(health_of(TaskState::Failed, 0), Health::Unhealthy);
        assert_eq!(health_of(TaskState::Stalled, 0), Health::Unhealthy);
    }

    #[test]
    fn a_failed_last_cycle_degrades_a_running_task() {
        assert_eq!(health_of(TaskState::Running, 0), Health::Healthy);
        assert_eq!(health_of(TaskState::Running, 1), Health::Degraded);
    }

    #[test]
    fn overall_is_the_worst() {
        assert_eq!(overall([]), Health::Healthy);
        assert_eq!(
            overall([Health::Healthy, Health::Degraded]),
            Health::Degraded
        );
        assert_eq!(
            overall([Health::Unhealthy, Health::Degraded, Health::Healthy]),
            Health::Unhealthy
        );
    }
}
