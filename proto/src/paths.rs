//! Where the daemon's socket lives when nobody says otherwise. Shared by `msbd` and every
//! client, so both sides agree without reading any file.

use std::path::PathBuf;

/// File name of the socket inside the runtime directory.
pub const SOCKET_FILE: &str = "msbd.sock";

/// Root gets `/run/msbd/msbd.sock`; other users their XDG runtime dir, or a per-user
/// directory under the temporary dir when they have none.
pub fn default_socket() -> PathBuf {
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        return PathBuf::from("/run/msbd").join(SOCKET_FILE);
    }
    directories::ProjectDirs::from("", "", "msbd")
        .and_then(|dirs| dirs.runtime_dir().map(|d| d.to_path_buf()))
        .unwrap_or_else(|| std::env::temp_dir().join(format!("msbd-{uid}")))
        .join(SOCKET_FILE)
}
