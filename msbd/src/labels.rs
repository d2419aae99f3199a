//! What a session's labels may be. Labels are for whoever lists sessions later (an
//! upper-level server marks the sessions of its own clients); msbd only keeps, shows and
//! filters by them. They are checked before a session is made, so the store, the list and
//! every client only ever see labels that follow these rules.

use msb_proto::Labels;

/// Labels a session carries at most.
pub const MAX_LABELS: usize = 32;
/// Longest key, in bytes (keys are ASCII).
pub const MAX_KEY: usize = 63;
/// Longest value, in bytes.
pub const MAX_VALUE: usize = 255;

const KEY_RULE: &str = "a key is 1 to 63 characters of a-z, 0-9, '.', '-', '_' or '/', starting with a letter or digit";
const VALUE_RULE: &str = "a value is at most 255 bytes, without control characters";
/// How much of a refused value an error shows.
const SHOWN: usize = 40;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LabelError {
    #[error("a session carries at most {MAX_LABELS} labels; {count} were given")]
    TooMany { count: usize },
    #[error("label key '{}' is not allowed: {KEY_RULE}", shown(.key))]
    Key { key: String },
    #[error("label '{key}': value '{}' is not allowed ({why}): {VALUE_RULE}", shown(.value))]
    Value {
        key: String,
        value: String,
        why: &'static str,
    },
}

/// Refuses labels that break the rules above, naming the first offender.
pub fn check(labels: &Labels) -> Result<(), LabelError> {
    if labels.len() > MAX_LABELS {
        return Err(LabelError::TooMany {
            count: labels.len(),
        });
    }
    for (key, value) in labels {
        if !valid_key(key) {
            return Err(LabelError::Key { key: key.clone() });
        }
        let why = if value.len() > MAX_VALUE {
            "too long"
        } else if value.chars().any(char::is_control) {
            "a control character"
        } else {
            continue;
        };
        return Err(LabelError::Value {
            key: key.clone(),
            value: value.clone(),
            why,
        });
    }
    Ok(())
}

fn valid_key(key: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    key.len() <= MAX_KEY
        && key.bytes().next().is_some_and(allowed)
        && key
            .bytes()
            .all(|b| allowed(b) || matches!(b, b'.' | b'-' | b'_' | b'/'))
}

/// A refused key or value as an error shows it: escaped, so that it cannot break the line
/// it is on, and cut short.
fn shown(text: &str) -> String {
    let mut escaped: String = text
        .chars()
        .take(SHOWN)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(SHOWN).is_some() {
        escaped.push('…');
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keys_follow_the_rule() {
        for good in [
            "a",
            "9",
            "mcp.client",
            "example.com/owner",
            "a-b_c",
            &"k".repeat(63),
        ] {
            assert_eq!(check(&labels(&[(good, "v")])), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Upper",
            ".dot",
            "-dash",
            "_x",
            "/x",
            "a b",
            "é",
            "a=b",
            &"k".repeat(64),
        ] {
            let err = check(&labels(&[(bad, "v")])).expect_err(bad);
            assert_eq!(err, LabelError::Key { key: bad.into() });
        }
    }

    #[test]
    fn values_follow_the_rule() {
        let longest = "é".repeat(127) + "x";
        assert_eq!(longest.len(), MAX_VALUE);
        for good in ["", "anything: at all / ~", "日本", longest.as_str()] {
            assert_eq!(check(&labels(&[("k", good)])), Ok(()), "{good}");
        }
        let long = "x".repeat(MAX_VALUE + 1);
        for (bad, why) in [
            (long.as_str(), "too long"),
            ("a\nb", "a control character"),
            ("tab\there", "a control character"),
            ("del\u{7f}", "a control character"),
            ("c1\u{85}", "a control character"),
        ] {
            let err = check(&labels(&[("k", bad)])).expect_err(bad);
            assert_eq!(
                err,
                LabelError::Value {
                    key: "k".into(),
                    value: bad.into(),
                    why
                }
            );
        }
    }

    #[test]
    fn at_most_32_labels() {
        let many = |n: usize| -> Labels { (0..n).map(|i| (format!("k{i}"), "v".into())).collect() };
        assert_eq!(check(&many(MAX_LABELS)), Ok(()));
        assert_eq!(
            check(&many(MAX_LABELS + 1)),
            Err(LabelError::TooMany { count: 33 })
        );
    }

    #[test]
    fn errors_name_the_key_and_value_on_one_short_line() {
        let err = check(&labels(&[("k", "line\nbreak")])).expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("label 'k'") && text.contains(r"line\nbreak") && !text.contains('\n'),
            "{text}"
        );
        let err = check(&labels(&[("k", &"x".repeat(300))])).expect_err("refused");
        let text = err.to_string();
        assert!(text.contains(&format!("{}…", "x".repeat(SHOWN))), "{text}");
        assert!(text.len() < 200, "{text}");
        let err = check(&labels(&[("Bad Key", "v")])).expect_err("refused");
        assert!(err.to_string().contains("'Bad Key'"), "{err}");
    }
}
