//! Every decoder on hostile input: arbitrary bytes, and valid frames mutated (flipped bytes,
//! truncation, huge varint lengths, extreme length prefixes). A decoder must answer `Ok` or
//! `Err`, never panic, and never allocate more than `MAX_FRAME` at once.

mod common;

use msb_proto::frame::{decode, encode, read_frame};
use msb_proto::*;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};
use serde::{de::DeserializeOwned, Serialize};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::runtime::Runtime;

/// The system allocator, recording the largest single allocation made inside a decoder.
struct Counting;

/// The largest over all threads, for the report.
static LARGEST: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Per thread, so that each test judges only its own decoders: a failing test elsewhere
    // allocates freely (a panic's backtrace loads megabytes of debug info).
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    static THREAD_LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    // `try_with`, because the allocator also runs while thread-locals are torn down.
    if MEASURING.try_with(Cell::get).unwrap_or(false) {
        let _ = THREAD_LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
        LARGEST.fetch_max(size, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; `record` does not
// allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: `ptr` came from this allocator, which is the system one.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which is the system one.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` with its allocations recorded.
fn measured<R>(f: impl FnOnce() -> R) -> R {
    /// Stops recording even when `f` panics, so the panic's own allocations do not count.
    struct Stop;
    impl Drop for Stop {
        fn drop(&mut self) {
            MEASURING.set(false);
        }
    }
    MEASURING.set(true);
    let _stop = Stop;
    f()
}

/// Fails when a decoder on this thread allocated more than `MAX_FRAME` at once;
/// `read_frame` may allocate exactly a claimed length that is within the limit.
fn assert_allocations_bounded(test: &str, started: Instant) {
    let largest = THREAD_LARGEST.get();
    eprintln!(
        "{test}: {:.2?}, largest single allocation in its decoders {largest} bytes \
         (all tests so far: {})",
        started.elapsed(),
        LARGEST.load(Ordering::Relaxed)
    );
    assert!(
        largest <= MAX_FRAME,
        "a decoder allocated {largest} bytes at once, over MAX_FRAME ({MAX_FRAME})"
    );
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}

fn runner(cases: u32) -> TestRunner {
    // No regression files in the source tree: a failure prints its shrunk input instead.
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Decodes `body` as `T`. What decodes must re-encode, and re-encoding must be stable
/// (bytes, not values, are compared: a decoded `f64` may be NaN).
fn check_decode<T: Serialize + DeserializeOwned>(body: &[u8]) -> Result<(), TestCaseError> {
    let Ok(value) = measured(|| decode::<T>(body)) else {
        return Ok(());
    };
    let frame = encode(&value).map_err(|e| TestCaseError::fail(format!("re-encode: {e}")))?;
    let again = decode::<T>(&frame[4..])
        .map_err(|e| TestCaseError::fail(format!("decode of a re-encoding: {e}")))?;
    let frame_again = encode(&again).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(frame, frame_again);
    Ok(())
}

/// Reads one frame of `T` from `stream` and checks the answer against what the stream holds.
fn check_read<T: DeserializeOwned>(rt: &Runtime, stream: &[u8]) -> Result<(), TestCaseError> {
    let mut reader = stream;
    let got = measured(|| rt.block_on(read_frame::<_, T>(&mut reader, MAX_FRAME)));
    if stream.is_empty() {
        prop_assert!(matches!(got, Ok(None)), "an empty stream is a clean end");
        return Ok(());
    }
    let Some((prefix, rest)) = stream.split_first_chunk::<4>() else {
        prop_assert!(
            matches!(got, Err(FrameError::Truncated)),
            "a partial prefix"
        );
        return Ok(());
    };
    let len = u32::from_be_bytes(*prefix) as usize;
    if len > MAX_FRAME {
        prop_assert!(
            matches!(got, Err(FrameError::TooLarge { len: l, .. }) if l == len),
            "a length over the limit is refused"
        );
    } else if rest.len() < len {
        prop_assert!(matches!(got, Err(FrameError::Truncated)), "a short body");
    } else {
        // The frame is the first `len` bytes; what follows belongs to the next frame.
        let decodes = decode::<T>(&rest[..len]).is_ok();
        prop_assert_eq!(
            matches!(got, Ok(Some(_))),
            decodes,
            "read_frame agrees with decode"
        );
    }
    Ok(())
}

/// Every decoder on `stream`, as a stream and, after its 4-byte prefix, as a body.
fn check_all(rt: &Runtime, stream: &[u8]) -> Result<(), TestCaseError> {
    let body = stream.get(4..).unwrap_or_default();
    for body in [body, stream] {
        check_decode::<Request>(body)?;
        check_decode::<Response>(body)?;
        check_decode::<Hello>(body)?;
        check_decode::<HandshakeReply>(body)?;
    }
    check_read::<Request>(rt, stream)?;
    check_read::<Response>(rt, stream)?;
    check_read::<Hello>(rt, stream)?;
    check_read::<HandshakeReply>(rt, stream)?;
    Ok(())
}

fn with_prefix(len: u32, body: &[u8]) -> Vec<u8> {
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    frame
}

/// bincode varint markers: 0xfb u16, 0xfc u32, 0xfd u64, 0xfe u128 follow; 0xff is invalid.
fn huge_varint() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just(u64::MAX),
        Just(u64::from(u32::MAX)),
        Just(MAX_FRAME as u64),
        Just(MAX_FRAME as u64 + 1),
        Just(1u64 << 62),
        any::<u64>(),
    ];
    (0xfbu8..=0xff, value).prop_map(|(marker, value)| {
        let mut out = vec![marker];
        match marker {
            0xfb => out.extend_from_slice(&(value as u16).to_le_bytes()),
            0xfc => out.extend_from_slice(&(value as u32).to_le_bytes()),
            0xfd => out.extend_from_slice(&value.to_le_bytes()),
            0xfe => out.extend_from_slice(&((u128::from(value) << 64) | 1).to_le_bytes()),
            _ => {}
        }
        out
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: Index,
        mask: u8,
    },
    Truncate {
        at: Index,
    },
    Insert {
        at: Index,
        bytes: Vec<u8>,
    },
    Remove {
        at: Index,
        len: usize,
    },
    /// Puts a huge varint at `at`, replacing one byte (often a length) or inserted.
    HugeVarint {
        at: Index,
        varint: Vec<u8>,
        replace: bool,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<Index>(), 1usize..16).prop_map(|(at, len)| Mutation::Remove { at, len }),
        (any::<Index>(), huge_varint(), any::<bool>()).prop_map(|(at, varint, replace)| {
            Mutation::HugeVarint {
                at,
                varint,
                replace,
            }
        }),
    ]
}

impl Mutation {
    fn apply(&self, body: &mut Vec<u8>) {
        // Positions range over the body and one past its end.
        let pos = |at: &Index| at.index(body.len() + 1);
        match self {
            Self::Flip { at, mask } => {
                if !body.is_empty() {
                    let i = at.index(body.len());
                    body[i] ^= mask;
                }
            }
            Self::Truncate { at } => body.truncate(pos(at)),
            Self::Insert { at, bytes } => {
                let i = pos(at);
                body.splice(i..i, bytes.iter().copied());
            }
            Self::Remove { at, len } => {
                let i = pos(at);
                body.drain(i..(i + len).min(body.len()));
            }
            Self::HugeVarint {
                at,
                varint,
                replace,
            } => {
                let i = pos(at);
                let end = if *replace { (i + 1).min(body.len()) } else { i };
                body.splice(i..end, varint.iter().copied());
            }
        }
    }
}

/// What the mutated frame's length prefix says.
#[derive(Debug, Clone)]
enum Prefix {
    /// The sample's original length, now likely wrong.
    Original,
    /// The mutated body's length, so that decoding is reached.
    Actual,
    Fixed(u32),
}

fn prefix() -> impl Strategy<Value = Prefix> {
    prop_oneof![
        2 => Just(Prefix::Original),
        6 => Just(Prefix::Actual),
        1 => Just(Prefix::Fixed(MAX_FRAME as u32)),
        1 => Just(Prefix::Fixed(MAX_FRAME as u32 + 1)),
        1 => Just(Prefix::Fixed(u32::MAX)),
        1 => any::<u32>().prop_map(Prefix::Fixed),
    ]
}

fn sample_frames() -> Vec<Vec<u8>> {
    common::samples()
        .iter()
        .map(|sample| sample.message.frame())
        .collect()
}

#[test]
fn arbitrary_bytes_never_panic() {
    let started = Instant::now();
    let rt = runtime();
    let bytes = prop::collection::vec(any::<u8>(), 0..512);
    runner(2000)
        .run(&bytes, |bytes| check_all(&rt, &bytes))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_allocations_bounded("arbitrary_bytes_never_panic", started);
}

#[test]
fn arbitrary_bodies_behind_a_right_prefix_never_panic() {
    let started = Instant::now();
    let rt = runtime();
    let bytes = prop::collection::vec(any::<u8>(), 0..512);
    runner(2000)
        .run(&bytes, |body| {
            let len = u32::try_from(body.len()).expect("a short body");
            check_all(&rt, &with_prefix(len, &body))
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_allocations_bounded(
        "arbitrary_bodies_behind_a_right_prefix_never_panic",
        started,
    );
}

#[test]
fn mutated_samples_never_panic() {
    let started = Instant::now();
    let rt = runtime();
    let frames = sample_frames();
    let case = (
        any::<Index>(),
        prop::collection::vec(mutation(), 0..4),
        prefix(),
    );
    runner(2000)
        .run(&case, |(sample, mutations, prefix)| {
            let frame = sample.get(&frames);
            let mut body = frame[4..].to_vec();
            for mutation in &mutations {
                mutation.apply(&mut body);
            }
            let len = match prefix {
                Prefix::Original => u32::from_be_bytes(frame[..4].try_into().expect("4 bytes")),
                Prefix::Actual => u32::try_from(body.len()).expect("a short body"),
                Prefix::Fixed(len) => len,
            };
            check_all(&rt, &with_prefix(len, &body))
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_allocations_bounded("mutated_samples_never_panic", started);
}

/// Not random: a huge varint at every offset of every sample, and every extreme prefix.
#[test]
fn huge_lengths_everywhere_are_refused_cheaply() {
    let started = Instant::now();
    let rt = runtime();
    let huge: [&[u8]; 4] = [
        &[0xfc, 0xff, 0xff, 0xff, 0xff],
        &[0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0xfd, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00],
        &[0xfb, 0xff, 0xff],
    ];
    for frame in sample_frames() {
        let body = &frame[4..];
        for at in 0..=body.len() {
            for varint in huge {
                let mut mutated = body[..at].to_vec();
                mutated.extend_from_slice(varint);
                // Once replacing the byte there, once keeping it.
                for rest in [body.get(at + 1..).unwrap_or_default(), &body[at..]] {
                    let mut mutated = mutated.clone();
                    mutated.extend_from_slice(rest);
                    let len = u32::try_from(mutated.len()).expect("a short body");
                    check_all(&rt, &with_prefix(len, &mutated)).expect("a huge length");
                }
            }
        }
        for len in [MAX_FRAME as u32, MAX_FRAME as u32 + 1, u32::MAX] {
            check_all(&rt, &with_prefix(len, body)).expect("an extreme prefix");
        }
    }
    assert_allocations_bounded("huge_lengths_everywhere_are_refused_cheaply", started);
}
