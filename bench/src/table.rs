//! The one table of `msb-bench` (the default run): a row per figure, beside its reference
//! measured in the same run, their ratio, the target and whether it is met. Rows are
//! printed as they are measured, so an interrupted run still shows what it got.

use std::io::Write;

/// What a figure must be to pass.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// No target: the figure is shown for what it is.
    None,
    /// figure / reference at most this.
    RatioAtMost(f64),
    /// figure / reference at least this.
    RatioAtLeast(f64),
    /// The figure itself at most this, in its own unit.
    AtMost(f64),
}

/// A figure: its value (in the unit its text shows) and that text.
#[derive(Debug, Clone)]
pub struct Figure {
    pub value: f64,
    pub text: String,
}

impl Figure {
    pub fn ms(ms: f64) -> Self {
        let text = if ms < 1.0 {
            format!("{:.1} µs", ms * 1000.0)
        } else {
            format!("{ms:.2} ms")
        };
        Self { value: ms, text }
    }

    pub fn with_unit(value: f64, unit: &str) -> Self {
        let text = if value >= 100.0 || value == value.trunc() {
            format!("{value:.0} {unit}")
        } else {
            format!("{value:.2} {unit}")
        };
        Self { value, text }
    }

    /// The same value, with words after it (a spread, a count).
    pub fn and(mut self, more: &str) -> Self {
        self.text = format!("{} ({more})", self.text);
        self
    }
}

pub struct Table {
    section: String,
}

const HEADER: [&str; 6] = ["what", "figure", "reference", "ratio", "target", "mark"];
const WIDTHS: [usize; 5] = [52, 40, 34, 7, 9];

impl Table {
    /// Prints the header.
    pub fn start() -> Self {
        let table = Self {
            section: String::new(),
        };
        table.line(HEADER.map(String::from));
        table
    }

    /// Starts a section: a line of its own naming it.
    pub fn section(&mut self, name: &str) {
        self.section = name.to_string();
        let _ = writeln!(std::io::stdout(), "== {name}");
    }

    /// A figure beside a reference.
    pub fn row(&self, what: &str, figure: Figure, reference: Option<Figure>, target: Target) {
        let ratio = reference
            .as_ref()
            .filter(|r| r.value > 0.0)
            .map(|r| figure.value / r.value);
        let mark = mark(figure.value, ratio, target);
        self.line([
            what.to_string(),
            figure.text,
            reference.map_or_else(|| "—".to_string(), |r| r.text),
            ratio.map_or_else(|| "—".to_string(), |r| format!("{r:.2}×")),
            describe(target),
            mark.to_string(),
        ]);
    }

    /// A row whose figure could not be taken, and why.
    pub fn missing(&self, what: &str, why: &str) {
        self.line([
            what.to_string(),
            "—".into(),
            "—".into(),
            "—".into(),
            "—".into(),
            format!("— ({why})"),
        ]);
    }

    fn line(&self, cells: [String; 6]) {
        let mut out = String::new();
        for (cell, width) in cells.iter().zip(WIDTHS) {
            out.push_str(&format!("{cell:<width$}  "));
        }
        out.push_str(&cells[5]);
        let _ = writeln!(std::io::stdout(), "{out}");
    }
}

fn describe(target: Target) -> String {
    match target {
        Target::None => "—".into(),
        Target::RatioAtMost(r) => format!("≤ {r}×"),
        Target::RatioAtLeast(r) => format!("≥ {r}×"),
        Target::AtMost(v) => format!("≤ {v}"),
    }
}

/// `pass`, `short` (the target is missed) or `—` (no target, or no ratio for one).
pub fn mark(value: f64, ratio: Option<f64>, target: Target) -> &'static str {
    let met = match (target, ratio) {
        (Target::None, _) => return "—",
        (Target::RatioAtMost(r), Some(ratio)) => ratio <= r,
        (Target::RatioAtLeast(r), Some(ratio)) => ratio >= r,
        (Target::AtMost(v), _) => value <= v,
        (_, None) => return "—",
    };
    if met {
        "pass"
    } else {
        "short"
    }
}

/// The median of `samples` in milliseconds; 0 for none.
pub fn median_ms(samples: &[std::time::Duration]) -> f64 {
    let mut sorted: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn marks() {
        assert_eq!(mark(1.0, Some(1.1), Target::RatioAtMost(1.2)), "pass");
        assert_eq!(mark(1.0, Some(1.3), Target::RatioAtMost(1.2)), "short");
        assert_eq!(mark(1.0, Some(0.7), Target::RatioAtLeast(0.8)), "short");
        assert_eq!(mark(0.05, None, Target::AtMost(0.1)), "pass");
        assert_eq!(mark(0.5, None, Target::AtMost(0.1)), "short");
        assert_eq!(mark(1.0, None, Target::RatioAtMost(1.2)), "—");
        assert_eq!(mark(1.0, Some(9.0), Target::None), "—");
    }

    #[test]
    fn medians_and_texts() {
        let samples = [3, 1, 2].map(Duration::from_millis);
        assert_eq!(median_ms(&samples), 2.0);
        assert_eq!(median_ms(&[]), 0.0);
        assert_eq!(Figure::ms(0.25).text, "250.0 µs");
        assert_eq!(Figure::ms(2.5).text, "2.50 ms");
        assert_eq!(Figure::with_unit(1234.4, "req/s").text, "1234 req/s");
    }
}
