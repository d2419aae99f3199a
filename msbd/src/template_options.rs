//! Template options (`--template-option NAME:KEY=VALUE`): where a template's sandboxes are
//! let out of the default jail on purpose. `user=root` runs its commands as root inside,
//! `network=host` leaves them the host's network, `mount=HOST:INSIDE[:ro|:rw]` binds a host
//! path into their root filesystem. Everything else stays as tight as the default.

use std::path::{Component, Path, PathBuf};

/// What one template's sandboxes get beyond the default jail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateOptions {
    /// Commands run as root inside (with the lockdown's capabilities), not as the sandbox's
    /// ordinary user.
    pub root_inside: bool,
    /// No network namespace: the host's interfaces.
    pub host_network: bool,
    pub mounts: Vec<Mount>,
}

/// One option, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateOption {
    User { root: bool },
    Network { host: bool },
    Mount(Mount),
}

/// A host path bound into a sandbox's root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host: PathBuf,
    pub inside: PathBuf,
    pub writable: bool,
}

/// Top-level directories of the sandbox's root that a mount may not shadow or lie under:
/// its own `/proc`, `/dev`, `/etc` and `/work`, and the host's read-only system directories.
const RESERVED: [&str; 11] = [
    "proc", "dev", "etc", "work", "usr", "bin", "sbin", "lib", "lib64", "lib32", "opt",
];

impl TemplateOptions {
    pub fn add(&mut self, option: TemplateOption) {
        match option {
            TemplateOption::User { root } => self.root_inside = root,
            TemplateOption::Network { host } => self.host_network = host,
            TemplateOption::Mount(mount) => self.mounts.push(mount),
        }
    }
}

impl Mount {
    /// Parses `HOST:INSIDE[:ro|:rw]`, read-only unless `:rw`; both paths absolute, the
    /// sandbox's one clear of `RESERVED` and of `..`.
    pub fn parse(text: &str) -> Result<Self, String> {
        const FORM: &str = "expected HOST:INSIDE[:ro|:rw], both absolute paths";
        let mut parts = text.split(':');
        let (Some(host), Some(inside)) = (parts.next(), parts.next()) else {
            return Err(FORM.into());
        };
        let writable = match parts.next() {
            None | Some("ro") => false,
            Some("rw") => true,
            Some(other) => return Err(format!("'{other}' is neither ro nor rw")),
        };
        if parts.next().is_some() {
            return Err(FORM.into());
        }
        let (host, inside) = (PathBuf::from(host), PathBuf::from(inside));
        if !host.is_absolute() || !inside.is_absolute() {
            return Err(FORM.into());
        }
        if inside
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        {
            return Err(format!("{} climbs with '..'", inside.display()));
        }
        let top = inside.components().nth(1).map(|c| c.as_os_str());
        match top.and_then(|top| top.to_str()) {
            None => return Err("the sandbox's / cannot be replaced".into()),
            Some(top) if RESERVED.contains(&top) => {
                return Err(format!(
                    "{} would shadow the sandbox's /{top}",
                    inside.display()
                ))
            }
            Some(_) => {}
        }
        Ok(Self {
            host,
            inside,
            writable,
        })
    }

    /// The sandbox path inside a directory that is about to become `/`.
    pub fn under(&self, root: &Path) -> PathBuf {
        root.join(self.inside.strip_prefix("/").unwrap_or(&self.inside))
    }
}

impl std::fmt::Display for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = if self.writable { "rw" } else { "ro" };
        write!(
            f,
            "{}:{}:{mode}",
            self.host.display(),
            self.inside.display()
        )
    }
}

/// Splits `NAME:KEY=VALUE` as given to `--template-option`; `TemplateOption::parse` checks
/// the value.
pub fn split_template_option(text: &str) -> Result<(String, String, String), String> {
    const FORM: &str = "expected NAME:KEY=VALUE with user=root|sandbox, \
        network=host|loopback or mount=HOST:INSIDE[:ro|:rw]";
    let (name, setting) = text.split_once(':').ok_or(FORM)?;
    let (key, value) = setting.split_once('=').ok_or(FORM)?;
    let name = name.trim();
    if name.is_empty() {
        return Err(FORM.into());
    }
    Ok((
        name.to_string(),
        key.trim().to_string(),
        value.trim().to_string(),
    ))
}

impl TemplateOption {
    /// The option `key` (`user`, `network`, `mount`) set to `value`.
    pub fn parse(key: &str, value: &str) -> Result<Self, String> {
        Ok(match (key, value.trim()) {
            ("user", "root") => Self::User { root: true },
            ("user", "sandbox") => Self::User { root: false },
            ("user", _) => return Err("expected root or sandbox".into()),
            ("network", "host") => Self::Network { host: true },
            ("network", "loopback") => Self::Network { host: false },
            ("network", _) => return Err("expected host or loopback".into()),
            ("mount", spec) => Self::Mount(Mount::parse(spec)?),
            (other, _) => {
                return Err(format!(
                    "unknown option '{other}'; options are user, network and mount"
                ))
            }
        })
    }

    /// Its value as `parse` takes it.
    pub fn value(&self) -> String {
        match self {
            Self::User { root } => if *root { "root" } else { "sandbox" }.into(),
            Self::Network { host } => if *host { "host" } else { "loopback" }.into(),
            Self::Mount(mount) => mount.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_template_option(text: &str) -> Result<(String, TemplateOption), String> {
        let (name, key, value) = split_template_option(text)?;
        Ok((name, TemplateOption::parse(&key, &value)?))
    }

    #[test]
    fn parses_each_key() {
        assert_eq!(
            parse_template_option("py:user=root"),
            Ok(("py".into(), TemplateOption::User { root: true }))
        );
        assert_eq!(
            parse_template_option("py:network=host"),
            Ok(("py".into(), TemplateOption::Network { host: true }))
        );
        let (_, TemplateOption::Mount(mount)) =
            parse_template_option("py:mount=/srv/data:/data").expect("mount")
        else {
            panic!("not a mount");
        };
        assert_eq!(mount.to_string(), "/srv/data:/data:ro");
        assert_eq!(Mount::parse(&mount.to_string()), Ok(mount.clone()));
        assert!(Mount::parse("/a:/b:rw").expect("rw").writable);
        let mut options = TemplateOptions::default();
        options.add(TemplateOption::User { root: true });
        options.add(TemplateOption::Mount(mount));
        assert!(options.root_inside && !options.host_network && options.mounts.len() == 1);
    }

    #[test]
    fn refuses_what_would_shadow_or_climb() {
        for bad in [
            "py",
            "py:user=admin",
            "py:network=bridge",
            ":user=root",
            "py:mount=/a",
            "py:mount=a:/b",
            "py:mount=/a:b",
            "py:mount=/a:/",
            "py:mount=/a:/proc",
            "py:mount=/a:/work/x",
            "py:mount=/a:/etc/passwd",
            "py:mount=/a:/dev/x",
            "py:mount=/a:/usr/x",
            "py:mount=/a:/data/../etc",
            "py:mount=/a:/data:rx",
            "py:mount=/a:/data:ro:x",
        ] {
            assert!(parse_template_option(bad).is_err(), "{bad} accepted");
        }
    }
}
