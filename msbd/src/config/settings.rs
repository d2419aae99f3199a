//! The settings table: every single-valued setting once, with its help, its default and
//! whether a reload may change it. The flag names the rest, so they cannot drift apart: the
//! config file's key is the flag with `_` for `-`, the environment variable `MSB_` and that
//! key in capitals, the prefix once (`msb_path` is `MSB_PATH`). (Templates, their options and
//! languages are lists; `layers` reads them.)

/// One setting.
#[derive(Debug)]
pub struct Spec {
    /// The flag without its dashes.
    pub flag: &'static str,
    /// The value's name in `--help`; `None` for a switch (a flag that takes no value).
    pub value_name: Option<&'static str>,
    pub help: &'static str,
    pub default: Fallback,
    /// A reload applies it; the others keep their value until msbd restarts.
    pub live: bool,
}

/// What a setting is when nothing sets it.
#[derive(Debug)]
pub enum Fallback {
    /// This text, checked as if it had been given.
    Text(&'static str),
    /// Worked out on this host (a path, its memory), and how `--help` words it.
    Host(fn() -> Option<String>, &'static str),
    /// Not set.
    Unset,
}

impl Spec {
    /// The key in the config file.
    pub fn key(&self) -> String {
        self.flag.replace('-', "_")
    }

    /// The environment variable.
    pub fn env(&self) -> String {
        let key = self.key().to_uppercase();
        if key.starts_with("MSB_") {
            key
        } else {
            format!("MSB_{key}")
        }
    }
}

/// The setting whose config-file key is `key`.
pub fn find(key: &str) -> Option<&'static Spec> {
    ALL.iter().copied().find(|spec| spec.key() == key)
}

const fn setting(
    flag: &'static str,
    value_name: &'static str,
    help: &'static str,
    default: Fallback,
) -> Spec {
    Spec {
        flag,
        value_name: Some(value_name),
        help,
        default,
        live: true,
    }
}

/// A setting that only a restart applies.
const fn at_start(
    flag: &'static str,
    value_name: &'static str,
    help: &'static str,
    default: Fallback,
) -> Spec {
    Spec {
        live: false,
        ..setting(flag, value_name, help, default)
    }
}

pub static SOCKET: Spec = at_start(
    "socket",
    "PATH",
    "Socket to listen on",
    Fallback::Host(
        || Some(msb_proto::paths::default_socket().display().to_string()),
        "/run/msbd/msbd.sock for root, else the user runtime dir",
    ),
);
pub static STATE_DIR: Spec = at_start(
    "state-dir",
    "DIR",
    "Directory for the instance id, sandbox records and working directories",
    Fallback::Host(
        || Some(super::default_state_dir().display().to_string()),
        "the user data dir",
    ),
);
pub static BACKEND: Spec = at_start(
    "backend",
    "NAME",
    "Sandbox backend: process (process groups of this host) or msb (microVMs of microsandbox)",
    Fallback::Text("process"),
);
pub static MSB_PATH: Spec = at_start(
    "msb-path",
    "PATH",
    "The msb command of microsandbox that the msb backend drives: a path, or a name looked up on PATH",
    Fallback::Text("msb"),
);
pub static MSB_CONCURRENCY: Spec = at_start(
    "msb-concurrency",
    "N",
    "Most msb commands the msb backend runs at once (commands run in sessions and log follows aside)",
    Fallback::Text("8"),
);
pub static MSB_TIMEOUT: Spec = at_start(
    "msb-timeout",
    "DUR",
    "Longest one msb command may run (an image pull included) before it is killed and counted a failure",
    Fallback::Text("2m"),
);
pub static SESSION_TIMEOUT: Spec = setting(
    "session-timeout",
    "DUR",
    "A session untouched this long is stopped",
    Fallback::Text("30m"),
);
pub static CLEANUP_INTERVAL: Spec = setting(
    "cleanup-interval",
    "DUR",
    "How often session-cleanup runs",
    Fallback::Text("60s"),
);
pub static ORPHAN_CLEANUP_INTERVAL: Spec = setting(
    "orphan-cleanup-interval",
    "DUR",
    "How often orphan-cleanup runs",
    Fallback::Text("10m"),
);
pub static MAX_SESSIONS: Spec = setting(
    "max-sessions",
    "N",
    "Most sessions at once",
    Fallback::Text("100"),
);
pub static MAX_TOTAL_MEMORY_MB: Spec = setting(
    "max-total-memory-mb",
    "MB",
    "Total memory of all sessions' flavors, in MB; 0 means no limit",
    Fallback::Host(
        || super::host_memory_mb().map(|mb| mb.to_string()),
        "this host's memory",
    ),
);
pub static ENABLE_LRU_EVICTION: Spec = setting(
    "enable-lru-eviction",
    "BOOL",
    "Evict least-recently-used idle sessions when a create would break a limit",
    Fallback::Text("true"),
);
pub static BUSY_TIMEOUT: Spec = setting(
    "busy-timeout",
    "DUR",
    "A busy mark (processing) not lifted within this long is lifted by session-cleanup",
    Fallback::Text("1h"),
);
pub static ISOLATION: Spec = at_start(
    "isolation",
    "MODE",
    "How sandboxes are isolated: auto (namespaces where available), namespaces (always) or none",
    Fallback::Text("auto"),
);
pub static UID_RANGE: Spec = at_start(
    "uid-range",
    "START:COUNT",
    "Host uids for sandboxes' roots and users, two each (used when msbd runs as root)",
    Fallback::Text("100000:65536"),
);
pub static DEFAULT_FLAVOR: Spec = setting(
    "default-flavor",
    "FLAVOR",
    "Flavor of sessions created without one: small, medium or large",
    Fallback::Text("small"),
);
pub static SHUTDOWN_TIMEOUT: Spec = setting(
    "shutdown-timeout",
    "DUR",
    "Time a shutdown (SIGTERM, SIGINT) gives sandboxes before killing them",
    Fallback::Text("30s"),
);
pub static STOP_GRACE: Spec = setting(
    "stop-grace",
    "DUR",
    "Time a stopped session's sandbox gets between SIGTERM and SIGKILL",
    Fallback::Text("10s"),
);
pub static RESTART_POLICY: Spec = setting(
    "restart-policy",
    "POLICY",
    "What to do when a task's cycle panics: on-failure (restart with backoff) or never",
    Fallback::Text("on-failure"),
);
pub static STALL_AFTER: Spec = setting(
    "stall-after",
    "DUR",
    "A cycle running longer than this makes its task `stalled`",
    Fallback::Text("5m"),
);
pub static SOCKET_GROUP: Spec = at_start(
    "socket-group",
    "GROUP",
    "Group whose members may use the socket (it is then 0660 with that group)",
    Fallback::Unset,
);
pub static MAX_CONNECTIONS_PER_UID: Spec = setting(
    "max-connections-per-uid",
    "N",
    "Most connections one uid may hold open at once",
    Fallback::Text("64"),
);
pub static IDLE_TIMEOUT: Spec = setting(
    "idle-timeout",
    "DUR",
    "A connection that sends no request for this long is closed",
    Fallback::Text("5m"),
);
pub static MAX_EXECS_PER_SESSION: Spec = setting(
    "max-execs-per-session",
    "N",
    "Most commands (exec, run, copies) running in one session at once",
    Fallback::Text("8"),
);
pub static COLLECT_LIMIT_KB: Spec = setting(
    "collect-limit-kb",
    "KIB",
    "Output kept per stream of a command whose output is collected (--json), in KiB",
    Fallback::Text("1024"),
);
pub static COPY_LIMIT_MB: Spec = setting(
    "copy-limit-mb",
    "MIB",
    "Largest archive one copy into or out of a session may move, in MiB",
    Fallback::Text("1024"),
);
pub static METRICS_LISTEN: Spec = at_start(
    "metrics-listen",
    "ADDR:PORT",
    "Serve the Prometheus metrics over HTTP at http://ADDR:PORT/metrics",
    Fallback::Unset,
);
pub static EVENT_BUFFER: Spec = at_start(
    "event-buffer",
    "N",
    "Events kept for `msbctl events` (and queued inside msbd for each follower)",
    Fallback::Text("1024"),
);
pub static LOG_FORMAT: Spec = at_start(
    "log-format",
    "FORMAT",
    "How the log is written on stderr: text (coloured on a terminal, never with NO_COLOR) or json (one object a line)",
    Fallback::Text("text"),
);
pub static ENABLE_FAULT_INJECTION: Spec = Spec {
    flag: "enable-fault-injection",
    value_name: None,
    help: "Accept `msbctl debug fault` (for tests only)",
    default: Fallback::Text("false"),
    live: true,
};

/// Every setting, in the order `--help`, `msbctl config` and the README show them.
pub static ALL: [&Spec; 30] = [
    &SOCKET,
    &STATE_DIR,
    &BACKEND,
    &MSB_PATH,
    &MSB_CONCURRENCY,
    &MSB_TIMEOUT,
    &SESSION_TIMEOUT,
    &CLEANUP_INTERVAL,
    &ORPHAN_CLEANUP_INTERVAL,
    &MAX_SESSIONS,
    &MAX_TOTAL_MEMORY_MB,
    &ENABLE_LRU_EVICTION,
    &BUSY_TIMEOUT,
    &ISOLATION,
    &UID_RANGE,
    &DEFAULT_FLAVOR,
    &SHUTDOWN_TIMEOUT,
    &STOP_GRACE,
    &RESTART_POLICY,
    &STALL_AFTER,
    &SOCKET_GROUP,
    &MAX_CONNECTIONS_PER_UID,
    &IDLE_TIMEOUT,
    &MAX_EXECS_PER_SESSION,
    &COLLECT_LIMIT_KB,
    &COPY_LIMIT_MB,
    &METRICS_LISTEN,
    &EVENT_BUFFER,
    &LOG_FORMAT,
    &ENABLE_FAULT_INJECTION,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_flag() {
        assert_eq!(SESSION_TIMEOUT.key(), "session_timeout");
        assert_eq!(SESSION_TIMEOUT.env(), "MSB_SESSION_TIMEOUT");
        assert_eq!(MSB_PATH.env(), "MSB_PATH");
        assert_eq!(MSB_PATH.key(), "msb_path");
        assert_eq!(
            find("max_total_memory_mb").map(|s| s.flag),
            Some("max-total-memory-mb")
        );
        assert!(find("max-sessions").is_none(), "keys use _");
        let mut flags: Vec<&str> = ALL.iter().map(|s| s.flag).collect();
        flags.sort();
        flags.dedup();
        assert_eq!(flags.len(), ALL.len(), "each setting once");
    }
}
