//! Identities: the daemon instance's (kept in its state dir, so a restarted daemon knows its
//! predecessor's sandboxes), generated session and sandbox names, and what a session id may be.

use std::io::Read;
use std::path::Path;

const INSTANCE_FILE: &str = "instance-id";

/// Random lowercase hex from the kernel's generator.
pub fn random_hex(bytes: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Reads the instance id from the state dir, creating it on first start.
pub fn instance_id(state_dir: &Path) -> std::io::Result<String> {
    let path = state_dir.join(INSTANCE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if is_hex_id(text.trim()) => Ok(text.trim().to_string()),
        Ok(_) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} does not hold an instance id; restore it or remove the state dir",
                path.display()
            ),
        )),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let id = random_hex(16)?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, format!("{id}\n"))?;
            std::fs::rename(&tmp, &path)?;
            Ok(id)
        }
        Err(err) => Err(err),
    }
}

fn is_hex_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

pub const SESSION_ID_RULE: &str =
    "1 to 64 characters of letters, digits, '.', '_' or '-', not starting with '.' or '-'";

/// Session ids end up in file names and process environments, so they are kept plain.
pub fn valid_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with(['.', '-'])
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_id_rules() {
        assert!(valid_session_id("job-42.a_b"));
        assert!(!valid_session_id(""));
        assert!(!valid_session_id("-x"));
        assert!(!valid_session_id("../etc"));
        assert!(!valid_session_id("a b"));
        assert!(!valid_session_id(&"x".repeat(65)));
    }

    #[test]
    fn instance_id_is_created_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = instance_id(dir.path()).expect("create");
        assert!(is_hex_id(&first));
        assert_eq!(instance_id(dir.path()).expect("read"), first);
        std::fs::write(dir.path().join(INSTANCE_FILE), "garbage").expect("write");
        assert!(instance_id(dir.path()).is_err());
    }
}
