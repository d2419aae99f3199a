//! Turning measurements into printed figures: durations in milliseconds and percentiles.

use std::time::Duration;

/// Milliseconds with one decimal: `2012.5 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A signed difference in milliseconds: `+58.8 ms`, `-3.0 ms`.
pub fn ms_diff(a: Duration, b: Duration) -> String {
    let diff = (a.as_secs_f64() - b.as_secs_f64()) * 1000.0;
    format!("{diff:+.1} ms")
}

/// A timeout as the user would write it: `2s`, `1500ms`.
pub fn timeout(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The same timeout as a flag value msbctl takes.
pub fn timeout_arg(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// p50, p99 and max of `samples` (nearest rank); `None` when there are none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Spread {
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let rank = |p: f64| {
            let at = (p * sorted.len() as f64).ceil() as usize;
            sorted.get(at.saturating_sub(1)).copied()
        };
        Some(Self {
            p50: rank(0.50)?,
            p99: rank(0.99)?,
            max: *sorted.last()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let spread = Spread::of(&samples).expect("samples");
        assert_eq!(spread.p50, Duration::from_millis(50));
        assert_eq!(spread.p99, Duration::from_millis(99));
        assert_eq!(spread.max, Duration::from_millis(100));
        let one = Spread::of(&[Duration::from_millis(7)]).expect("one sample");
        assert_eq!((one.p50, one.p99, one.max), (one.max, one.max, one.max));
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn formats() {
        assert_eq!(ms(Duration::from_micros(2_012_500)), "2012.5 ms");
        assert_eq!(
            ms_diff(Duration::from_millis(2070), Duration::from_millis(2010)),
            "+60.0 ms"
        );
        assert_eq!(timeout(Duration::from_secs(2)), "2s");
        assert_eq!(timeout(Duration::from_millis(1500)), "1500ms");
        assert_eq!(timeout_arg(Duration::from_secs(2)), "2000ms");
    }
}
