//! What looks like one of msbd's sandboxes without being one, for the orphan tests: it must
//! outlive every cycle of `orphan-cleanup`.

use super::backend::{Backend, Msb};
use super::Rig;
use msb_tests::{procfs, Bystander};

pub enum Lookalikes<'a> {
    /// Unrelated processes behind forged records: one whose start time does not match (a
    /// reused pid), one whose start time matches but that carries no marker.
    Processes {
        reused: Bystander,
        unmarked: Bystander,
    },
    /// Sandboxes of the same msb: one without labels, one labelled for another instance.
    Vms { msb: &'a Msb, names: [String; 2] },
}

impl<'a> Lookalikes<'a> {
    pub fn make(rig: &Rig<'a>) -> Self {
        match rig.backend() {
            Backend::Process => {
                let reused = Bystander::start();
                let unmarked = Bystander::start();
                let start_of = |pid| procfs::stat(pid).expect("stat").start_time;
                forge_record(
                    rig,
                    "msb-reused-000000",
                    reused.pid(),
                    start_of(reused.pid()) + 1,
                );
                forge_record(
                    rig,
                    "msb-unmarked-000000",
                    unmarked.pid(),
                    start_of(unmarked.pid()),
                );
                Self::Processes { reused, unmarked }
            }
            Backend::Msb(msb) => {
                let names = ["lookalike-unlabelled", "lookalike-other-instance"].map(String::from);
                msb.create(&names[0], &[]);
                msb.create(
                    &names[1],
                    &[
                        "msbd.instance=0123456789abcdef-another".to_string(),
                        "msbd.session=left-behind".to_string(),
                    ],
                );
                Self::Vms { msb, names }
            }
        }
    }

    pub fn assert_untouched(&self) {
        match self {
            Self::Processes { reused, unmarked } => {
                assert!(procfs::alive(reused.pid()), "a reused pid was signalled");
                assert!(
                    procfs::alive(unmarked.pid()),
                    "an unmarked process was signalled"
                );
            }
            Self::Vms { msb, names } => {
                let listed = msb.list(&[]);
                for name in names {
                    assert!(
                        listed.iter().any(|l| &l.name == name && l.live()),
                        "{name} was stopped"
                    );
                }
            }
        }
    }
}

/// Writes a sandbox record naming `pid`, as a record left behind before the pid was reused.
fn forge_record(rig: &Rig, name: &str, pid: u32, start_time: u64) {
    let record = serde_json::json!({
        "name": name,
        "session_id": name,
        "instance": rig.instance(),
        "pid": pid,
        "start_time": start_time,
    });
    std::fs::write(
        rig.state.join("sandboxes").join(format!("{name}.json")),
        record.to_string(),
    )
    .expect("write record");
}
