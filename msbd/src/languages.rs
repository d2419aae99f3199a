//! Languages name the interpreter `sessions run` feeds code to, on its stdin. Built in:
//! `python` (`python3 -`), `node` (`node -`) and `shell` (`sh -s`); operators add or
//! override them with `--language NAME=COMMAND` (the command split on whitespace).

use std::collections::BTreeMap;

/// The languages every msbd knows; a `--language` of the same name replaces one.
pub const BUILT_IN: [(&str, &str); 3] = [
    ("python", "python3 -"),
    ("node", "node -"),
    ("shell", "sh -s"),
];

#[derive(Debug, Clone)]
pub struct Languages {
    map: BTreeMap<String, Vec<String>>,
}

impl Languages {
    pub fn new(custom: &[(String, String)]) -> Self {
        let mut map = BTreeMap::new();
        for (name, command) in BUILT_IN.iter().map(|(n, c)| (*n, *c)).chain(
            custom
                .iter()
                .map(|(name, command)| (name.as_str(), command.as_str())),
        ) {
            map.insert(
                name.to_string(),
                command.split_whitespace().map(String::from).collect(),
            );
        }
        Self { map }
    }

    /// The interpreter's argv for language `name`.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.map.get(name).map(Vec::as_slice)
    }

    /// Every language's name, for messages: "node, python, shell".
    pub fn names(&self) -> String {
        self.map.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::parse_named;

    #[test]
    fn built_ins_can_be_overridden_and_extended() {
        let languages = Languages::new(&[
            parse_named("language", "python=python3.12 -u -").expect("parse"),
            parse_named("language", "ruby=ruby").expect("parse"),
        ]);
        assert_eq!(
            languages.get("python"),
            Some(&["python3.12".to_string(), "-u".into(), "-".into()][..])
        );
        assert_eq!(
            languages.get("shell"),
            Some(&["sh".to_string(), "-s".into()][..])
        );
        assert_eq!(languages.get("cobol"), None);
        assert_eq!(languages.names(), "node, python, ruby, shell");
        assert!(parse_named("language", "bad name=x").is_err());
    }
}
