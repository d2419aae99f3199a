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

/// Short human form, rounded to what a person cares about (`1m 30s`, `250ms`): humantime's
/// form (a year of 365.25 days, a month of 30.44), written here without its formatter, which
/// took most of the time msbctl spends on a list of a hundred sessions.
pub fn format_duration(duration: Duration) -> String {
    const YEAR: u64 = 31_557_600;
    const MONTH: u64 = 2_630_016;
    const DAY: u64 = 86_400;
    let secs = duration.as_secs();
    let day_secs = secs % YEAR % MONTH % DAY;
    // Whole units, largest first; the first three are words with a plural.
    let units = [
        (secs / YEAR, "year"),
        (secs % YEAR / MONTH, "month"),
        (secs % YEAR % MONTH / DAY, "day"),
        (day_secs / 3600, "h"),
        (day_secs % 3600 / 60, "m"),
        (day_secs % 60, "s"),
        (
            if secs == 0 {
                u64::from(duration.subsec_millis())
            } else {
                0
            },
            "ms",
        ),
    ];
    let mut text = String::with_capacity(24);
    for (at, (value, unit)) in units.into_iter().enumerate() {
        if value == 0 {
            continue;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        push_number(&mut text, value);
        text.push_str(unit);
        if at < 3 && value > 1 {
            text.push('s');
        }
    }
    if text.is_empty() {
        text.push_str("0s");
    }
    text
}

/// Appends `value` in decimal.
fn push_number(text: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // A remainder below ten: one digit.
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    text.extend(digits[at..].iter().map(|&digit| char::from(digit)));
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
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_micros(999)), "0s");
        assert_eq!(format_duration(Duration::from_secs(86_400 + 1)), "1day 1s");
        assert_eq!(
            format_duration(Duration::from_secs(2 * 31_557_600 + 3 * 2_630_016)),
            "2years 3months"
        );
    }

    proptest::proptest! {
        /// Every scale, from milliseconds to centuries.
        #[test]
        fn formats_as_humantime_does(scale in 0u32..36, raw: u64, millis in 0u64..1000) {
            let secs = raw % (1u64 << scale);
            let duration = Duration::from_secs(secs) + Duration::from_millis(millis);
            let rounded = if secs > 0 {
                Duration::from_secs(secs)
            } else {
                Duration::from_millis(millis)
            };
            let expected = humantime::format_duration(rounded).to_string();
            proptest::prop_assert_eq!(format_duration(duration), expected);
        }
    }
}
