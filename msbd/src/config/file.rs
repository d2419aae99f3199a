//! The config file: TOML whose keys are the flags' names with `_` (`session_timeout =
//! "30m"`), plus `[templates.NAME]` tables (`command`, `user`, `network`, `mounts`) and a
//! `[languages]` table (`NAME = "COMMAND"`). An unknown key is refused, naming the file and
//! the key, so that a typo never passes for a setting silently left at its default.

use super::layers::{Field, Key, Layer, Origin, Raw};
use super::{settings, ConfigError};
use crate::templates::{check_command, check_name};
use std::path::PathBuf;
use toml::{Table, Value};

/// Which file to read, and who chose it.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// `--config` or `MSB_CONFIG` when one named it: then it must exist. The default file
    /// may be absent.
    pub named_by: Option<&'static str>,
}

impl ConfigFile {
    /// The file `--config` names, else `MSB_CONFIG`, else the default place.
    pub fn choose(flag: Option<PathBuf>, env: Option<String>) -> Self {
        match (flag, env.filter(|path| !path.is_empty())) {
            (Some(path), _) => Self {
                path,
                named_by: Some("--config"),
            },
            (None, Some(path)) => Self {
                path: PathBuf::from(path),
                named_by: Some("MSB_CONFIG"),
            },
            (None, None) => Self {
                path: default_path(),
                named_by: None,
            },
        }
    }

    /// The file's settings, and whether it was there.
    pub fn read(&self) -> Result<(Layer, bool), ConfigError> {
        let shown = self.path.display().to_string();
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok((parse(&shown, &text)?, true)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && self.named_by.is_none() => {
                Ok((Layer::default(), false))
            }
            Err(err) => Err(match self.named_by {
                Some(setting) => ConfigError::Value {
                    setting: setting.to_string(),
                    value: shown,
                    allowed: format!("cannot read it: {err}"),
                },
                None => ConfigError::File {
                    file: shown,
                    error: err.to_string(),
                },
            }),
        }
    }
}

/// `/etc/msbd/msbd.toml` for root, else `msbd/msbd.toml` in the user's config dir.
fn default_path() -> PathBuf {
    const SYSTEM: &str = "/etc/msbd/msbd.toml";
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from(SYSTEM);
    }
    directories::ProjectDirs::from("", "", "msbd")
        .map(|dirs| dirs.config_dir().join("msbd.toml"))
        .unwrap_or_else(|| PathBuf::from(SYSTEM))
}

/// Reads the file's text into a layer; `file` names it in messages.
pub fn parse(file: &str, text: &str) -> Result<Layer, ConfigError> {
    let table: Table = toml::from_str(text).map_err(|err| ConfigError::File {
        file: file.to_string(),
        error: err.to_string().trim_end().to_string(),
    })?;
    let origin = Origin::File(file.to_string());
    let mut layer = Layer::default();
    for (key, value) in &table {
        match key.as_str() {
            "templates" => templates(file, &origin, value, &mut layer)?,
            "languages" => languages(file, &origin, value, &mut layer)?,
            _ => {
                let spec = settings::find(key).ok_or_else(|| unknown(file, key, &known_keys()))?;
                let key = Key::Setting(spec.flag);
                let text =
                    scalar(value).map_err(|allowed| refuse(&key, &origin, value, allowed))?;
                layer.set(key, raw(text, &origin));
            }
        }
    }
    Ok(layer)
}

fn templates(
    file: &str,
    origin: &Origin,
    value: &Value,
    layer: &mut Layer,
) -> Result<(), ConfigError> {
    let tables = table_of(
        file,
        "templates",
        value,
        "a table of templates, [templates.NAME]",
    )?;
    for (name, fields) in tables {
        check_name("template", name).map_err(|allowed| ConfigError::Value {
            setting: format!("{file}: templates"),
            value: name.clone(),
            allowed,
        })?;
        let what = format!("templates.{name}");
        let fields = table_of(
            file,
            &what,
            fields,
            "a table: command, user, network, mounts",
        )?;
        for (field_name, value) in fields {
            let field = Field::of_file(field_name).ok_or_else(|| {
                unknown(
                    file,
                    &format!("{what}.{field_name}"),
                    "command, user, network, mounts",
                )
            })?;
            let key = Key::Template(name.clone(), field);
            if field == Field::Mounts {
                let Value::Array(mounts) = value else {
                    return Err(refuse(
                        &key,
                        origin,
                        value,
                        "expected a list of HOST:INSIDE[:ro|:rw]".into(),
                    ));
                };
                for mount in mounts {
                    let Value::String(mount) = mount else {
                        return Err(refuse(
                            &key,
                            origin,
                            mount,
                            "expected HOST:INSIDE[:ro|:rw] as a string".into(),
                        ));
                    };
                    layer.set(key.clone(), raw(mount.clone(), origin));
                }
                continue;
            }
            let Value::String(text) = value else {
                return Err(refuse(&key, origin, value, "expected a string".into()));
            };
            if field == Field::Command {
                check_command("template", name, text)
                    .map_err(|allowed| refuse(&key, origin, value, allowed))?;
            }
            layer.set(key, raw(text.clone(), origin));
        }
    }
    Ok(())
}

fn languages(
    file: &str,
    origin: &Origin,
    value: &Value,
    layer: &mut Layer,
) -> Result<(), ConfigError> {
    for (name, command) in table_of(file, "languages", value, "a table of NAME = \"COMMAND\"")? {
        let key = Key::Language(name.clone());
        let checked = match command {
            Value::String(text) => check_name("language", name)
                .and_then(|()| check_command("language", name, text))
                .map(|()| text.clone()),
            _ => Err("expected the interpreter's command line as a string".into()),
        };
        let text = checked.map_err(|allowed| refuse(&key, origin, command, allowed))?;
        layer.set(key, raw(text, origin));
    }
    Ok(())
}

fn raw(text: String, origin: &Origin) -> Raw {
    Raw {
        typed: text.clone(),
        text,
        origin: origin.clone(),
    }
}

/// A single value as the text the setting's check reads.
fn scalar(value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Integer(n) => Ok(n.to_string()),
        Value::Float(x) => Ok(x.to_string()),
        Value::Boolean(b) => Ok(b.to_string()),
        Value::Datetime(when) => Err(format!(
            "expected a string, a number or true/false, not the date {when}"
        )),
        other => Err(format!(
            "expected a string, a number or true/false, not {}",
            other.type_str()
        )),
    }
}

/// A refusal of a value of the file, shown as the file has it.
fn refuse(key: &Key, origin: &Origin, value: &Value, allowed: String) -> ConfigError {
    let typed = shown(value);
    Raw {
        text: typed.clone(),
        typed,
        origin: origin.clone(),
    }
    .refuse(key, allowed)
}

/// A value as the file has it, near enough for a message.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(shown).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Table(_) => "a table".into(),
        other => scalar(other).unwrap_or_else(|_| other.type_str().into()),
    }
}

fn table_of<'a>(
    file: &str,
    what: &str,
    value: &'a Value,
    expected: &str,
) -> Result<&'a Table, ConfigError> {
    match value {
        Value::Table(table) => Ok(table),
        other => Err(ConfigError::Value {
            setting: format!("{file}: {what}"),
            value: shown(other),
            allowed: format!("expected {expected}"),
        }),
    }
}

fn unknown(file: &str, key: &str, known: &str) -> ConfigError {
    ConfigError::UnknownKey {
        file: file.to_string(),
        key: key.to_string(),
        known: known.to_string(),
    }
}

fn known_keys() -> String {
    let mut keys: Vec<String> = settings::ALL.iter().map(|spec| spec.key()).collect();
    keys.extend(["templates".into(), "languages".into()]);
    keys.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_settings_templates_and_languages() {
        let layer = parse(
            "/etc/msbd/msbd.toml",
            r#"
                session_timeout = "45s"
                max_sessions = 7
                enable_lru_eviction = false
                [templates.py]
                command = "python3 -m http.server"
                network = "host"
                mounts = ["/srv:/data:ro", "/tmp/x:/x:rw"]
                [languages]
                ruby = "ruby"
            "#,
        )
        .expect("parse");
        let text = |key: Key| layer.get(&key).map(|raw| raw.text.clone());
        assert_eq!(
            text(Key::Setting("session-timeout")).as_deref(),
            Some("45s")
        );
        assert_eq!(text(Key::Setting("max-sessions")).as_deref(), Some("7"));
        assert_eq!(
            text(Key::Setting("enable-lru-eviction")).as_deref(),
            Some("false")
        );
        assert_eq!(
            text(Key::Template("py".into(), Field::Network)).as_deref(),
            Some("host")
        );
        assert_eq!(text(Key::Language("ruby".into())).as_deref(), Some("ruby"));
        let raw = layer.get(&Key::Setting("max-sessions")).expect("set");
        assert_eq!(
            raw.name(&Key::Setting("max-sessions")),
            "/etc/msbd/msbd.toml: max_sessions"
        );
    }

    #[test]
    fn refuses_unknown_keys_and_wrong_types_naming_the_file_and_key() {
        for (text, needle) in [
            ("sesion_timeout = \"1m\"", "unknown key 'sesion_timeout'"),
            ("max-sessions = 3", "unknown key 'max-sessions'"),
            (
                "[templates.py]\ncommand = \"x\"\ncpus = 2",
                "unknown key 'templates.py.cpus'",
            ),
            ("max_sessions = [1]", "f.toml: max_sessions '[1]'"),
            (
                "[templates.py]\nmounts = \"/a:/b\"",
                "f.toml: templates.py.mounts '/a:/b'",
            ),
            ("[languages]\nruby = \"\"", "f.toml: languages.ruby ''"),
            ("session_timeout = ", "f.toml"),
        ] {
            let err = parse("f.toml", text).expect_err(text).to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn only_a_default_file_may_be_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let absent = dir.path().join("msbd.toml");
        let default = ConfigFile {
            path: absent.clone(),
            named_by: None,
        };
        assert_eq!(
            default.read().expect("absent is fine"),
            (Layer::default(), false)
        );
        let named = ConfigFile::choose(None, Some(absent.display().to_string()));
        let err = named
            .read()
            .expect_err("a named file must exist")
            .to_string();
        assert!(err.starts_with("invalid MSB_CONFIG"), "{err}");
    }
}
