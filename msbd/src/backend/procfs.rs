//! The few facts msbd reads from /proc: a process's start time, group and state, and the
//! marker in its environment. Start time is what tells a sandbox from a later process that
//! merely got the same pid.

use std::fs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pgrp: i32,
    /// Clock ticks since boot at which the process started.
    pub start_time: u64,
    pub zombie: bool,
}

/// Parses `/proc/PID/stat`. The command name may hold spaces and parentheses, so fields are
/// counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: field 3 (state) is index 0, field 5 (pgrp) index 2, field 22 (starttime) index 19.
    Some(ProcStat {
        zombie: matches!(*fields.first()?, "Z" | "X"),
        pgrp: fields.get(2)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

pub fn stat(pid: u32) -> Option<ProcStat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The value of `key` in the process's initial environment.
pub fn env_var(pid: u32, key: &str) -> Option<String> {
    let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{key}=");
    environ
        .split(|b| *b == 0)
        .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .map(|value| String::from_utf8_lossy(value).into_owned())
}

/// True when the process's initial environment holds `key=value`.
pub fn has_env(pid: u32, key: &str, value: &str) -> bool {
    env_var(pid, key).is_some_and(|v| v == value)
}

/// Every pid in /proc at this moment.
pub fn pids() -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// True when `pid` runs and is not a zombie.
pub fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|s| !s.zombie)
}

/// Live (non-zombie) processes whose process group is `pgrp`.
pub fn group_members(pgrp: i32) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|pid| matches!(stat(*pid), Some(s) if s.pgrp == pgrp && !s.zombie))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_name_with_spaces_and_parentheses() {
        let line = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                pgrp: 4242,
                start_time: 987654,
                zombie: false
            })
        );
    }

    #[test]
    fn recognises_a_zombie_and_rejects_a_short_line() {
        let line = "7 (x) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0";
        assert!(parse_stat(line).is_some_and(|s| s.zombie));
        assert_eq!(parse_stat("7 (x) S 1"), None);
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let stat = stat(me).expect("own stat");
        assert!(stat.start_time > 0 && !stat.zombie);
        assert!(!has_env(me, "MSBD_SURELY_NOT_SET", "x"));
    }
}
