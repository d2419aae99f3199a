//! The daemon's effective settings, each with where its value came from (`msbctl config`,
//! `msbd --check-config`), and what the last reload of the configuration did (`status`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a setting's value came from. Flags win over the environment, the environment over
/// the config file, the file over the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum SettingSource {
    Default,
    File,
    Env,
    Flag,
}

impl fmt::Display for SettingSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Default => "default",
            Self::File => "file",
            Self::Env => "env",
            Self::Flag => "flag",
        })
    }
}

/// One effective setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Setting {
    /// Its key in the config file: `session_timeout`, `templates.py.command`,
    /// `languages.python`.
    pub name: String,
    /// The value in effect, as text; `None` when it is not set (`socket_group`).
    pub value: Option<String>,
    pub source: SettingSource,
}

/// Every effective setting of the running daemon, in the order of the settings table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ConfigReport {
    /// The config file: the one named by `--config` or `MSB_CONFIG`, else the default place.
    pub file: String,
    /// Whether that file was there and read (a default file may be absent).
    pub found: bool,
    pub settings: Vec<Setting>,
}

/// A setting whose value a reload changed (or would have: see `ConfigStatus::needs_restart`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ConfigChange {
    pub name: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The configuration in effect and what the last reload (`SIGHUP`) did, for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ConfigStatus {
    pub file: String,
    pub found: bool,
    /// Unix seconds when the configuration in effect was read.
    pub loaded_at: u64,
    /// Reloads applied since the daemon started.
    pub reloads: u64,
    /// What the last applied reload changed.
    pub changed: Vec<ConfigChange>,
    /// Settings the file or environment changed that only a restart applies; they keep
    /// their old values until then.
    pub needs_restart: Vec<ConfigChange>,
    /// Why the last reload was refused (the configuration in effect was kept); cleared by
    /// the next reload that applies.
    pub last_error: Option<String>,
}
