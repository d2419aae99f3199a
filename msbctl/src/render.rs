//! Renderings for people: compact tables and one-line messages. Scripts use `--json`.

use crate::paint::{Paint, Tone};
use crate::table::{lines, table, Cell};
use msb_proto::units::format_duration;
use msb_proto::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn health_tone(health: Health) -> Tone {
    match health {
        Health::Healthy => Tone::Good,
        Health::Degraded => Tone::Warn,
        Health::Unhealthy => Tone::Bad,
    }
}

fn state_tone(state: TaskState) -> Tone {
    match state {
        TaskState::Running => Tone::Good,
        TaskState::Paused | TaskState::Backoff => Tone::Warn,
        TaskState::Stalled | TaskState::Failed => Tone::Bad,
        TaskState::Stopped => Tone::Quiet,
    }
}

fn session_tone(status: SessionStatus) -> Tone {
    match status {
        SessionStatus::Ready | SessionStatus::Running => Tone::Good,
        SessionStatus::Creating | SessionStatus::Processing => Tone::Busy,
        SessionStatus::Error => Tone::Bad,
        SessionStatus::Stopped | SessionStatus::Ended => Tone::Quiet,
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// "5m ago" for a unix-seconds stamp.
fn ago(secs: u64) -> String {
    let mut text = format_duration(Duration::from_secs(now_secs().saturating_sub(secs)));
    text.push_str(" ago");
    text
}

fn ms(ms: u64) -> String {
    format_duration(Duration::from_millis(ms))
}

fn cycle_summary(cycle: &CycleReport) -> String {
    let mut text = format!("{} in {}ms", cycle.outcome, cycle.duration_ms);
    if cycle.processed > 0 {
        text.push_str(&format!(", {} processed", cycle.processed));
    }
    text
}

pub fn status(report: &StatusReport, paint: Paint) -> String {
    let d = &report.daemon;
    let r = &report.resources;
    let limit = |u: &Usage| u.max.map(|m| format!(" of {m}")).unwrap_or_default();
    let f = &r.by_flavor;
    let mut out = format!(
        "msbd {} (pid {}, up {}, backend {}): {}\n\
         isolation: {}\n\
         sessions: {}{} ({} small, {} medium, {} large; at start {} adopted, {} lost)\n\
         memory: {}{} MB, cpus: {}; evictions: {}{}\n\
         file descriptors: room for {} sandboxes (RLIMIT_NOFILE {}, {} reserved)\n\
         store: {}\n\
         backend: {}\n\
         config: {}\n\n",
        d.version,
        d.pid,
        format_duration(Duration::from_secs(d.uptime_secs)),
        d.backend,
        paint.tone(health_tone(report.overall), &report.overall.to_string()),
        r.isolation,
        r.sessions.used,
        limit(&r.sessions),
        f.small,
        f.medium,
        f.large,
        report.sessions.adopted,
        report.sessions.lost_at_start,
        r.memory_mb.used,
        limit(&r.memory_mb),
        r.cpus.used,
        r.evictions,
        if r.lru_eviction {
            ""
        } else {
            " (LRU eviction off)"
        },
        r.fds.max_sandboxes,
        r.fds.limit,
        r.fds.reserved,
        store_line(&report.store),
        backend_line(&report.backend),
        config_line(&report.config),
    );
    let mut t = table(&[
        "TASK",
        "STATE",
        "HEALTH",
        "EVERY",
        "CYCLES",
        "FAILED",
        "RESTARTS",
        "LAST CYCLE",
        "NEXT",
    ]);
    for task in &report.tasks {
        t.add_row([
            Cell::from(task.name.as_str()),
            paint.cell(state_tone(task.state), &task.state.to_string()),
            paint.cell(health_tone(task.health), &task.health.to_string()),
            format_duration(Duration::from_secs_f64(task.interval_secs)).into(),
            task.cycles.to_string().into(),
            task.failed_cycles.to_string().into(),
            task.restarts.to_string().into(),
            task.last_cycle
                .as_ref()
                .map(cycle_summary)
                .unwrap_or_else(|| "-".into())
                .into(),
            task.next_run_in_ms
                .map(|n| format!("in {}", ms(n)))
                .unwrap_or_else(|| "-".into())
                .into(),
        ]);
    }
    out.push_str(&lines(&t));
    for task in &report.tasks {
        if let Some(reason) = &task.reason {
            out.push_str(&format!("\n{}: {reason}", task.name));
        }
    }
    out
}

/// "healthy (PATH)", or "degraded since 5s ago: ERROR".
fn store_line(store: &StoreHealth) -> String {
    match &store.error {
        Some(error) => format!(
            "{} since {}: {error}",
            store.health,
            store.since.map(ago).unwrap_or_else(|| "-".into())
        ),
        None => format!("{} ({})", store.health, store.path),
    }
}

/// "healthy (msb doctor passed 5m ago)", "degraded: msb doctor: REASON (5s ago)", or
/// "healthy" for a backend with no check.
fn backend_line(backend: &BackendHealth) -> String {
    let when = backend.checked_at.map(ago).unwrap_or_else(|| "-".into());
    match (&backend.check, &backend.reason) {
        (Some(check), Some(reason)) => format!("{}: {check}: {reason} ({when})", backend.health),
        (Some(check), None) => format!("{} ({check} passed {when})", backend.health),
        (None, _) => backend.health.to_string(),
    }
}

/// "FILE, loaded 5m ago, 2 reloads; changed cleanup_interval 1m -> 5s; needs a restart:
/// socket; last reload refused: ERROR".
fn config_line(config: &ConfigStatus) -> String {
    let changes = |list: &[ConfigChange]| {
        list.iter()
            .map(|c| {
                let value = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                format!("{} {} -> {}", c.name, value(&c.from), value(&c.to))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut line = format!(
        "{}{}, loaded {}, {} reload(s)",
        config.file,
        if config.found { "" } else { " (none there)" },
        ago(config.loaded_at),
        config.reloads
    );
    if !config.changed.is_empty() {
        line.push_str(&format!("; changed {}", changes(&config.changed)));
    }
    if !config.needs_restart.is_empty() {
        line.push_str(&format!(
            "; needs a restart: {}",
            changes(&config.needs_restart)
        ));
    }
    if let Some(error) = &config.last_error {
        line.push_str(&format!("; last reload refused: {error}"));
    }
    line
}

/// The effective settings: NAME VALUE SOURCE under the file they were read from.
pub fn config(report: &ConfigReport) -> String {
    let mut t = table(&["NAME", "VALUE", "SOURCE"]);
    for setting in &report.settings {
        t.add_row(vec![
            setting.name.clone(),
            setting.value.clone().unwrap_or_else(|| "-".into()),
            setting.source.to_string(),
        ]);
    }
    let file = if report.found {
        report.file.clone()
    } else {
        format!("{} (not there; none read)", report.file)
    };
    format!("config file: {file}\n{}", lines(&t))
}

pub fn health(report: &HealthReport, paint: Paint) -> String {
    let mut reasons: Vec<String> = report
        .tasks
        .iter()
        .filter_map(|t| t.reason.as_ref().map(|r| format!("{}: {r}", t.name)))
        .collect();
    if let Some(error) = &report.store.error {
        reasons.push(format!("store: {error}"));
    }
    if let (Some(check), Some(reason)) = (&report.backend.check, &report.backend.reason) {
        reasons.push(format!("backend: {check}: {reason}"));
    }
    let overall = paint.tone(health_tone(report.overall), &report.overall.to_string());
    if reasons.is_empty() {
        overall
    } else {
        format!("{overall} - {}", reasons.join("; "))
    }
}

pub fn actions(actions: &[TaskAction]) -> String {
    actions
        .iter()
        .map(|a| {
            let mut line = format!("{}: {}", a.task, a.result);
            if a.state.to_string() != a.result.to_string() {
                line.push_str(&format!(" (now {})", a.state));
            }
            if let Some(detail) = &a.detail {
                line.push_str(&format!(" - {detail}"));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn cycle(report: &CycleReport) -> String {
    let mut out = format!("{}: {}", report.task, cycle_summary(report));
    for (key, value) in &report.counts {
        out.push_str(&format!(", {key} {value}"));
    }
    if let Some(error) = &report.error {
        out.push_str(&format!("\nerror: {error}"));
    }
    out
}

pub fn sessions(list: &[SessionInfo], paint: Paint) -> String {
    if list.is_empty() {
        return "no sessions".into();
    }
    let mut t = table(&[
        "ID",
        "TEMPLATE",
        "FLAVOR",
        "STATUS",
        "SANDBOX",
        "CREATED",
        "LAST ACCESS",
        "EXPIRES IN",
    ]);
    for s in list {
        t.add_row([
            Cell::from(s.id.as_str()),
            s.template.as_str().into(),
            s.flavor.name().into(),
            paint.cell(session_tone(s.status), &s.status.to_string()),
            s.sandbox.as_str().into(),
            ago(s.created_at).into(),
            ago(s.last_accessed).into(),
            expires(s).into(),
        ]);
    }
    lines(&t)
}

pub fn orphans(list: &[OrphanInfo]) -> String {
    if list.is_empty() {
        return "no orphans".into();
    }
    let mut t = table(&["SANDBOX", "SESSION", "PID", "STOPPED BY"]);
    for o in list {
        t.add_row(vec![
            o.sandbox.clone(),
            o.session_id.clone(),
            o.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            "the next orphan-cleanup cycle".into(),
        ]);
    }
    lines(&t)
}

/// When a session expires; `-` while nothing counts down (it is stopped, a command runs in
/// it, it is being created or stopped).
fn expires(s: &SessionInfo) -> String {
    s.expires_in_secs
        .map(|secs| format_duration(Duration::from_secs(secs)))
        .unwrap_or_else(|| "-".into())
}

pub fn session(s: &SessionInfo) -> String {
    let mut out = format!(
        "id:          {}\ntemplate:    {}\nflavor:      {} ({} CPU, {} MB)\nstatus:      {}\nsandbox:     {}\ncreated:     {}\nlast access: {}\n{:<12} {}",
        s.id,
        s.template,
        s.flavor,
        s.flavor.cpus(),
        s.flavor.memory_mb(),
        s.status,
        s.sandbox,
        ago(s.created_at),
        ago(s.last_accessed),
        if s.exit.is_some() {
            "forgotten in:"
        } else {
            "expires in:"
        },
        expires(s),
    );
    out.push_str(&format!("\nlabels:      {}", labels(&s.labels)));
    if let Some(exit) = &s.exit {
        let how = match (exit.code, exit.signal) {
            (Some(code), _) => format!("code {code}"),
            (None, Some(signal)) => format!("signal {signal}"),
            (None, None) => "unknown".into(),
        };
        out.push_str(&format!("\nexit:        {how}, {}", ago(exit.ended_at)));
        if !exit.log_tail.is_empty() {
            out.push_str("\nlast lines:");
            for line in &exit.log_tail {
                out.push_str(&format!("\n  {line}"));
            }
        }
    }
    if let Some(since) = s.busy_since {
        out.push_str(&format!("\nbusy since:  {}", ago(since)));
    }
    if let Some(owner) = s.owner {
        out.push_str(&format!("\nowner:       uid {owner}"));
    }
    if let Some(error) = &s.error {
        out.push_str(&format!("\nerror:       {error}"));
    }
    if let Some(fate) = &s.fate {
        out.push_str(&format!("\nsandbox:     {fate}"));
    }
    if let Some(d) = &s.details {
        out.push_str(&format!(
            "\nsandbox:     {}, pid {}, isolation {}",
            if d.running { "running" } else { "not running" },
            d.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            d.isolation
        ));
        if let Some(dir) = &d.workdir {
            out.push_str(&format!("\nworkdir:     {dir}"));
        }
    }
    out
}

/// `k=v, k2=v2`, or `-` for none.
fn labels(labels: &Labels) -> String {
    if labels.is_empty() {
        return "-".into();
    }
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(", ")
}

pub fn stop_report(report: &StopReport) -> String {
    let mut out = format!(
        "shutdown {} in {}: {} session(s), {} stopped, {} killed, {} failed",
        report.outcome,
        ms(report.duration_ms),
        report.sessions_total,
        report.stopped,
        report.killed,
        report.failed
    );
    if report.kept > 0 {
        out.push_str(&format!(", {} kept running", report.kept));
    }
    for s in report
        .sessions
        .iter()
        .filter(|s| matches!(s.fate, Fate::Killed | Fate::Failed))
    {
        out.push_str(&format!("\n  {} {}", s.id, s.fate));
        if let Some(error) = &s.error {
            out.push_str(&format!(": {error}"));
        }
    }
    out
}

pub fn copied(report: &msb_proto::CopyReport) -> String {
    format!(
        "copied {} bytes ({}:{})",
        report.bytes, report.session_id, report.path
    )
}

/// `2025-05-04 13:02:07.123` in the local time zone (UTC where it cannot be told).
pub fn local_time(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = libc::time_t::try_from(since.as_secs()).unwrap_or(libc::time_t::MAX);
    // SAFETY: an all-zero `tm` is a valid value (its zone pointer is null), and
    // localtime_r only writes into the `tm` it is given, which lives on this stack.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let known = !unsafe { libc::localtime_r(&secs, &mut tm) }.is_null();
    if !known {
        // SAFETY: as above; gmtime_r cannot fail for a time that fits in a time_t.
        unsafe { libc::gmtime_r(&secs, &mut tm) };
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        since.subsec_millis()
    )
}

fn uid(uid: Option<u32>) -> String {
    uid.map_or_else(|| "an unknown uid".into(), |uid| format!("uid {uid}"))
}

/// One line per event: its local time, then what happened.
pub fn event(event: &Event) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(event.at_ms);
    let text = match &event.kind {
        EventKind::TaskState {
            task,
            state,
            reason,
        } => match reason {
            Some(reason) if *reason != state.to_string() => {
                format!("task {task} is {state}: {reason}")
            }
            _ => format!("task {task} is {state}"),
        },
        EventKind::Cycle { report } => {
            let counts: Vec<String> = report
                .counts
                .iter()
                .map(|(name, n)| format!("{name} {n}"))
                .collect();
            let mut text = format!(
                "task {} ran a cycle: {}",
                report.task,
                cycle_summary(report)
            );
            if !counts.is_empty() {
                text.push_str(&format!(" ({})", counts.join(", ")));
            }
            if let Some(error) = &report.error {
                text.push_str(&format!(": {error}"));
            }
            text
        }
        EventKind::TaskRestarted { task, by_operator } => format!(
            "task {task} restarted {}",
            if *by_operator {
                "by an operator"
            } else {
                "after its backoff"
            }
        ),
        EventKind::TaskPaused {
            task,
            by_uid,
            reason,
            until,
        } => {
            let mut text = format!("task {task} paused by {}", uid(*by_uid));
            if let Some(reason) = reason {
                text.push_str(&format!(" ({reason})"));
            }
            match until {
                Some(until) => text.push_str(&format!(
                    " until {}",
                    local_time(UNIX_EPOCH + Duration::from_secs(*until))
                )),
                None => text.push_str(" until resumed"),
            }
            text
        }
        EventKind::TaskResumed {
            task,
            by_uid,
            lease_ended,
        } => {
            if *lease_ended {
                format!("task {task} resumed: its pause ended")
            } else {
                format!("task {task} resumed by {}", uid(*by_uid))
            }
        }
        EventKind::SessionCreated {
            session_id,
            template,
            flavor,
            owner,
        } => format!(
            "session {session_id} created (template {template}, {flavor}, for {})",
            uid(*owner)
        ),
        EventKind::SessionExpired { session_id, fate } => {
            format!("session {session_id} expired: its sandbox was {fate}")
        }
        EventKind::SessionEvicted {
            session_id,
            for_session,
            fate,
        } => format!(
            "session {session_id} evicted to make room for {for_session}: its sandbox was {fate}"
        ),
        EventKind::SessionStopped { session_id, fate } => {
            format!("session {session_id} stopped: its sandbox was {fate}")
        }
        EventKind::SessionEnded {
            session_id,
            code,
            signal,
        } => {
            let how = match (code, signal) {
                (Some(code), _) => format!("exited with code {code}"),
                (None, Some(signal)) => format!("was killed by signal {signal}"),
                (None, None) => "ended".into(),
            };
            format!("session {session_id} ended: its sandbox {how}")
        }
        EventKind::ExecStarted {
            session_id,
            program,
            by_uid,
        } => format!(
            "command {program} started in session {session_id} by {}",
            uid(*by_uid)
        ),
        EventKind::ExecEnded {
            session_id,
            exit_code,
            timed_out,
            duration_ms,
        } => {
            let how = if *timed_out {
                "timed out".to_string()
            } else {
                format!("exited with status {exit_code}")
            };
            format!(
                "command in session {session_id} {how} after {}",
                ms(*duration_ms)
            )
        }
        EventKind::ConfigReloaded { changed } => {
            if changed.is_empty() {
                "configuration reloaded: nothing changed".into()
            } else {
                format!("configuration reloaded: {} changed", changed.join(", "))
            }
        }
    };
    format!("{}  {text}", local_time(at))
}

/// The line that says a follower fell behind.
pub fn missed(missed: u64, at: SystemTime) -> String {
    format!(
        "{}  missed {missed} event(s): this reader fell behind (msbd --event-buffer sets how far it may)",
        local_time(at)
    )
}
