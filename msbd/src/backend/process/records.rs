//! Which processes are which sandbox. Each sandbox leaves a record (`sandboxes/NAME.json`:
//! pid, start time and host uid) and carries the marker variables in its environment. A process counts
//! as one of ours only when its start time matches the record and its environment names this
//! daemon's instance, so a pid that was reused by an unrelated process is never signalled; a
//! sandbox whose record was lost is still found by the marker in /proc.

use crate::backend::{procfs, BackendError, SandboxInfo};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Environment variables that mark a sandbox as msbd's: which daemon instance, which session.
pub const MARK_INSTANCE: &str = "MSBD_INSTANCE";
pub const MARK_SESSION: &str = "MSBD_SESSION";
pub const MARK_SANDBOX: &str = "MSBD_SANDBOX";

/// Extension of a record being written; one left behind is debris.
pub(super) const PARTIAL: &str = "json.tmp";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Record {
    pub name: String,
    pub session_id: String,
    pub instance: String,
    pub pid: u32,
    pub start_time: u64,
    /// The host uid of the sandbox's root, when it has one of its own (records written
    /// before uids were given have none); its ordinary user's is the next.
    #[serde(default)]
    pub uid: Option<u32>,
    /// Its commands run as its ordinary user (sandboxes recorded before there was one ran
    /// them as root).
    #[serde(default)]
    pub as_user: bool,
    /// It shares the host's network.
    #[serde(default)]
    pub host_network: bool,
}

#[derive(Debug)]
pub(super) struct Records {
    pub dir: PathBuf,
    pub instance: String,
}

impl Records {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    pub fn read(&self, name: &str) -> Option<Record> {
        read(&self.path(name))
    }

    pub fn write(&self, record: &Record) -> Result<(), BackendError> {
        let path = self.path(&record.name);
        let tmp = path.with_extension(PARTIAL);
        let err = |source| BackendError::Record {
            name: record.name.clone(),
            path: path.display().to_string(),
            source,
        };
        let text = serde_json::to_vec(record).map_err(|e| err(e.into()))?;
        let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(err)
    }

    pub fn remove(&self, name: &str) {
        let _ = std::fs::remove_file(self.path(name));
        let _ = std::fs::remove_file(self.path(name).with_extension(PARTIAL));
    }

    /// True when the recorded leader is still the very process we started.
    pub fn leader_is_ours(&self, record: &Record) -> bool {
        record.instance == self.instance
            && matches!(procfs::stat(record.pid), Some(s) if s.start_time == record.start_time && !s.zombie)
            && procfs::has_env(record.pid, MARK_INSTANCE, &self.instance)
    }

    /// Live processes of group `pgrp` that carry sandbox `name`'s marker. Once the leader is
    /// gone its pid cannot be reused as a group id while members remain, and the marker
    /// confirms each member.
    pub fn members(&self, pgrp: i32, name: &str) -> Vec<u32> {
        procfs::group_members(pgrp)
            .into_iter()
            .filter(|pid| {
                procfs::has_env(*pid, MARK_INSTANCE, &self.instance)
                    && procfs::has_env(*pid, MARK_SANDBOX, name)
            })
            .collect()
    }

    /// Live processes anywhere that carry sandbox `name`'s marker: what commands run in a
    /// sandbox without a pid namespace left outside its group.
    pub fn marked(&self, name: &str) -> Vec<u32> {
        procfs::pids()
            .into_iter()
            .filter(|pid| {
                procfs::has_env(*pid, MARK_SANDBOX, name)
                    && procfs::has_env(*pid, MARK_INSTANCE, &self.instance)
                    && procfs::stat(*pid).is_some_and(|s| !s.zombie)
            })
            .collect()
    }

    /// Every sandbox of this instance found by the marker in its processes' environment,
    /// whether or not its record still exists. One entry a sandbox, with its process group.
    pub fn scan(&self) -> Vec<SandboxInfo> {
        let mut found: Vec<SandboxInfo> = Vec::new();
        for pid in procfs::pids() {
            if !procfs::has_env(pid, MARK_INSTANCE, &self.instance) {
                continue;
            }
            let (Some(stat), Some(name)) = (procfs::stat(pid), procfs::env_var(pid, MARK_SANDBOX))
            else {
                continue;
            };
            if stat.zombie || found.iter().any(|f| f.name == name) {
                continue;
            }
            found.push(SandboxInfo {
                session_id: procfs::env_var(pid, MARK_SESSION).unwrap_or_default(),
                name,
                pid: Some(stat.pgrp as u32),
            });
        }
        found
    }

    /// The process group of the running sandbox `name`: from its record, or, when the record
    /// is lost or its leader gone, from the marker in /proc.
    pub fn locate(&self, name: &str) -> Option<i32> {
        let record = self.read(name);
        match &record {
            Some(record) if self.leader_is_ours(record) => Some(record.pid as i32),
            _ => self.locate_without_leader(name, record.as_ref()),
        }
    }

    /// The process group of sandbox `name` whose first process is gone or not known: its
    /// marked members live on in the group of `record`, or the marker is found in /proc.
    pub fn locate_without_leader(&self, name: &str, record: Option<&Record>) -> Option<i32> {
        if let Some(record) = record {
            if !self.members(record.pid as i32, name).is_empty() {
                return Some(record.pid as i32);
            }
        }
        self.scan()
            .into_iter()
            .find(|found| found.name == name)
            .and_then(|found| found.pid)
            .map(|pgrp| pgrp as i32)
    }

    /// The record files, each with the sandbox it is about and whether it is a partial
    /// record; nothing is read. Files of other names are left out.
    pub fn files(&self) -> Result<Vec<RecordFile>, BackendError> {
        let dir = std::fs::read_dir(&self.dir).map_err(|source| BackendError::List {
            path: self.dir.display().to_string(),
            source,
        })?;
        Ok(dir
            .flatten()
            .filter_map(|entry| RecordFile::of(entry.path()))
            .collect())
    }
}

/// A file in the records directory: `NAME.json`, or `NAME.json.tmp` while being written.
#[derive(Debug)]
pub(super) struct RecordFile {
    pub path: PathBuf,
    pub name: String,
    pub partial: bool,
}

impl RecordFile {
    fn of(path: PathBuf) -> Option<Self> {
        let file = path.file_name()?.to_str()?;
        let (name, partial) = match file.strip_suffix(&format!(".{PARTIAL}")) {
            Some(name) => (name.to_string(), true),
            None => (file.strip_suffix(".json")?.to_string(), false),
        };
        Some(Self {
            path,
            name,
            partial,
        })
    }
}

fn read(path: &Path) -> Option<Record> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_file_names_its_sandbox_and_says_whether_it_is_partial() {
        let of = |file: &str| {
            RecordFile::of(Path::new("sandboxes").join(file)).map(|f| (f.name, f.partial))
        };
        assert_eq!(of("msb-a-1.json"), Some(("msb-a-1".into(), false)));
        assert_eq!(of("msb-a-1.json.tmp"), Some(("msb-a-1".into(), true)));
        assert_eq!(of("notes.txt"), None);
    }
}
