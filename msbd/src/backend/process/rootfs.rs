//! The root filesystem of an isolated sandbox, assembled by its pid 1 inside the sandbox's
//! own user and mount namespaces and entered with `pivot_root`, as bubblewrap does: the
//! host's system directories read-only, a minimal `/etc` written for the sandbox, its working
//! directory at `/work`, a size-limited `/tmp`, its own `/proc` and a minimal `/dev`, and the
//! host paths its template's options bind in on purpose. Nothing else of the host (msbd's
//! state and socket, other sandboxes, `/root`, `/home`, secrets in `/etc`) exists inside.
//! Every mount lives in the sandbox's mount namespace and goes with it: nothing is left on
//! the host.
//!
//! The root, `/tmp`, `/dev` and `/dev/shm` are one tmpfs, each of the last three a writable
//! mount of its own directory in it: every file system is a kernel object that each removal
//! of a memory cgroup on the host walks (its shrinker and caches), so a sandbox makes as few
//! as it can, three with `/proc` and `/dev/pts`.

use super::identity::{USER, USER_ID};
use crate::template_options::Mount;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};
use nix::unistd::{chdir, pivot_root};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Where the sandbox's working directory appears inside, its commands' start and `HOME`.
pub const WORK: &str = "/work";
/// The size of the sandbox's tmpfs: `/tmp` and `/dev/shm` share it, beside the few files
/// of its root.
pub const TMP_LIMIT_MB: u64 = 64;
/// Where the new root is assembled before it becomes `/`: a tmpfs mounted over the host's
/// `/tmp`, in the sandbox's mount namespace only.
const STAGING: &str = "/tmp";
/// Host directories of programs and libraries, shared read-only (or, where they are
/// symbolic links, as on merged-usr hosts, recreated as the same links).
const SYSTEM: [&str; 7] = ["usr", "bin", "sbin", "lib", "lib64", "lib32", "opt"];
/// Host files of `/etc` a program needs and that tell no secret: copied.
const ETC_COPIED: [&str; 3] = ["resolv.conf", "nsswitch.conf", "ld.so.cache"];
/// Host directories of `/etc` shared read-only: the links behind `awk`, `editor`, ….
const ETC_SHARED: [&str; 1] = ["alternatives"];
/// Host devices shared into the sandbox's `/dev`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// What the new root is built from.
pub struct Plan<'a> {
    /// The sandbox's working directory, opened before pid 1 took the sandbox's identity (its
    /// path may be out of that user's reach); none for a probe.
    pub work: Option<&'a OwnedFd>,
    /// Host paths bound in by the template's options, each opened like `work`.
    pub mounts: &'a [(OwnedFd, &'a Mount)],
    pub hostname: &'a str,
}

/// Builds the sandbox's root and makes it `/`, leaving the current directory at `/work`
/// (or `/` without one).
pub fn enter(plan: &Plan) -> Result<(), String> {
    let staging = Path::new(STAGING);
    mount_fs(
        "tmpfs",
        staging,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        &format!("mode=0755,size={TMP_LIMIT_MB}m"),
    )?;
    for name in SYSTEM {
        share_system(&Path::new("/").join(name), &staging.join(name))?;
    }
    write_etc(&staging.join("etc"), plan.hostname)?;
    if let Some(work) = plan.work {
        let inside = mkdir(&staging.join(WORK.trim_start_matches('/')))?;
        let source = format!("/proc/self/fd/{}", work.as_raw_fd());
        bind(
            Path::new(&source),
            &inside,
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        )?;
    }
    writable_dir(&staging.join("tmp"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV)?;
    for (source, mount) in plan.mounts {
        bind_option(source, mount, staging)?;
    }
    mount_fs(
        "proc",
        &mkdir(&staging.join("proc"))?,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        "",
    )?;
    make_dev(&staging.join("dev"))?;
    // pivot_root(".", "."): the old root ends up stacked under the new one, and is detached
    // at once, so no path leads back to the host.
    chdir(staging).map_err(|e| format!("chdir {STAGING}: {e}"))?;
    pivot_root(".", ".").map_err(|e| format!("pivot_root: {e}"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| format!("detach the host's root: {e}"))?;
    chdir("/").map_err(|e| format!("chdir /: {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REMOUNT
            | MsFlags::MS_BIND
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|e| format!("make / read-only: {e}"))?;
    if plan.work.is_some() {
        chdir(WORK).map_err(|e| format!("chdir {WORK}: {e}"))?;
    }
    Ok(())
}

/// Binds a template option's host path (opened as `source`) at its place under `root`, made
/// as a directory or an empty file to match; read-only unless the option says `rw`.
fn bind_option(source: &OwnedFd, mount: &Mount, root: &Path) -> Result<(), String> {
    let target = mount.under(root);
    let failed = |e: std::io::Error| format!("mount {mount}: {e}");
    let is_dir = nix::sys::stat::fstat(source)
        .map(|st| st.st_mode & nix::libc::S_IFMT == nix::libc::S_IFDIR)
        .map_err(|e| failed(e.into()))?;
    if is_dir {
        std::fs::create_dir_all(&target).map_err(failed)?;
    } else {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        std::fs::File::create(&target).map_err(failed)?;
    }
    let flags = if mount.writable {
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV
    } else {
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV
    };
    let source = format!("/proc/self/fd/{}", source.as_raw_fd());
    bind(Path::new(&source), &target, flags)
}

/// Shares host directory `host` at `inside`, read-only; a symbolic link is made again.
fn share_system(host: &Path, inside: &Path) -> Result<(), String> {
    let Ok(meta) = std::fs::symlink_metadata(host) else {
        return Ok(());
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(host).map_err(|e| format!("{}: {e}", host.display()))?;
        return std::os::unix::fs::symlink(&target, inside)
            .map_err(|e| format!("link {}: {e}", inside.display()));
    }
    if meta.is_dir() {
        bind(
            host,
            &mkdir(inside)?,
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        )?;
    }
    Ok(())
}

/// A minimal `/etc`: the sandbox's own users (root and its ordinary user), groups, hosts and
/// hostname; a few host files that tell no secret.
fn write_etc(etc: &Path, hostname: &str) -> Result<(), String> {
    mkdir(etc)?;
    let files = [
        (
            "passwd",
            format!(
                "root:x:0:0:root:{WORK}:/bin/sh\n\
                 {USER}:x:{USER_ID}:{USER_ID}:{USER}:{WORK}:/bin/sh\n\
                 nobody:x:65534:65534:nobody:/:/usr/sbin/nologin\n"
            ),
        ),
        (
            "group",
            format!("root:x:0:\n{USER}:x:{USER_ID}:\nnogroup:x:65534:\n"),
        ),
        (
            "hosts",
            format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost\n"),
        ),
        ("hostname", format!("{hostname}\n")),
    ];
    for (name, text) in files {
        write(&etc.join(name), text.as_bytes())?;
    }
    for name in ETC_COPIED {
        if let Ok(bytes) = std::fs::read(Path::new("/etc").join(name)) {
            write(&etc.join(name), &bytes)?;
        }
    }
    for name in ETC_SHARED {
        let host = Path::new("/etc").join(name);
        if host.is_dir() {
            bind(
                &host,
                &mkdir(&etc.join(name))?,
                MsFlags::MS_RDONLY | MsFlags::MS_NODEV,
            )?;
        }
    }
    Ok(())
}

/// A directory of the root's tmpfs, sticky and writable by all, made a mount of its own with
/// `flags`, so it stays writable once the root is made read-only.
fn writable_dir(dir: &Path, flags: MsFlags) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    mkdir(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777))
        .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
    bind(dir, dir, flags)
}

/// A minimal `/dev`: the harmless host devices, the usual links, its own shared memory and
/// its own pseudo-terminals.
fn make_dev(dev: &Path) -> Result<(), String> {
    // `/dev/shm` first, from the root's mount: made inside `/dev`'s, it would be no-exec.
    writable_dir(
        &mkdir(dev)?.join("shm"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
    )?;
    // Its devices are bind mounts, which keep the host's flags: `/dev` itself needs none.
    // (The mount of `/dev/shm` comes along.)
    bind(
        dev,
        dev,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
    )?;
    for name in DEVICES {
        let host = Path::new("/dev").join(name);
        if !host.exists() {
            continue;
        }
        let inside = dev.join(name);
        write(&inside, b"")?;
        bind(&host, &inside, MsFlags::empty())?;
    }
    let links = [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ];
    for (name, target) in links {
        std::os::unix::fs::symlink(target, dev.join(name))
            .map_err(|e| format!("link /dev/{name}: {e}"))?;
    }
    mount_fs(
        "devpts",
        &mkdir(&dev.join("pts"))?,
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620",
    )
}

fn mkdir(path: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir(path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
    Ok(path.to_path_buf())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("write {}: {e}", path.display()))
}

fn mount_fs(kind: &str, at: &Path, flags: MsFlags, options: &str) -> Result<(), String> {
    mount(Some(kind), at, Some(kind), flags, Some(options))
        .map_err(|e| format!("mount {kind} at {}: {e}", at.display()))
}

/// Binds `source` at `target` with `flags` added to those the source's mount already has:
/// in a user namespace the kernel refuses a remount that would lift a flag the host set.
fn bind(source: &Path, target: &Path, flags: MsFlags) -> Result<(), String> {
    let failed = |e: nix::Error| format!("bind {} at {}: {e}", source.display(), target.display());
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(failed)?;
    if flags.is_empty() {
        return Ok(());
    }
    let kept = statvfs(target)
        .map(|s| host_flags(s.flags()))
        .map_err(failed)?;
    mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags | kept,
        None::<&str>,
    )
    .map_err(failed)
}

/// The mount flags a mount already has, as `statvfs` tells them.
fn host_flags(flags: FsFlags) -> MsFlags {
    let pairs = [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    pairs
        .into_iter()
        .filter(|(st, _)| flags.contains(*st))
        .fold(MsFlags::empty(), |all, (_, ms)| all | ms)
}
