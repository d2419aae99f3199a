//! The contract between `msbd` and its clients: wire types, framing, the handshake and an
//! async client. It holds no daemon logic, so an upper-level server can depend on it alone.
//!
//! # Compatibility
//!
//! Frames are bincode, which encodes by position: an enum variant by its index and a struct
//! by the order of its fields, with no names on the wire. A new variant is therefore added
//! at the end of its enum, and **any new or reordered field is an incompatible change**: it
//! bumps [`PROTOCOL`], and the handshake then refuses a client that speaks another number
//! with a clear error instead of misreading its frames. The golden-byte tests of this crate
//! pin the encoding of every message and fail when one changes without that bump.
//!
//! The `--json` output of `msbctl` is these same types through serde_json, where fields are
//! named; there, fields are only ever added.

pub mod archive;
pub mod client;
pub mod frame;
pub mod paths;
pub mod units;
pub mod wire;

pub use client::{Client, ClientError, Endpoint, EventFrame, EventStream, ExecEvent, Execution};
pub use frame::{FrameError, MAX_FRAME};
pub use wire::*;

/// Bumped on any incompatible change to the wire types (see the crate docs).
pub const PROTOCOL: u32 = 8;

/// The crate version, which is also the daemon's and the CLI's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
