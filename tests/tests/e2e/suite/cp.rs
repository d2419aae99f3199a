//! Files in and out of a session's sandbox with `sessions cp`, and nowhere else.

use super::{Backend, Rig};

pub fn files_are_copied_in_and_out_and_stay_inside_the_sandbox(backend: &Backend) {
    let rig = Rig::with_session(backend, &[], "w7");
    let local = rig.dir.path().join("local");
    std::fs::create_dir_all(local.join("tree/deep")).expect("mkdir");
    let big: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(local.join("big.bin"), &big).expect("write");
    std::fs::write(local.join("tree/deep/leaf.txt"), b"leaf").expect("write");
    let path = |p: &str| local.join(p).display().to_string();
    let ok = |args: &[&str]| {
        let run = rig.ctl(args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
    };
    ok(&["sessions", "cp", &path("big.bin"), "w7:big.bin"]);
    ok(&["sessions", "cp", "w7:big.bin", &path("back.bin")]);
    assert!(
        std::fs::read(local.join("back.bin")).expect("read") == big,
        "5 MiB round trip differs"
    );
    ok(&["sessions", "cp", &path("tree"), "w7:copied"]);
    let listed = rig.exec("w7", &[], &["cat", "copied/deep/leaf.txt"]);
    assert_eq!(listed.stdout, "leaf", "{listed:?}");
    ok(&["sessions", "cp", "w7:copied", &path("tree-back")]);
    assert_eq!(
        std::fs::read(local.join("tree-back/deep/leaf.txt")).expect("read"),
        b"leaf"
    );

    // Climbing out, absolute paths and symlinks that lead out all stay inside.
    let marker = format!("msb-copy-escape-{}", std::process::id());
    let host = std::path::Path::new("/etc").join(&marker);
    let run = rig.ctl(&[
        "sessions",
        "cp",
        &path("tree/deep/leaf.txt"),
        &format!("w7:../../etc/{marker}"),
    ]);
    eprintln!("copy to ../../etc: {run:?}");
    let run = rig.ctl(&[
        "sessions",
        "cp",
        &path("tree/deep/leaf.txt"),
        &format!("w7:/etc/{marker}"),
    ]);
    eprintln!("copy to /etc: {run:?}");
    let linked = rig.exec("w7", &[], &["ln", "-s", "/etc", "out"]);
    assert_eq!(linked.code, 0, "{linked:?}");
    let run = rig.ctl(&[
        "sessions",
        "cp",
        &path("tree/deep/leaf.txt"),
        &format!("w7:out/{marker}"),
    ]);
    eprintln!("copy through a symlink: {run:?}");
    assert!(
        !host.exists(),
        "a copy wrote {} on the host",
        host.display()
    );
    // In a jail or a VM /etc is the sandbox's own; without either, there is none in its files.
    let run = rig.ctl(&["sessions", "cp", "w7:/etc/passwd", &path("stolen")]);
    let host_passwd = std::fs::read(std::path::Path::new("/etc/passwd")).expect("read");
    let stolen = std::fs::read(local.join("stolen")).ok();
    assert!(
        stolen.is_none_or(|got| got != host_passwd),
        "the host's /etc/passwd was copied out: {run:?}"
    );
    let run = rig.ctl(&["sessions", "cp", &path("big.bin"), &path("also-local")]);
    assert_eq!(run.code, 2, "{run:?}");
    rig.finish();
}
