//! Who may talk to msbd, as the kernel says (SO_PEERCRED): root, msbd's own uid, and members
//! of `--socket-group`. Sandboxed code runs as uids that are none of these. Each uid may hold
//! a bounded number of connections, so that one user's idle connections cannot lock the
//! others out.

use msb_proto::{ErrorBody, ErrorCode};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The group whose members may use the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketGroup {
    pub name: String,
    pub gid: u32,
}

/// What the kernel says about a connecting process.
#[derive(Debug, Clone, Default)]
pub struct Creds {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub pid: Option<i32>,
    /// Its supplementary groups, where the kernel told them.
    pub groups: Option<Vec<u32>>,
}

pub struct Admission {
    own_uid: u32,
    group: Option<SocketGroup>,
    /// A reload may change it; connections already open stay.
    per_uid: AtomicUsize,
    open: Mutex<HashMap<u32, usize>>,
    /// Connections admitted and refused since start, for the metrics.
    admitted: AtomicU64,
    refused: AtomicU64,
}

/// Connections: open now, admitted and refused since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Connections {
    pub open: u64,
    pub admitted: u64,
    pub refused: u64,
}

/// An admitted connection; its uid's count goes down when it is dropped.
pub struct Ticket {
    admission: Arc<Admission>,
    uid: u32,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.admission.open();
        if let Some(count) = open.get_mut(&self.uid) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.uid);
            }
        }
    }
}

impl Admission {
    pub fn new(group: Option<SocketGroup>, per_uid: usize) -> Arc<Self> {
        Arc::new(Self {
            own_uid: nix::unistd::geteuid().as_raw(),
            group,
            per_uid: AtomicUsize::new(per_uid),
            open: Mutex::new(HashMap::new()),
            admitted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// Takes a reload's limit for connections admitted from now on.
    pub fn set_per_uid(&self, per_uid: usize) {
        self.per_uid.store(per_uid, Ordering::Relaxed);
    }

    pub fn connections(&self) -> Connections {
        Connections {
            open: self.open().values().map(|&n| n as u64).sum(),
            admitted: self.admitted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u32, usize>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection, or says why not in words that name the uid and the rule.
    pub fn admit(self: &Arc<Self>, creds: &Creds) -> Result<Ticket, ErrorBody> {
        let admitted = self.decide(creds);
        let counter = match admitted {
            Ok(_) => &self.admitted,
            Err(_) => &self.refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        admitted
    }

    fn decide(self: &Arc<Self>, creds: &Creds) -> Result<Ticket, ErrorBody> {
        let Some(uid) = creds.uid else {
            return Err(ErrorBody::new(
                ErrorCode::PermissionDenied,
                "the kernel did not say who is connecting; msbd admits only known users",
            ));
        };
        if !self.allowed(uid, creds) {
            return Err(ErrorBody::new(
                ErrorCode::PermissionDenied,
                format!(
                    "permission denied: uid {uid} may not use msbd; {}",
                    self.rule()
                ),
            ));
        }
        let mut open = self.open();
        let count = open.entry(uid).or_default();
        let per_uid = self.per_uid.load(Ordering::Relaxed);
        if *count >= per_uid {
            return Err(ErrorBody::new(
                ErrorCode::LimitReached,
                format!(
                    "uid {uid} already has {count} connections open to msbd, its limit is {per_uid} (msbd --max-connections-per-uid)"
                ),
            ));
        }
        *count += 1;
        Ok(Ticket {
            admission: self.clone(),
            uid,
        })
    }

    fn allowed(&self, uid: u32, creds: &Creds) -> bool {
        if uid == 0 || uid == self.own_uid {
            return true;
        }
        let Some(group) = &self.group else {
            return false;
        };
        creds.gid == Some(group.gid)
            || creds
                .groups
                .as_ref()
                .is_some_and(|groups| groups.contains(&group.gid))
            || creds
                .pid
                .is_some_and(|pid| proc_groups(pid).contains(&group.gid))
            || named_member(uid, group)
    }

    /// The rule, for refusals.
    fn rule(&self) -> String {
        let own = if self.own_uid == 0 {
            String::new()
        } else {
            format!(", uid {} (msbd's own)", self.own_uid)
        };
        match &self.group {
            Some(group) => format!(
                "admitted are root{own} and members of group {} (msbd --socket-group)",
                group.name
            ),
            None => format!(
                "admitted are root{own}; msbd --socket-group GROUP admits that group's members"
            ),
        }
    }
}

/// The supplementary groups of process `pid`, from /proc.
fn proc_groups(pid: i32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Groups:"))
                .map(|groups| {
                    groups
                        .split_whitespace()
                        .filter_map(|g| g.parse().ok())
                        .collect()
                })
        })
        .unwrap_or_default()
}

/// True when the user `uid` is listed as a member of `group` in the group database.
fn named_member(uid: u32, group: &SocketGroup) -> bool {
    let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) else {
        return false;
    };
    matches!(
        nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(group.gid)),
        Ok(Some(g)) if g.mem.contains(&user.name)
    )
}

/// Looks a group up by name (or number), for `--socket-group`.
pub fn socket_group(name: &str) -> Result<SocketGroup, String> {
    let found = match name.parse::<u32>() {
        Ok(gid) => nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid)),
        Err(_) => nix::unistd::Group::from_name(name),
    };
    match found {
        Ok(Some(group)) => Ok(SocketGroup {
            name: group.name,
            gid: group.gid.as_raw(),
        }),
        Ok(None) => Err("no such group on this host".into()),
        Err(err) => Err(format!("cannot look the group up: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(uid: u32, gid: u32) -> Creds {
        Creds {
            uid: Some(uid),
            gid: Some(gid),
            pid: None,
            groups: None,
        }
    }

    #[test]
    fn root_and_the_group_are_admitted_and_others_told_the_rule() {
        let open = Admission::new(
            Some(SocketGroup {
                name: "ops".into(),
                gid: 4242,
            }),
            2,
        );
        assert!(open.admit(&creds(0, 0)).is_ok());
        assert!(open.admit(&creds(1234, 4242)).is_ok());
        let refused = open.admit(&creds(1235, 100)).err().expect("refused");
        assert_eq!(refused.code, ErrorCode::PermissionDenied);
        assert!(refused.message.contains("uid 1235") && refused.message.contains("ops"));
        assert!(Admission::new(None, 2).admit(&creds(1234, 4242)).is_err());
    }

    #[test]
    fn each_uid_holds_a_bounded_number_of_connections() {
        let admission = Admission::new(None, 2);
        let first = admission.admit(&creds(0, 0)).expect("first");
        let _second = admission.admit(&creds(0, 0)).expect("second");
        let third = admission.admit(&creds(0, 0)).err().expect("over the cap");
        assert_eq!(third.code, ErrorCode::LimitReached);
        drop(first);
        assert!(admission.admit(&creds(0, 0)).is_ok(), "a slot freed");
    }
}
