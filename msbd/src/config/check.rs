//! Checks the merged raw values into a `Config`, recording each effective value with its
//! source as it goes. Every refusal names the setting as it was given (`Raw::refuse`).

use super::layers::{Field, Key, Layer};
use super::settings::{self as s, Spec};
use super::{BackendChoice, Config, ConfigError, Sources, WorkLimits};
use crate::admission::socket_group;
use crate::backend::msb::{self, MsbSettings};
use crate::backend::process::UidRange;
use crate::languages::Languages;
use crate::supervisor::RestartPolicy;
use crate::template_options::TemplateOption;
use crate::templates::{image_ref, Templates, DEFAULT_TEMPLATE};
use clap::ValueEnum;
use msb_proto::units::DURATION_FORMS;
use msb_proto::{Setting, SettingSource};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The shortest interval or timeout accepted where a shorter one would make the daemon spin.
const MIN_PERIOD: Duration = Duration::from_millis(100);
const SECOND: Duration = Duration::from_secs(1);
/// The most events `--event-buffer` keeps, in memory, and in each follower's queue.
const MAX_EVENT_BUFFER: u64 = 65_536;

/// What happens when a task's cycle panics, as `--restart-policy` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PolicyArg {
    OnFailure,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    /// Sandboxes are process groups on this host; needs nothing installed.
    Process,
    /// Sandboxes are microVMs of microsandbox, driven through its `msb` command.
    Msb,
}

/// The configuration `merged` from `sources` says; `file_found` tells whether the config
/// file was there.
pub fn check(merged: &Layer, sources: Sources, file_found: bool) -> Result<Config, ConfigError> {
    let mut r = Reader {
        merged,
        settings: Vec::new(),
    };
    let show_path = |path: &PathBuf| path.display().to_string();
    let socket = r.require(&s::SOCKET, absolute, show_path)?;
    let state_dir = r.require(&s::STATE_DIR, absolute, show_path)?;
    let backend = r.require(&s::BACKEND, choice::<BackendArg>, name_of)?;
    // Looked for only where it is used, so a host without microsandbox runs `process`.
    let msb_path = r.require(
        &s::MSB_PATH,
        |text| match backend {
            BackendArg::Msb => msb::locate(text.trim(), std::env::var_os("PATH")),
            BackendArg::Process => Ok(PathBuf::from(text.trim())),
        },
        show_path,
    )?;
    let msb_concurrency = r.number(&s::MSB_CONCURRENCY, 1, 1024)?;
    let msb_timeout = r.duration(&s::MSB_TIMEOUT, SECOND)?;
    let session_timeout = r.duration(&s::SESSION_TIMEOUT, SECOND)?;
    let cleanup_interval = r.duration(&s::CLEANUP_INTERVAL, MIN_PERIOD)?;
    let orphan_cleanup_interval = r.duration(&s::ORPHAN_CLEANUP_INTERVAL, MIN_PERIOD)?;
    let max_sessions = r.number(&s::MAX_SESSIONS, 1, u64::MAX)?;
    let max_total_memory_mb = r
        .get(&s::MAX_TOTAL_MEMORY_MB, whole(0, u64::MAX), u64::to_string)?
        .filter(|mb| *mb > 0);
    let lru_eviction = r.require(&s::ENABLE_LRU_EVICTION, boolean, bool::to_string)?;
    let busy_timeout = r.duration(&s::BUSY_TIMEOUT, SECOND)?;
    let isolation = r.require(&s::ISOLATION, choice, name_of)?;
    let uid_range = r.require(&s::UID_RANGE, UidRange::parse, UidRange::to_string)?;
    let default_flavor = r.require(&s::DEFAULT_FLAVOR, choice, name_of)?;
    let shutdown_timeout = r.duration(&s::SHUTDOWN_TIMEOUT, Duration::ZERO)?;
    let stop_grace = r.duration(&s::STOP_GRACE, Duration::ZERO)?;
    let restart_policy = match r.require(&s::RESTART_POLICY, choice, name_of)? {
        PolicyArg::OnFailure => RestartPolicy::OnFailure,
        PolicyArg::Never => RestartPolicy::Never,
    };
    let stall_after = r.duration(&s::STALL_AFTER, MIN_PERIOD)?;
    let socket_group = r.get(&s::SOCKET_GROUP, socket_group, |group| group.name.clone())?;
    let max_connections_per_uid = r.number(&s::MAX_CONNECTIONS_PER_UID, 1, usize::MAX as u64)?;
    let idle_timeout = r.duration(&s::IDLE_TIMEOUT, SECOND)?;
    let max_execs_per_session = r.number(&s::MAX_EXECS_PER_SESSION, 1, u32::MAX.into())?;
    let collect_limit_kb = r.number(&s::COLLECT_LIMIT_KB, 1, u64::MAX)?;
    let copy_limit_mb = r.number(&s::COPY_LIMIT_MB, 1, u64::MAX)?;
    let metrics_listen = r.get(&s::METRICS_LISTEN, listen_address, |a| a.to_string())?;
    let event_buffer = r.number(&s::EVENT_BUFFER, 1, MAX_EVENT_BUFFER)?;
    let log_format = r.require(&s::LOG_FORMAT, choice, name_of)?;
    let enable_fault_injection = r.require(&s::ENABLE_FAULT_INJECTION, boolean, bool::to_string)?;
    let templates = r.templates(backend)?;
    let languages = r.languages();
    Ok(Config {
        socket,
        state_dir,
        backend: match backend {
            BackendArg::Process => BackendChoice::Process,
            BackendArg::Msb => BackendChoice::Msb(MsbSettings {
                path: msb_path,
                concurrency: msb_concurrency as usize,
                timeout: msb_timeout,
            }),
        },
        session_timeout,
        cleanup_interval,
        orphan_cleanup_interval,
        max_sessions,
        max_total_memory_mb,
        lru_eviction,
        busy_timeout,
        isolation,
        uid_range,
        default_flavor,
        shutdown_timeout,
        stop_grace,
        restart_policy,
        stall_after,
        templates,
        work: WorkLimits {
            max_execs_per_session: max_execs_per_session as u32,
            collect_limit: collect_limit_kb.saturating_mul(1024),
            copy_limit: copy_limit_mb.saturating_mul(1024 * 1024),
        },
        languages,
        socket_group,
        max_connections_per_uid: max_connections_per_uid as usize,
        idle_timeout,
        metrics_listen,
        event_buffer: event_buffer as usize,
        log_format,
        enable_fault_injection,
        settings: r.settings,
        sources,
        file_found,
    })
}

struct Reader<'a> {
    merged: &'a Layer,
    /// The effective settings read so far, in the order read.
    settings: Vec<Setting>,
}

impl Reader<'_> {
    /// The checked value of `spec` from the highest place that sets it, `None` when none
    /// does; recorded as `show` writes it.
    fn get<T>(
        &mut self,
        spec: &'static Spec,
        check: impl FnOnce(&str) -> Result<T, String>,
        show: impl FnOnce(&T) -> String,
    ) -> Result<Option<T>, ConfigError> {
        let key = Key::Setting(spec.flag);
        let Some(raw) = self.merged.get(&key) else {
            self.record(&key, None, SettingSource::Default);
            return Ok(None);
        };
        let value = check(&raw.text).map_err(|allowed| raw.refuse(&key, allowed))?;
        self.record(&key, Some(show(&value)), raw.origin.source());
        Ok(Some(value))
    }

    /// As `get`, for a setting that has a default.
    fn require<T>(
        &mut self,
        spec: &'static Spec,
        check: impl FnOnce(&str) -> Result<T, String>,
        show: impl FnOnce(&T) -> String,
    ) -> Result<T, ConfigError> {
        self.get(spec, check, show)?
            .ok_or_else(|| ConfigError::Value {
                setting: format!("--{}", spec.flag),
                value: String::new(),
                allowed: "this host gives it no default; set it".into(),
            })
    }

    fn duration(&mut self, spec: &'static Spec, min: Duration) -> Result<Duration, ConfigError> {
        self.require(spec, |text| at_least(text, min), exact)
    }

    fn number(&mut self, spec: &'static Spec, min: u64, max: u64) -> Result<u64, ConfigError> {
        self.require(spec, whole(min, max), u64::to_string)
    }

    fn record(&mut self, key: &Key, value: Option<String>, source: SettingSource) {
        self.settings.push(Setting {
            name: key.to_string(),
            value,
            source,
        });
    }

    /// The templates: the built-in one and every one given a command, each with its
    /// options, which must name one of them. An image (`image:REF`) is for the msb backend
    /// only, and options, which shape the process backend's jail, for the process backend.
    fn templates(&mut self, backend: BackendArg) -> Result<Templates, ConfigError> {
        let mut commands = Vec::new();
        let mut options = Vec::new();
        for (key, raws) in self.merged.iter() {
            let (Key::Template(name, field), Some(last)) = (key, raws.last()) else {
                continue;
            };
            if *field == Field::Command {
                match (image_ref(&last.text), backend) {
                    (Some(""), _) => {
                        return Err(last.refuse(key, "image: names no image; give image:REF, an OCI reference or a root filesystem directory"))
                    }
                    (Some(_), BackendArg::Process) => {
                        return Err(last.refuse(key, "an image (image:REF) needs --backend msb: the process backend runs commands of this host"))
                    }
                    _ => {}
                }
                commands.push((name.clone(), last.text.clone()));
                self.record(key, Some(last.text.clone()), last.origin.source());
                continue;
            }
            if backend == BackendArg::Msb {
                return Err(last.refuse(
                    key,
                    "template options shape the process backend's jail; the msb backend's microVMs take none",
                ));
            }
            let defined = name == DEFAULT_TEMPLATE
                || self
                    .merged
                    .get(&Key::Template(name.clone(), Field::Command))
                    .is_some();
            if !defined {
                return Err(last.refuse(
                    key,
                    format!(
                        "names no template '{name}': give it a command first (--template, \
                         MSB_TEMPLATES or [templates.{name}] command in the config file)"
                    ),
                ));
            }
            let mut shown = Vec::new();
            for raw in raws {
                let option = TemplateOption::parse(field.option_key(), &raw.text)
                    .map_err(|allowed| raw.refuse(key, allowed))?;
                shown.push(option.value());
                options.push((name.clone(), option));
            }
            self.record(key, Some(shown.join(", ")), last.origin.source());
        }
        Ok(Templates::new(&commands, &options))
    }

    /// The languages, built-in and given.
    fn languages(&mut self) -> Languages {
        let mut given = Vec::new();
        for (key, raws) in self.merged.iter() {
            if let (Key::Language(name), Some(last)) = (key, raws.last()) {
                given.push((name.clone(), last.text.clone()));
                self.record(key, Some(last.text.clone()), last.origin.source());
            }
        }
        Languages::new(&given)
    }
}

fn at_least(text: &str, min: Duration) -> Result<Duration, String> {
    let value =
        msb_proto::units::parse_duration(text).map_err(|_| format!("expected {DURATION_FORMS}"))?;
    if value < min {
        return Err(format!("must be at least {}", exact(&min)));
    }
    Ok(value)
}

/// A duration as it is, not rounded, so that a reload tells any change.
fn exact(duration: &Duration) -> String {
    if duration.is_zero() {
        return "0s".into();
    }
    humantime::format_duration(*duration).to_string()
}

fn whole(min: u64, max: u64) -> impl FnOnce(&str) -> Result<u64, String> {
    move |text| {
        let allowed = || match max {
            u64::MAX => format!("expected a whole number, at least {min}"),
            max => format!("expected a whole number from {min} to {max}"),
        };
        match text.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(allowed()),
        }
    }
}

fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn choice<T: ValueEnum>(text: &str) -> Result<T, String> {
    T::from_str(text.trim(), false).map_err(|_| {
        let names: Vec<String> = T::value_variants().iter().map(name_of).collect();
        format!("expected one of {}", names.join(", "))
    })
}

fn name_of<T: ValueEnum>(value: &T) -> String {
    value
        .to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

/// `--metrics-listen`: an IP address and a port.
fn listen_address(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        "expected ADDR:PORT with an IP address, such as 127.0.0.1:9464 or [::1]:9464".into()
    })
}

/// Absolute, so that status shows where it really is whatever the daemon's working
/// directory was.
fn absolute(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("expected a path".into());
    }
    std::path::absolute(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_shown_exactly() {
        assert_eq!(exact(&Duration::from_millis(1500)), "1s 500ms");
        assert_eq!(exact(&Duration::ZERO), "0s");
        assert_eq!(
            whole(1, 8)("9"),
            Err("expected a whole number from 1 to 8".into())
        );
        assert_eq!(
            whole(1, u64::MAX)("-1"),
            Err("expected a whole number, at least 1".into())
        );
        assert_eq!(choice::<PolicyArg>("never"), Ok(PolicyArg::Never));
        assert_eq!(name_of(&PolicyArg::OnFailure), "on-failure");
        assert_eq!(boolean("off"), Ok(false));
        assert!(absolute("").is_err());
    }
}
