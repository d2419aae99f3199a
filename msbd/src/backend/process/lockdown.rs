//! The last fence, put up right before a sandboxed command is exec'd (the sandbox's own
//! command and every command run in it later): a bounding set reduced to Docker's default
//! capabilities, the change to the sandbox's ordinary user (which leaves no capability at
//! all) unless the template runs its commands as root, `no_new_privs`, and a seccomp filter
//! in the spirit of Docker's default profile. It comes last because the keeper itself still
//! needs what it takes away (mounting /proc, entering namespaces, chroot for copies); the
//! exec that follows is allowed.
//!
//! The filter denies with EPERM rather than killing, so that programs probing for a
//! feature (an `unshare`, a `mount`) see an ordinary refusal and carry on.

use nix::libc;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub(super) enum LockdownError {
    #[error("set no_new_privs: {0}")]
    NoNewPrivs(nix::Error),
    #[error("read the capabilities: {0}")]
    ReadCapabilities(nix::Error),
    #[error("drop capability {cap} from the bounding set: {source}")]
    DropBounding { cap: u32, source: nix::Error },
    #[error("clear the inheritable and ambient capabilities: {0}")]
    ClearInheritable(nix::Error),
    #[error("become the sandbox's user: {0}")]
    User(String),
    #[error("seccomp filters are not built for this architecture")]
    UnknownArchitecture,
    #[error("build the seccomp filter: {0}")]
    Build(#[from] seccompiler::BackendError),
    #[error("install the seccomp filter: {0}")]
    Install(#[from] seccompiler::Error),
}

/// The architecture the filter is built for: the one msbd was built for.
#[cfg(target_arch = "x86_64")]
const ARCH: Option<TargetArch> = Some(TargetArch::x86_64);
#[cfg(target_arch = "aarch64")]
const ARCH: Option<TargetArch> = Some(TargetArch::aarch64);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCH: Option<TargetArch> = None;

/// Whether this host can filter system calls: seccomp filters that answer with an errno,
/// on an architecture msbd builds filters for. Asked once, at start-up.
pub(super) fn seccomp_available() -> bool {
    ARCH.is_some()
        && std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail")
            .is_ok_and(|actions| actions.split_whitespace().any(|a| a == "errno"))
}

/// Applies every layer to this process, which is about to exec the sandboxed command: as
/// the sandbox's ordinary user with `as_user`; with `seccomp` false (the daemon found the
/// host without it), the filter is left out.
pub(super) fn lock_down(seccomp: bool, as_user: bool) -> Result<(), LockdownError> {
    // The bounding set first: only root inside may still reduce it.
    drop_capabilities()?;
    if as_user {
        super::identity::become_user().map_err(LockdownError::User)?;
    }
    nix::sys::prctl::set_no_new_privs().map_err(LockdownError::NoNewPrivs)?;
    if seccomp {
        for filter in filters()? {
            seccompiler::apply_filter(&filter)?;
        }
    }
    Ok(())
}

/// Docker's default capabilities, less MKNOD and SYS_CHROOT, whose calls are refused anyway
/// (device nodes by the user namespace, chroot by the filter).
const KEPT: [u32; 12] = [
    0,  // CHOWN
    1,  // DAC_OVERRIDE
    3,  // FOWNER
    4,  // FSETID
    5,  // KILL
    6,  // SETGID
    7,  // SETUID
    8,  // SETPCAP
    10, // NET_BIND_SERVICE
    13, // NET_RAW
    29, // AUDIT_WRITE
    31, // SETFCAP
];

/// The kernel's capability structures, for capget and capset (version 3: two words).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Reduces the bounding set to `KEPT` and empties the inheritable and ambient sets, so that
/// the exec grants root inside the sandbox only the kept capabilities.
fn drop_capabilities() -> Result<(), LockdownError> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget fills the two version-3 words it is given.
    let res = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    nix::errno::Errno::result(res).map_err(LockdownError::ReadCapabilities)?;
    // A process with no capability cannot gain one through exec under no_new_privs, so its
    // bounding set does not matter (and it may not change it).
    if data.iter().any(|d| d.permitted != 0) {
        // The kernel's last capability is the first the bounding set does not know.
        for cap in (0..64).filter(|cap| !KEPT.contains(cap)) {
            // SAFETY: prctl with these arguments reads nothing of ours.
            let res = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
            match nix::errno::Errno::result(res) {
                Ok(_) => {}
                Err(nix::Error::EINVAL) => break,
                Err(source) => return Err(LockdownError::DropBounding { cap, source }),
            }
        }
    }
    for word in &mut data {
        word.inheritable = 0;
    }
    // SAFETY: capset reads the header and the two words above.
    let res = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    nix::errno::Errno::result(res).map_err(LockdownError::ClearInheritable)?;
    // SAFETY: prctl with these arguments reads nothing of ours.
    let res = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    nix::errno::Errno::result(res).map_err(LockdownError::ClearInheritable)?;
    Ok(())
}

/// System calls refused outright: they reach parts of the kernel a sandbox has no business
/// with (mounts, modules, kexec, keys, tracing other processes, the clock, swap, raw I/O),
/// or make namespaces, which the sandbox already has and which widen what it can reach.
const DENIED: &[libc::c_long] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_kcmp,
    libc::SYS_pidfd_getfd,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_syslog,
    libc::SYS_quotactl,
    libc::SYS_quotactl_fd,
    libc::SYS_lookup_dcookie,
    libc::SYS_vhangup,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
];

/// Flags that make `clone` create namespaces.
const NAMESPACE_FLAGS: [libc::c_int; 7] = [
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
];

/// The personas Docker allows: Linux, its 32-bit variant, and the queries.
const PERSONAS: [u64; 4] = [0x0, 0x8, 0x20000, 0xffff_ffff];

/// The filters, in the order they are installed: what answers EPERM, then `clone3`, which
/// answers ENOSYS because its flags lie in a struct a filter cannot read; glibc then falls
/// back to `clone`, whose flags the first filter checks.
fn filters() -> Result<[BpfProgram; 2], LockdownError> {
    let arch = ARCH.ok_or(LockdownError::UnknownArchitecture)?;
    let mut denied: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&call| (call, Vec::new())).collect();
    // Any namespace flag set in clone's first argument, whatever the others.
    let clone = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            let flag = u64::from(flag.unsigned_abs());
            let masked = SeccompCmpOp::MaskedEq(flag);
            SeccompRule::new(vec![SeccompCondition::new(
                0,
                SeccompCmpArgLen::Dword,
                masked,
                flag,
            )?])
        })
        .collect::<Result<_, _>>()?;
    denied.insert(libc::SYS_clone, clone);
    // Any persona but the ones allowed: every condition of a rule must hold.
    let personality = PERSONAS
        .iter()
        .map(|&persona| {
            SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, persona)
        })
        .collect::<Result<_, _>>()?;
    denied.insert(libc::SYS_personality, vec![SeccompRule::new(personality)?]);
    let eperm = SeccompFilter::new(
        denied,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )?;
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )?;
    Ok([eperm.try_into()?, clone3.try_into()?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_build_for_this_architecture() {
        if ARCH.is_some() {
            let filters = filters().expect("filters");
            assert!(filters.iter().all(|f| !f.is_empty()));
        }
    }

    #[test]
    fn no_kept_capability_is_a_dangerous_one() {
        // SYS_ADMIN, SYS_MODULE, SYS_PTRACE, SYS_RAWIO, SYS_TIME, MKNOD, NET_ADMIN, ...
        for dangerous in [21, 16, 19, 17, 25, 27, 12, 24, 22, 18] {
            assert!(!KEPT.contains(&dangerous), "{dangerous}");
        }
    }
}
