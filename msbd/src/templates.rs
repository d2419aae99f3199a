//! Templates name what a sandbox runs. `default` is built in and needs nothing installed;
//! operators add their own with `--template NAME=COMMAND`. A command of plain words is run
//! directly, so that a program that cannot be run fails the create with its own error;
//! anything with shell syntax runs under `/bin/sh -c`. `image:REF` names the image a microVM
//! of the msb backend boots instead. Each may carry options (see `template_options`).

use crate::backend::Command;
use crate::template_options::{TemplateOption, TemplateOptions};
use std::collections::BTreeMap;

pub const DEFAULT_TEMPLATE: &str = "default";

#[derive(Debug, Clone)]
pub struct Templates {
    map: BTreeMap<String, Template>,
}

/// What a template's sandboxes run, and how they are jailed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub command: Command,
    pub options: TemplateOptions,
}

impl Templates {
    /// The built-in template plus `custom`, which may override it, with `options` (each
    /// naming one of them; the configuration checked that).
    pub fn new(custom: &[(String, String)], options: &[(String, TemplateOption)]) -> Self {
        let template = |command| Template {
            command,
            options: TemplateOptions::default(),
        };
        let mut map = BTreeMap::from([(DEFAULT_TEMPLATE.to_string(), template(Command::Idle))]);
        for (name, command) in custom {
            map.insert(name.clone(), template(command_of(command)));
        }
        for (name, option) in options {
            if let Some(template) = map.get_mut(name) {
                template.options.add(option.clone());
            }
        }
        Self { map }
    }

    pub fn get(&self, name: &str) -> Option<Template> {
        self.map.get(name).cloned()
    }

    /// The templates whose sandboxes are jailed less than the rest, for `status`: "host
    /// network for web; root inside for build"; `None` when there are none.
    pub fn exceptions(&self) -> Option<String> {
        let with = |what: &str, has: fn(&TemplateOptions) -> bool| {
            let names: Vec<&str> = self
                .map
                .iter()
                .filter(|(_, t)| has(&t.options))
                .map(|(name, _)| name.as_str())
                .collect();
            (!names.is_empty()).then(|| format!("{what} for {}", names.join(", ")))
        };
        let parts: Vec<String> = [
            with("host network", |o| o.host_network),
            with("root inside", |o| o.root_inside),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// Every template's name, for messages: "default, python".
    pub fn names(&self) -> String {
        self.map.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// The image reference of an `image:REF` template, trimmed; `None` for a command.
pub fn image_ref(line: &str) -> Option<&str> {
    line.trim_start().strip_prefix("image:").map(str::trim)
}

/// What a template's command line runs: the image of `image:REF` (a relative directory made
/// absolute, as msb would read it from msbd's working directory), its words when it has only
/// plain words (letters, digits, spaces and `-_./:,+@`), else the line under the shell.
fn command_of(line: &str) -> Command {
    if let Some(reference) = image_ref(line) {
        let local = reference.starts_with("./") || reference.starts_with("../");
        return Command::Image(match std::path::absolute(reference) {
            Ok(path) if local => path.display().to_string(),
            _ => reference.to_string(),
        });
    }
    let plain = line
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" -_./:,+@".contains(&b));
    if plain {
        Command::Argv(line.split_whitespace().map(String::from).collect())
    } else {
        Command::Shell(line.to_string())
    }
}

/// Parses `NAME=COMMAND` for a `kind` of named command (`template`, `language`).
pub fn parse_named(kind: &str, text: &str) -> Result<(String, String), String> {
    let (name, command) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not NAME=COMMAND"))?;
    let name = name.trim();
    check_name(kind, name)?;
    check_command(kind, name, command)?;
    Ok((name.to_string(), command.to_string()))
}

/// A template's or a language's name: letters, digits, '-', '_' or '.'.
pub fn check_name(kind: &str, name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{kind} name '{name}' must be letters, digits, '-', '_' or '.'"
        ))
    }
}

/// A template's or a language's command: not empty.
pub fn check_command(kind: &str, name: &str, command: &str) -> Result<(), String> {
    if command.trim().is_empty() {
        return Err(format!("{kind} '{name}' has an empty command"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_jailed_less_are_named() {
        let plain = Templates::new(&[("a".into(), "sleep 1".into())], &[]);
        assert_eq!(plain.exceptions(), None);
        let option = |text: &str| {
            let (name, key, value) =
                crate::template_options::split_template_option(text).expect("an option");
            (
                name,
                TemplateOption::parse(&key, &value).expect("an option"),
            )
        };
        let loose = Templates::new(
            &[
                ("web".into(), "sleep 1".into()),
                ("build".into(), "make".into()),
            ],
            &[
                option("web:network=host"),
                option("build:user=root"),
                option("web:user=root"),
            ],
        );
        assert_eq!(
            loose.exceptions().as_deref(),
            Some("host network for web; root inside for build, web")
        );
    }

    #[test]
    fn parses_and_overrides() {
        let custom = parse_named("template", "stubborn=trap '' TERM; sleep 100").expect("parse");
        assert_eq!(custom.1, "trap '' TERM; sleep 100");
        let options = [(
            "stubborn".to_string(),
            TemplateOption::Network { host: true },
        )];
        let templates = Templates::new(&[custom], &options);
        let default = templates.get("default").expect("default");
        assert_eq!(default.command, Command::Idle);
        assert_eq!(default.options, TemplateOptions::default());
        let stubborn = templates.get("stubborn").expect("stubborn");
        assert!(matches!(stubborn.command, Command::Shell(_)));
        assert!(stubborn.options.host_network);
        assert_eq!(templates.get("nope"), None);
        assert_eq!(templates.names(), "default, stubborn");
    }

    #[test]
    fn plain_words_run_directly_and_anything_else_under_the_shell() {
        assert_eq!(
            command_of(" python3  -m http.server 8000 "),
            Command::Argv(vec![
                "python3".into(),
                "-m".into(),
                "http.server".into(),
                "8000".into()
            ])
        );
        assert_eq!(
            command_of("no-such-command-xyz"),
            Command::Argv(vec!["no-such-command-xyz".into()])
        );
        for line in [
            "X=1 env",
            "sleep 1; exit 3",
            "echo $HOME",
            "a | b",
            "echo 'x y'",
            "a > f",
        ] {
            assert_eq!(command_of(line), Command::Shell(line.into()), "{line}");
        }
    }

    #[test]
    fn images_are_references_or_directories() {
        assert_eq!(image_ref(" image: python:3.12 "), Some("python:3.12"));
        assert_eq!(image_ref("python3"), None);
        assert_eq!(
            command_of("image:python:3.12"),
            Command::Image("python:3.12".into())
        );
        assert_eq!(
            command_of("image:/srv/rootfs"),
            Command::Image("/srv/rootfs".into())
        );
        let Command::Image(local) = command_of("image:./rootfs") else {
            panic!("not an image");
        };
        assert!(
            local.starts_with('/') && local.ends_with("/rootfs"),
            "{local}"
        );
    }

    #[test]
    fn refuses_malformed_templates() {
        assert!(parse_named("template", "no-equals").is_err());
        assert!(parse_named("template", "=cmd").is_err());
        assert!(parse_named("template", "x=  ").is_err());
        assert!(parse_named("template", "bad name=cmd").is_err());
    }
}
