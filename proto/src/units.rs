//! Durations as people type them: `500ms`, `30s`, `5m`, `1h`, or bare seconds.

use std::time::Duration;

/// What every duration setting accepts, for error messages.
pub const DURATION_FORMS: &str = "a duration such as 500ms, 30s, 5m, 1h or bare seconds (e.g. 90)";

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    if let Ok(secs) = text.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
    }
    humantime::parse_duration(text).map_err(|_| format!("'{text}' is not {DURATION_FORMS}"))
}

/// Short human form, rounded to what a person cares about (`1m 30s`, `250ms`).
pub fn format_duration(duration: Duration) -> String {
    let rounded = if duration >= Duration::from_secs(1) {
        Duration::from_secs(duration.as_secs())
    } else {
        Duration::from_millis(duration.as_millis() as u64)
    };
    humantime::format_duration(rounded).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_documented_form() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn refuses_garbage_with_the_allowed_forms() {
        let err = parse_duration("soon").expect_err("must be refused");
        assert!(err.contains("'soon'") && err.contains("500ms"), "{err}");
        assert!(parse_duration("-3").is_err());
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(90_400)), "1m 30s");
        assert_eq!(format_duration(Duration::from_millis(4_997)), "4s");
    }
}
