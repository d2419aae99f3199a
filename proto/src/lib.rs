//! The contract between `msbd` and its clients: wire types, framing, the handshake and an
//! async client. It holds no daemon logic, so an upper-level server can depend on it alone.

pub mod client;
pub mod frame;
pub mod paths;
pub mod units;
pub mod wire;

pub use client::{Client, ClientError};
pub use frame::{FrameError, MAX_FRAME};
pub use wire::*;

/// Bumped on any incompatible change to the wire types; enums only grow at the end.
pub const PROTOCOL: u32 = 1;

/// The crate version, which is also the daemon's and the CLI's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
