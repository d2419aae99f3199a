//! The backends the suite runs against, and how msbd is started on each. `msb` is the real
//! binary that `tests/msb/install.sh` unpacks into the target directory, run with an
//! `MSB_HOME` of its own, so that a test sees only its own sandboxes and leaves none.

use msb_tests::Daemon;
pub use msb_tests::Listed;
use std::process::Command;
use std::sync::OnceLock;

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
        let real = msb_tests::Msb::real()?;
        match doctor(&real) {
            Ok(()) => Some(Self::Msb(Msb {
                real,
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
                let template = format!("default=image:{}", msb.image);
                let mut all = vec!["--template", template.as_str()];
                all.extend_from_slice(args);
                msb.real.daemon_command(daemon, &all)
            }
        }
    }
}

/// Whether this host can boot microVMs, by `msb doctor`'s own verdict, asked once.
fn doctor(msb: &msb_tests::Msb) -> Result<(), String> {
    static VERDICT: OnceLock<Result<(), String>> = OnceLock::new();
    VERDICT
        .get_or_init(|| match msb.doctor_errors() {
            None => Ok(()),
            Some(errors) => Err(format!("msb doctor fails here: {}", errors.join("; "))),
        })
        .clone()
}

/// The real `msb`, with a home of its own, and the image sandboxes are made from.
pub struct Msb {
    real: msb_tests::Msb,
    pub image: String,
}

impl Msb {
    /// Runs `msb ARGS` in this home; its stdout, or a panic with its exit code and stderr.
    pub fn run(&self, args: &[&str]) -> String {
        let run = self.real.run(args);
        assert_eq!(run.code, 0, "msb {args:?}: {run:?}");
        run.stdout
    }

    /// The sandboxes carrying every one of `labels` (`KEY=VALUE`).
    pub fn list(&self, labels: &[String]) -> Vec<Listed> {
        self.real.list(labels)
    }

    /// Creates a sandbox named `name` from the test image with `labels`, outside msbd.
    pub fn create(&self, name: &str, labels: &[String]) {
        let run = self.real.create(&self.image, name, labels);
        assert_eq!(run.code, 0, "msb create {name}: {run:?}");
    }
}
