//! Templates name what a sandbox runs. `default` is built in and needs nothing installed;
//! operators add their own with `--template NAME=COMMAND`.

use crate::backend::Command;
use std::collections::BTreeMap;

pub const DEFAULT_TEMPLATE: &str = "default";

#[derive(Debug, Clone)]
pub struct Templates {
    map: BTreeMap<String, Command>,
}

impl Templates {
    /// The built-in template plus `custom`, which may override it.
    pub fn new(custom: &[(String, String)]) -> Self {
        let mut map = BTreeMap::from([(DEFAULT_TEMPLATE.to_string(), Command::Idle)]);
        for (name, command) in custom {
            map.insert(name.clone(), Command::Shell(command.clone()));
        }
        Self { map }
    }

    pub fn get(&self, name: &str) -> Option<Command> {
        self.map.get(name).cloned()
    }

    /// Every template's name, for messages: "default, python".
    pub fn names(&self) -> String {
        self.map.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Parses `NAME=COMMAND` as given to `--template`.
pub fn parse_template(text: &str) -> Result<(String, String), String> {
    parse_named("template", text)
}

/// Parses `NAME=COMMAND` for a `kind` of named command (`template`, `language`).
pub fn parse_named(kind: &str, text: &str) -> Result<(String, String), String> {
    let (name, command) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not NAME=COMMAND"))?;
    let name = name.trim();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "{kind} name '{name}' must be letters, digits, '-', '_' or '.'"
        ));
    }
    if command.trim().is_empty() {
        return Err(format!("{kind} '{name}' has an empty command"));
    }
    Ok((name.to_string(), command.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_overrides() {
        let custom = parse_template("stubborn=trap '' TERM; sleep 100").expect("parse");
        assert_eq!(custom.1, "trap '' TERM; sleep 100");
        let templates = Templates::new(&[custom]);
        assert_eq!(templates.get("default"), Some(Command::Idle));
        assert!(matches!(templates.get("stubborn"), Some(Command::Shell(_))));
        assert_eq!(templates.get("nope"), None);
        assert_eq!(templates.names(), "default, stubborn");
    }

    #[test]
    fn refuses_malformed_templates() {
        assert!(parse_template("no-equals").is_err());
        assert!(parse_template("=cmd").is_err());
        assert!(parse_template("x=  ").is_err());
        assert!(parse_template("bad name=cmd").is_err());
    }
}
