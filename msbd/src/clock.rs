//! Wall-clock helpers. Deadlines inside the daemon use tokio's monotonic `Instant`; wall
//! time is only for what people and records read.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

pub fn unix_secs(at: SystemTime) -> u64 {
    unix_ms(at) / 1000
}

pub fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}
