//! The tar archives that copies into and out of sessions travel as, with the placement of
//! `docker cp`: a copy lands inside a destination that is an existing directory, and
//! otherwise becomes the destination itself. Both ends use these, msbd inside the sandbox
//! and the client on the host, so an archive is packed and unpacked the same way on both.
//!
//! Unpacking never writes outside its destination: entries with `..` or absolute paths are
//! refused by `tar`'s `unpack_in`, as are entries that would pass through a symlink that
//! leads out.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

/// Where an archive is unpacked before it takes its final name, beside the destination.
const STAGING: &str = ".msb-copy";

/// Writes `path` (a file, a symlink as itself, or a directory with everything under it) to
/// `out`, its top entry named after the path's last component.
pub fn pack(path: &Path, out: impl Write) -> io::Result<()> {
    let name = top_name(path);
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        builder.append_dir_all(&name, path)?;
    } else {
        builder.append_path_with_name(path, &name)?;
    }
    builder.into_inner()?.flush()
}

/// Unpacks an archive made by [`pack`] at `dest`: inside it when it is a directory,
/// otherwise as it. Returns the path of what was written.
pub fn unpack(input: impl Read, dest: &Path) -> io::Result<PathBuf> {
    if fs::metadata(dest).is_ok_and(|m| m.is_dir()) {
        let top = unpack_in(input, dest)?;
        return Ok(dest.join(top));
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !fs::metadata(&parent).is_ok_and(|m| m.is_dir()) {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("directory {} does not exist", parent.display()),
        ));
    }
    // Unpacked beside the destination first, then renamed: the archive's top entry takes
    // the destination's name in one step, and a failed copy leaves nothing half-named.
    let staging = parent.join(format!("{STAGING}-{}", std::process::id()));
    fs::create_dir(&staging)?;
    let placed = unpack_in(input, &staging).and_then(|top| {
        let from = staging.join(top);
        if fs::symlink_metadata(dest).is_ok_and(|m| !m.is_dir()) {
            fs::remove_file(dest)?;
        }
        fs::rename(from, dest)
    });
    let _ = fs::remove_dir_all(&staging);
    placed.map(|()| dest.to_path_buf())
}

/// Unpacks every entry inside `dir`; returns the name of the archive's top entry.
fn unpack_in(input: impl Read, dir: &Path) -> io::Result<PathBuf> {
    let mut archive = tar::Archive::new(input);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    let mut top: Option<PathBuf> = None;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let first = match path.components().next() {
            Some(Component::Normal(first)) => PathBuf::from(first),
            _ => return Err(refused(&path)),
        };
        match &top {
            None => top = Some(first),
            Some(top) if *top == first => {}
            Some(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the archive has more than one top entry",
                ))
            }
        }
        if !entry.unpack_in(dir)? {
            return Err(refused(&path));
        }
    }
    top.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "the archive is empty"))
}

fn refused(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the archive's entry {} would land outside the destination",
            path.display()
        ),
    )
}

/// The name a path's top entry gets: its last component, `root` for `/`.
pub fn top_name(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .next_back()
        .unwrap_or_else(|| "root".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) {
        fs::create_dir_all(root.join("src/deep")).expect("mkdir");
        fs::write(root.join("src/a.txt"), b"alpha").expect("write");
        fs::write(root.join("src/deep/b.bin"), [0u8, 1, 2, 255]).expect("write");
    }

    fn round_trip(src: &Path, dest: &Path) -> PathBuf {
        let mut archive = Vec::new();
        pack(src, &mut archive).expect("pack");
        unpack(archive.as_slice(), dest).expect("unpack")
    }

    #[test]
    fn a_directory_lands_inside_an_existing_directory_or_becomes_the_destination() {
        let tmp = tempfile::tempdir().expect("tempdir");
        tree(tmp.path());
        fs::create_dir(tmp.path().join("into")).expect("mkdir");
        let inside = round_trip(&tmp.path().join("src"), &tmp.path().join("into"));
        assert_eq!(inside, tmp.path().join("into/src"));
        assert_eq!(
            fs::read(inside.join("deep/b.bin")).expect("read"),
            [0, 1, 2, 255]
        );
        let renamed = round_trip(&tmp.path().join("src"), &tmp.path().join("copy"));
        assert_eq!(fs::read(renamed.join("a.txt")).expect("read"), b"alpha");
        let leftovers: Vec<_> = fs::read_dir(tmp.path())
            .expect("list")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(STAGING))
            .collect();
        assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
    }

    #[test]
    fn a_file_replaces_a_file_of_the_destinations_name() {
        let tmp = tempfile::tempdir().expect("tempdir");
        tree(tmp.path());
        fs::write(tmp.path().join("old"), b"old").expect("write");
        round_trip(&tmp.path().join("src/a.txt"), &tmp.path().join("old"));
        assert_eq!(fs::read(tmp.path().join("old")).expect("read"), b"alpha");
    }

    #[test]
    fn entries_that_climb_out_are_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut archive = Vec::new();
        {
            let mut builder = tar::Builder::new(&mut archive);
            let mut header = tar::Header::new_gnu();
            header.set_size(4);
            header.set_mode(0o644);
            // `set_path` refuses `..`, so the name is written raw, as a hostile archive would.
            header.as_old_mut().name[..11].copy_from_slice(b"../escaped\0");
            header.set_cksum();
            builder.append(&header, &b"evil"[..]).expect("append");
            builder.finish().expect("finish");
        }
        let dest = tmp.path().join("dest");
        fs::create_dir(&dest).expect("mkdir");
        assert!(unpack(archive.as_slice(), &dest).is_err());
        assert!(!tmp.path().join("escaped").exists());
    }
}
