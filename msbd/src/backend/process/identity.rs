//! Who is who inside an isolated sandbox: root (uid 0) and an ordinary user (`USER`, uid
//! and gid `USER_ID`), each mapped to a host uid of its own; nothing else is mapped. The
//! keeper, still in the host's namespaces, writes the maps; processes inside take one of
//! the two identities.

use nix::unistd::{setresgid, setresuid, Gid, Pid, Uid};

/// The sandbox's ordinary user, who runs its commands unless the template asks for root.
pub const USER: &str = "sandbox";
pub const USER_ID: u32 = 1000;

/// Maps root inside `child`'s user namespace to host `uid` and `gid`, and, with `user`, the
/// sandbox's user to that host id (as uid and gid).
pub(super) fn map(child: Pid, uid: u32, gid: u32, user: Option<u32>) -> Result<(), String> {
    let write = |file: &str, text: String| {
        let path = format!("/proc/{child}/{file}");
        std::fs::write(&path, text).map_err(|e| format!("write {path}: {e}"))
    };
    let line = |root: u32| match user {
        Some(user) => format!("0 {root} 1\n{USER_ID} {user} 1\n"),
        None => format!("0 {root} 1\n"),
    };
    // Supplementary groups stay as they are (none): nobody inside may change them.
    write("setgroups", "deny".into())?;
    write("uid_map", line(uid))?;
    write("gid_map", line(gid))
}

/// Becomes root of the user namespace this process is in, which is the host identity its
/// map names; full capabilities there, none outside.
pub(super) fn become_root() -> Result<(), String> {
    take_id(0)
}

/// Becomes the sandbox's ordinary user. Leaving uid 0 clears the permitted, effective and
/// ambient capabilities (nothing here keeps them), so what it execs has none.
pub(super) fn become_user() -> Result<(), String> {
    take_id(USER_ID)
}

fn take_id(id: u32) -> Result<(), String> {
    let (gid, uid) = (Gid::from_raw(id), Uid::from_raw(id));
    setresgid(gid, gid, gid).map_err(|e| format!("setresgid {id}: {e}"))?;
    setresuid(uid, uid, uid).map_err(|e| format!("setresuid {id}: {e}"))
}
