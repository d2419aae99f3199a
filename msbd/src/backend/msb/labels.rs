//! Ownership by labels: every sandbox msbd makes carries `msbd.instance=<instance id>` and
//! `msbd.session=<session id>`, and msbd looks only at sandboxes `msb ls --label
//! msbd.instance=<id>` lists, so it never touches an unlabelled sandbox or another
//! instance's. `msb ls` shows no labels: a sandbox's session comes from `msb inspect`,
//! whose labels are checked once more.

use serde::Deserialize;
use std::collections::BTreeMap;

pub const INSTANCE: &str = "msbd.instance";
pub const SESSION: &str = "msbd.session";

/// `--label` arguments for `label=value`.
fn label(label: &str, value: &str) -> [String; 2] {
    ["--label".into(), format!("{label}={value}")]
}

/// The labels a sandbox of `session` of this `instance` is made with.
pub fn marks(instance: &str, session: &str) -> Vec<String> {
    label(INSTANCE, instance)
        .into_iter()
        .chain(label(SESSION, session))
        .collect()
}

/// `msb ls` for this instance's sandboxes, and no others.
pub fn listing(instance: &str) -> Vec<String> {
    ["ls".to_string()]
        .into_iter()
        .chain(label(INSTANCE, instance))
        .chain(["--format".into(), "json".into()])
        .collect()
}

/// A sandbox as `msb ls --format json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Listed {
    pub name: String,
    pub status: String,
}

impl Listed {
    /// Whether it has ended: what is left is its disk and its logs, until `msb rm`.
    pub fn ended(&self) -> bool {
        ended(&self.status)
    }
}

/// Statuses of a sandbox that runs no more: `Stopped`, `Crashed` (the others: `Created`,
/// `Starting`, `Running`, `Draining`, `Paused`).
pub fn ended(status: &str) -> bool {
    matches!(status, "Stopped" | "Crashed")
}

/// Reads what `msb ls --format json` wrote.
pub fn parse_listing(stdout: &[u8]) -> Result<Vec<Listed>, String> {
    serde_json::from_slice(stdout).map_err(|err| format!("cannot read msb's listing: {err}"))
}

/// What msbd reads of `msb inspect NAME --format json`.
#[derive(Debug, Deserialize)]
struct Inspected {
    status: String,
    config: InspectedConfig,
}

#[derive(Debug, Deserialize)]
struct InspectedConfig {
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// A sandbox as `msb inspect` shows it: its status, and its session when it is one of
/// `instance`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    pub status: String,
    pub session: Option<String>,
}

/// Reads what `msb inspect NAME --format json` wrote, for `instance`.
pub fn parse_inspect(stdout: &[u8], instance: &str) -> Result<Owned, String> {
    let inspected: Inspected = serde_json::from_slice(stdout)
        .map_err(|err| format!("cannot read msb's inspection: {err}"))?;
    let labels = &inspected.config.labels;
    let ours = labels.get(INSTANCE).is_some_and(|id| id == instance);
    Ok(Owned {
        status: inspected.status,
        session: labels.get(SESSION).filter(|_| ours).cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::msb::fixture;

    #[test]
    fn sandboxes_are_marked_and_listed_by_instance() {
        assert_eq!(
            marks("abc", "s1"),
            ["--label", "msbd.instance=abc", "--label", "msbd.session=s1"]
        );
        assert_eq!(
            listing("abc"),
            ["ls", "--label", "msbd.instance=abc", "--format", "json"]
        );
    }

    #[test]
    fn listings_and_inspections_are_read() {
        let listed = parse_listing(&fixture("ls-stopped.json")).expect("listing");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "msb-s1-0a1b2c");
        assert!(listed[0].ended());
        assert!(!ended("Running") && ended("Crashed"));
        assert!(parse_listing(b"No sandboxes found.").is_err());
        let inspected = fixture("inspect-stopped.json");
        assert_eq!(
            parse_inspect(&inspected, "0123456789abcdef0123456789abcdef"),
            Ok(Owned {
                status: "Stopped".into(),
                session: Some("s1".into())
            })
        );
        assert_eq!(
            parse_inspect(&inspected, "another instance").map(|o| o.session),
            Ok(None)
        );
    }
}
