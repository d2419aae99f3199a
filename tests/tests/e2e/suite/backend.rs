//! The backends the suite runs against, and how msbd is started on each. `msb` is the real
//! binary that `tests/msb/install.sh` unpacks into the target directory, run with an
//! `MSB_HOME` of its own, so that a test sees only its own sandboxes and leaves none.

use msb_tests::{bin, Daemon};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use tempfile::TempDir;

/// The image the `msb` runs create their sandboxes from when `MSB_TEST_IMAGE` names none: small,
/// public, with a shell and the usual tools.
const DEFAULT_IMAGE: &str = "alpine:3.20";

pub enum Backend {
    Process,
    Msb(Msb),
}

impl Backend {
    pub fn process() -> Self {
        Self::Process
    }

    /// The `msb` backend, or `None`, having said why, where this host cannot run it.
    pub fn msb() -> Option<Self> {
        // The target directory, above the profile's (where `tests/msb/install.sh` puts it).
        let install = bin("msbd")
            .parent()
            .and_then(Path::parent)
            .expect("target directory")
            .join("msb");
        let path = install.join("bin").join("msb");
        let verdict = if path.exists() {
            doctor(&path)
        } else {
            Err(format!(
                "msb is not installed at {}: tests/msb/install.sh {} installs it",
                path.display(),
                install.display()
            ))
        };
        match verdict {
            Ok(()) => Some(Self::Msb(Msb {
                path,
                home: tempfile::tempdir().expect("tempdir for MSB_HOME"),
                image: std::env::var("MSB_TEST_IMAGE").unwrap_or_else(|_| DEFAULT_IMAGE.into()),
            })),
            Err(reason) => {
                eprintln!("skipped on the msb backend: {reason}");
                None
            }
        }
    }

    /// The msbd command for `daemon` with `args`, on this backend.
    pub fn command(&self, daemon: &Daemon, args: &[&str]) -> Command {
        match self {
            Self::Process => daemon.command(args),
            Self::Msb(msb) => {
                let path = msb.path.to_str().expect("msb's path is UTF-8");
                let template = format!("default=image:{}", msb.image);
                let mut all = vec![
                    "--backend",
                    "msb",
                    "--msb-path",
                    path,
                    "--template",
                    &template,
                ];
                all.extend_from_slice(args);
                let mut cmd = daemon.command(&all);
                cmd.env("MSB_HOME", msb.home.path());
                cmd
            }
        }
    }
}

/// Whether this host can boot microVMs, by `msb doctor`'s own verdict, asked once.
fn doctor(path: &Path) -> Result<(), String> {
    static VERDICT: OnceLock<Result<(), String>> = OnceLock::new();
    VERDICT
        .get_or_init(|| {
            let home = tempfile::tempdir().expect("tempdir for MSB_HOME");
            let output = Command::new(path)
                .arg("doctor")
                .env("MSB_HOME", home.path())
                .stdin(Stdio::null())
                .output()
                .expect("run msb doctor");
            if output.status.success() {
                return Ok(());
            }
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            Err(format!("msb doctor fails here: {}", reason(&text)))
        })
        .clone()
}

/// What `msb doctor` says is wrong: its `error:` lines with the hints under them, on one line.
fn reason(doctor: &str) -> String {
    let lines: Vec<&str> = doctor
        .lines()
        .map(str::trim)
        .skip_while(|line| !line.starts_with("error:"))
        .filter(|line| !line.is_empty())
        .collect();
    if lines.is_empty() {
        return doctor.trim().to_string();
    }
    lines.join(" ").replace("error: ", "")
}

/// The real `msb`, with a home of its own and the image sandboxes are made from.
pub struct Msb {
    path: PathBuf,
    home: TempDir,
    pub image: String,
}

/// One sandbox as `msb ls --format json` shows it.
pub struct Listed {
    pub name: String,
    pub status: String,
    pub created_at: String,
}

impl Listed {
    /// Not yet or no longer stopped: msb's `Stopped` and `Crashed` are what a dead one leaves.
    pub fn live(&self) -> bool {
        !matches!(self.status.as_str(), "Stopped" | "Crashed")
    }
}

impl Msb {
    /// Runs `msb ARGS` in this home; its stdout, or a panic with its exit code and stderr.
    pub fn run(&self, args: &[&str]) -> String {
        let output = Command::new(&self.path)
            .args(args)
            .env("MSB_HOME", self.home.path())
            .stdin(Stdio::null())
            .output()
            .expect("run msb");
        assert!(
            output.status.success(),
            "msb {args:?} exited {:?}: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The sandboxes carrying every one of `labels` (`KEY=VALUE`).
    pub fn list(&self, labels: &[String]) -> Vec<Listed> {
        let mut args = vec!["ls", "--format", "json"];
        for label in labels {
            args.extend(["--label", label]);
        }
        let out = self.run(&args);
        let listed: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("msb ls printed no JSON ({e}): {out}"));
        let field = |entry: &Value, name: &str| {
            entry[name]
                .as_str()
                .unwrap_or_else(|| panic!("msb ls: no {name} in {entry}"))
                .to_string()
        };
        listed
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| Listed {
                name: field(entry, "name"),
                status: field(entry, "status"),
                created_at: field(entry, "created_at"),
            })
            .collect()
    }

    /// Creates a sandbox named `name` from the test image with `labels`, outside msbd.
    pub fn create(&self, name: &str, labels: &[String]) {
        let mut args = vec!["create", self.image.as_str(), "-n", name, "-q"];
        for label in labels {
            args.extend(["--label", label]);
        }
        self.run(&args);
    }
}

impl Drop for Msb {
    /// Whatever a failed test left in this home goes with it.
    fn drop(&mut self) {
        let Ok(output) = Command::new(&self.path)
            .args(["ls", "--quiet"])
            .env("MSB_HOME", self.home.path())
            .stdin(Stdio::null())
            .output()
        else {
            return;
        };
        let names = String::from_utf8_lossy(&output.stdout).into_owned();
        let names: Vec<&str> = names.split_whitespace().collect();
        if !names.is_empty() {
            let _ = Command::new(&self.path)
                .args(["rm", "-f", "-q"])
                .args(&names)
                .env("MSB_HOME", self.home.path())
                .stdin(Stdio::null())
                .status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reason;

    #[test]
    fn doctors_reason_is_its_error_and_hints() {
        let doctor = "  ✓ KVM device          /dev/kvm\n\
                      warn: MSB_HOME does not support reflink clones\n\
                      error: CPU virtualization is not available\n  \
                      → no vmx (Intel) or svm (AMD) flag in /proc/cpuinfo\n";
        assert_eq!(
            reason(doctor),
            "CPU virtualization is not available → no vmx (Intel) or svm (AMD) flag in /proc/cpuinfo"
        );
        assert_eq!(reason("  something else\n"), "something else");
    }
}
