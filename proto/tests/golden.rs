//! Golden bytes: the frame of every sample message is pinned in `golden.txt`, so that a
//! change to the encoding cannot ship without a bump of `msb_proto::PROTOCOL`.

mod common;

use common::{samples, snake_case, variants, Sample};
use msb_proto::*;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden.txt");
const REGENERATE: &str = "MSB_UPDATE_GOLDEN=1 cargo test -p msb-proto --test golden";

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        write!(out, "{byte:02x}").expect("writing to a String cannot fail");
    }
    out
}

fn family<T: DeserializeOwned>(name: &'static str) -> (&'static str, &'static [&'static str]) {
    (name, variants::<T>())
}

#[test]
fn every_variant_has_a_sample() {
    let samples = samples();
    let mut names = BTreeSet::new();
    for sample in &samples {
        assert!(
            names.insert(sample.name.as_str()),
            "two samples are named {}",
            sample.name
        );
    }
    assert!(names.contains("hello"), "no sample for Hello");

    // serde's variant lists cannot go stale, unlike a list kept by hand.
    let families = [
        family::<Request>("request"),
        family::<Response>("response"),
        family::<HandshakeReply>("handshake"),
        family::<TaskSelection>("task_selection"),
        family::<ErrorCode>("error_code"),
        family::<TaskState>("task_state"),
        family::<Health>("health"),
        family::<CycleOutcome>("cycle_outcome"),
        family::<ActionResult>("action_result"),
        family::<Fault>("fault"),
        family::<Flavor>("flavor"),
        family::<SessionStatus>("session_status"),
        family::<StopOutcome>("stop_outcome"),
        family::<Fate>("fate"),
        family::<ExecCommand>("exec_command"),
        family::<ExecStdin>("exec_stdin"),
        family::<Input>("input"),
        family::<OutputMode>("output_mode"),
        family::<OutputStream>("output_stream"),
        family::<SettingSource>("setting_source"),
        family::<EventKind>("event_kind"),
    ];
    let mut expected = BTreeSet::from([String::from("hello")]);
    for (family, variants) in families {
        for variant in variants {
            let name = format!("{family}.{}", snake_case(variant));
            assert!(
                names.contains(name.as_str()),
                "no sample for {name}: add one to proto/tests/common/mod.rs (named by the \
                 variant in snake case) and regenerate with {REGENERATE}"
            );
            expected.insert(name);
        }
    }
    for name in names {
        assert!(
            expected.contains(name),
            "sample {name} names no variant of a wire enum: name it `family.variant`, the \
             variant in snake case"
        );
    }
}

#[test]
fn every_sample_decodes_back() {
    for Sample { name, message } in samples() {
        let frame = message.frame();
        let body = &frame[4..];
        let prefix = u32::from_be_bytes(frame[..4].try_into().expect("a 4-byte prefix"));
        assert_eq!(
            prefix as usize,
            body.len(),
            "{name}: the prefix is the body length"
        );
        let same = message
            .decodes_back(body)
            .unwrap_or_else(|e| panic!("{name} does not decode: {e}"));
        assert!(same, "{name} decodes to another value");
    }
}

#[test]
fn encodings_match_the_golden_file() {
    let current: Vec<(String, String)> = samples()
        .into_iter()
        .map(|sample| (sample.name, hex(&sample.message.frame())))
        .collect();

    if std::env::var("MSB_UPDATE_GOLDEN").as_deref() == Ok("1") {
        let mut text = format!("protocol {PROTOCOL}\n");
        for (name, hex) in &current {
            writeln!(text, "{name} {hex}").expect("writing to a String cannot fail");
        }
        std::fs::write(GOLDEN, text).expect("write tests/golden.txt");
        return;
    }

    let text = std::fs::read_to_string(GOLDEN)
        .unwrap_or_else(|e| panic!("cannot read {GOLDEN} ({e}): generate it with {REGENERATE}"));
    let mut lines = text.lines();
    let protocol: u32 = lines
        .next()
        .and_then(|line| line.strip_prefix("protocol "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!("{GOLDEN} must start with `protocol N`: regenerate with {REGENERATE}")
        });
    assert_eq!(
        protocol, PROTOCOL,
        "msb_proto::PROTOCOL was bumped from {protocol} to {PROTOCOL}, so the golden file is \
         out of date: regenerate it with {REGENERATE}"
    );
    let mut golden = BTreeMap::new();
    for line in lines {
        let (name, hex) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("malformed line in {GOLDEN}: {line:?}"));
        assert!(
            golden.insert(name, hex).is_none(),
            "{name} is twice in {GOLDEN}"
        );
    }

    // Every problem at once, so that one run says everything there is to fix.
    let mut changed = Vec::new();
    let mut added = Vec::new();
    for (name, now) in &current {
        match golden.remove(name.as_str()) {
            Some(was) if was == now => {}
            Some(was) => changed.push((name.as_str(), was, now)),
            None => added.push(name.as_str()),
        }
    }
    let removed: Vec<&str> = golden.into_keys().collect();
    let mut problems = Vec::new();
    if !changed.is_empty() {
        problems.push(format!(
            "the encoding of {} changed without a PROTOCOL bump: bump msb_proto::PROTOCOL \
             (bincode encodes by position, so a new field breaks older peers) and regenerate \
             with {REGENERATE}",
            changed
                .iter()
                .map(|(name, ..)| *name)
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for (name, was, now) in changed {
            problems.push(format!("  {name}\n    golden: {was}\n    now:    {now}"));
        }
    }
    if !added.is_empty() {
        problems.push(format!(
            "no golden encoding for {}: a variant added at the end of its enum keeps the \
             protocol, so regenerate with {REGENERATE}; anything else bumps \
             msb_proto::PROTOCOL first",
            added.join(", ")
        ));
    }
    if !removed.is_empty() {
        problems.push(format!(
            "golden encodings that no sample makes any more: {}; a removed variant breaks \
             older peers, so bump msb_proto::PROTOCOL and regenerate with {REGENERATE}; \
             after a renamed variant only regenerate, and a dropped sample goes back",
            removed.join(", ")
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
