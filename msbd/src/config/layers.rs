//! Where settings come from: the defaults, the config file, the `MSB_*` environment and the
//! flags, each read into a layer of raw values that remember how they were written. Layers
//! are merged key by key, the higher one winning, before any value is checked, so a bad value
//! is always reported under the name it was given by.

use super::settings::{self, Fallback, Spec};
use super::ConfigError;
use crate::languages::BUILT_IN;
use crate::template_options::split_template_option;
use crate::templates::parse_named;
use msb_proto::SettingSource;
use std::collections::BTreeMap;
use std::fmt;

/// What a raw value sets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// A setting of the table, by its flag.
    Setting(&'static str),
    Template(String, Field),
    Language(String),
}

/// A part of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Command,
    User,
    Network,
    Mounts,
}

impl Field {
    /// The field a `--template-option` key sets.
    fn of_option(key: &str) -> Option<Self> {
        match key {
            "user" => Some(Self::User),
            "network" => Some(Self::Network),
            "mount" => Some(Self::Mounts),
            _ => None,
        }
    }

    /// Its name in the config file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Command => "command",
            Self::User => "user",
            Self::Network => "network",
            Self::Mounts => "mounts",
        }
    }

    /// Its key in a `--template-option`.
    pub fn option_key(self) -> &'static str {
        match self {
            Self::Mounts => "mount",
            other => other.name(),
        }
    }

    /// The fields of a template table in the config file.
    pub fn of_file(key: &str) -> Option<Self> {
        [Self::Command, Self::User, Self::Network, Self::Mounts]
            .into_iter()
            .find(|field| field.name() == key)
    }
}

/// The key as the config file writes it: `session_timeout`, `templates.py.command`.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Setting(flag) => f.write_str(&flag.replace('-', "_")),
            Self::Template(name, field) => write!(f, "templates.{name}.{}", field.name()),
            Self::Language(name) => write!(f, "languages.{name}"),
        }
    }
}

/// Where a raw value was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    /// The config file, by its path.
    File(String),
    /// An environment variable, by its name.
    Env(String),
    /// A flag, as typed (`--session-timeout`).
    Flag(String),
}

impl Origin {
    pub fn source(&self) -> SettingSource {
        match self {
            Self::Default => SettingSource::Default,
            Self::File(_) => SettingSource::File,
            Self::Env(_) => SettingSource::Env,
            Self::Flag(_) => SettingSource::Flag,
        }
    }
}

/// A value before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    /// What is checked: the value itself.
    pub text: String,
    /// What the user typed, for messages: the whole `NAME=COMMAND` of a `--template`, a
    /// line of `MSB_TEMPLATES`, or the value itself.
    pub typed: String,
    pub origin: Origin,
}

impl Raw {
    fn new(text: impl Into<String>, origin: Origin) -> Self {
        let text = text.into();
        Self {
            typed: text.clone(),
            text,
            origin,
        }
    }

    /// The setting as the user wrote it: `--session-timeout`, `MSB_SESSION_TIMEOUT`,
    /// `/etc/msbd/msbd.toml: session_timeout`; a default by its key.
    pub fn name(&self, key: &Key) -> String {
        match &self.origin {
            Origin::Default => key.to_string(),
            Origin::File(path) => format!("{path}: {key}"),
            Origin::Env(name) | Origin::Flag(name) => name.clone(),
        }
    }

    /// A refusal of this value: its name as written, the value as typed, what is allowed.
    pub fn refuse(&self, key: &Key, allowed: impl Into<String>) -> ConfigError {
        ConfigError::Value {
            setting: self.name(key),
            value: self.typed.clone(),
            allowed: allowed.into(),
        }
    }
}

/// The raw values of one place. A key holds one value, the last given there, except a
/// template's mounts, which add up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer(BTreeMap<Key, Vec<Raw>>);

impl Layer {
    pub fn set(&mut self, key: Key, raw: Raw) {
        let values = self.0.entry(key.clone()).or_default();
        if !matches!(key, Key::Template(_, Field::Mounts)) {
            values.clear();
        }
        values.push(raw);
    }

    /// One layer of `layers`, lowest first: each key from the highest layer that sets it.
    pub fn merge(layers: &[&Layer]) -> Layer {
        let mut merged = BTreeMap::new();
        for layer in layers {
            for (key, values) in &layer.0 {
                merged.insert(key.clone(), values.clone());
            }
        }
        Layer(merged)
    }

    /// The value of `key`, if any place sets it.
    pub fn get(&self, key: &Key) -> Option<&Raw> {
        self.0.get(key).and_then(|values| values.last())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &[Raw])> {
        self.0.iter().map(|(key, values)| (key, values.as_slice()))
    }

    /// What every setting is when nothing sets it, on this host.
    pub fn defaults() -> Self {
        let mut layer = Self::default();
        for spec in settings::ALL {
            let text = match &spec.default {
                Fallback::Text(text) => Some(text.to_string()),
                Fallback::Host(work_out, _) => work_out(),
                Fallback::Unset => None,
            };
            if let Some(text) = text {
                layer.set(Key::Setting(spec.flag), Raw::new(text, Origin::Default));
            }
        }
        for (name, command) in BUILT_IN {
            layer.set(
                Key::Language(name.to_string()),
                Raw::new(command, Origin::Default),
            );
        }
        layer
    }

    /// The flags msbd was started with: `settings` as given, then the list flags.
    pub fn flags(
        settings: &[(&'static Spec, String)],
        lists: &[(List, Vec<String>)],
    ) -> Result<Self, ConfigError> {
        let mut layer = Self::default();
        for (spec, text) in settings {
            let origin = Origin::Flag(format!("--{}", spec.flag));
            layer.set(Key::Setting(spec.flag), Raw::new(text.clone(), origin));
        }
        for (list, items) in lists {
            for item in items {
                layer.add(*list, item, Origin::Flag(format!("--{}", list.flag())))?;
            }
        }
        Ok(layer)
    }

    /// The `MSB_*` variables, looked up with `var`; an empty one counts as unset. The lists
    /// take one item a line.
    pub fn environment(var: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| var(name).filter(|value| !value.is_empty());
        let mut layer = Self::default();
        for spec in settings::ALL {
            let name = spec.env();
            if let Some(text) = var(&name) {
                layer.set(Key::Setting(spec.flag), Raw::new(text, Origin::Env(name)));
            }
        }
        for list in List::ALL {
            let Some(text) = var(list.env()) else {
                continue;
            };
            for line in text.lines().filter(|line| !line.trim().is_empty()) {
                layer.add(list, line, Origin::Env(list.env().to_string()))?;
            }
        }
        Ok(layer)
    }

    /// Adds one item of a list setting as typed (`NAME=COMMAND`, `NAME:KEY=VALUE`) in a
    /// flag or a variable, which `origin` names.
    fn add(&mut self, list: List, item: &str, origin: Origin) -> Result<(), ConfigError> {
        let as_typed = Raw::new(item, origin.clone());
        let refuse = |allowed: String| as_typed.refuse(&Key::Setting(list.flag()), allowed);
        let (key, text) = match list {
            List::Template => {
                let (name, command) = parse_named("template", item).map_err(refuse)?;
                (Key::Template(name, Field::Command), command)
            }
            List::TemplateOption => {
                let (name, key, value) = split_template_option(item).map_err(refuse)?;
                let field = Field::of_option(&key).ok_or_else(|| {
                    refuse(format!(
                        "unknown option '{key}'; options are user, network and mount"
                    ))
                })?;
                (Key::Template(name, field), value)
            }
            List::Language => {
                let (name, command) = parse_named("language", item).map_err(refuse)?;
                (Key::Language(name), command)
            }
        };
        self.set(key, Raw { text, ..as_typed });
        Ok(())
    }
}

/// The settings given as lists on the command line and in the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Template,
    TemplateOption,
    Language,
}

impl List {
    pub const ALL: [Self; 3] = [Self::Template, Self::TemplateOption, Self::Language];

    pub fn flag(self) -> &'static str {
        match self {
            Self::Template => "template",
            Self::TemplateOption => "template-option",
            Self::Language => "language",
        }
    }

    pub fn env(self) -> &'static str {
        match self {
            Self::Template => "MSB_TEMPLATES",
            Self::TemplateOption => "MSB_TEMPLATE_OPTIONS",
            Self::Language => "MSB_LANGUAGES",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(layer: &Layer, key: Key) -> Option<(String, SettingSource)> {
        layer
            .get(&key)
            .map(|raw| (raw.text.clone(), raw.origin.source()))
    }

    #[test]
    fn the_higher_layer_wins_key_by_key() {
        let mut file = Layer::default();
        let origin = Origin::File("/etc/msbd/msbd.toml".into());
        file.set(
            Key::Setting("session-timeout"),
            Raw::new("45s", origin.clone()),
        );
        file.set(Key::Setting("max-sessions"), Raw::new("7", origin.clone()));
        file.set(Key::Setting("stall-after"), Raw::new("1m", origin));
        let env = Layer::environment(&|name| {
            [
                ("MSB_SESSION_TIMEOUT", "50s"),
                ("MSB_MAX_SESSIONS", "8"),
                ("MSB_STALL_AFTER", ""),
            ]
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
        })
        .expect("env");
        let flags =
            Layer::flags(&[(&settings::SESSION_TIMEOUT, "55s".into())], &[]).expect("flags");
        let merged = Layer::merge(&[&Layer::defaults(), &file, &env, &flags]);
        let get = |flag| text(&merged, Key::Setting(flag));
        assert_eq!(
            get("session-timeout"),
            Some(("55s".into(), SettingSource::Flag))
        );
        assert_eq!(get("max-sessions"), Some(("8".into(), SettingSource::Env)));
        assert_eq!(
            get("stall-after"),
            Some(("1m".into(), SettingSource::File)),
            "an empty variable is unset"
        );
        assert_eq!(
            get("cleanup-interval"),
            Some(("60s".into(), SettingSource::Default))
        );
        assert_eq!(get("socket-group"), None);
        let raw = merged.get(&Key::Setting("max-sessions")).expect("set");
        assert_eq!(raw.name(&Key::Setting("max-sessions")), "MSB_MAX_SESSIONS");
    }

    #[test]
    fn lists_name_their_items_and_mounts_add_up_within_a_place() {
        let flags = Layer::flags(
            &[],
            &[
                (
                    List::Template,
                    vec!["py=python3 -".into(), "py=python3.12 -".into()],
                ),
                (
                    List::TemplateOption,
                    vec![
                        "py:mount=/a:/a".into(),
                        "py:mount=/b:/b".into(),
                        "py:user=root".into(),
                    ],
                ),
            ],
        )
        .expect("flags");
        let command = flags
            .get(&Key::Template("py".into(), Field::Command))
            .expect("py");
        assert_eq!(command.text, "python3.12 -", "the last one given wins");
        assert_eq!(command.typed, "py=python3.12 -");
        assert_eq!(
            command.name(&Key::Template("py".into(), Field::Command)),
            "--template"
        );
        let mounts: Vec<&str> = flags
            .iter()
            .find(|(key, _)| **key == Key::Template("py".into(), Field::Mounts))
            .map(|(_, raws)| raws.iter().map(|r| r.text.as_str()).collect())
            .expect("mounts");
        assert_eq!(mounts, ["/a:/a", "/b:/b"]);
        let mut file = Layer::default();
        file.set(
            Key::Template("py".into(), Field::Mounts),
            Raw::new("/c:/c", Origin::File("f".into())),
        );
        let merged = Layer::merge(&[&file, &flags]);
        assert_eq!(
            merged
                .iter()
                .filter(|(key, _)| matches!(key, Key::Template(_, Field::Mounts)))
                .map(|(_, r)| r.len())
                .sum::<usize>(),
            2,
            "the flags' mounts replace the file's"
        );
        let err = Layer::flags(&[], &[(List::TemplateOption, vec!["py:cpu=4".into()])])
            .expect_err("no such option");
        assert!(
            err.to_string().contains("--template-option 'py:cpu=4'"),
            "{err}"
        );
        let err = Layer::environment(&|name| (name == "MSB_TEMPLATES").then(|| "broken".into()))
            .expect_err("not NAME=COMMAND");
        assert!(err.to_string().contains("MSB_TEMPLATES 'broken'"), "{err}");
    }
}
