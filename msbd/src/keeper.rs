//! `msbd keeper`: the process behind the built-in `default` template. It does nothing but
//! wait for SIGTERM, SIGINT or SIGHUP and exit cleanly, so a sandbox needs nothing installed.

use nix::sys::signal::{SigSet, Signal};
use std::process::ExitCode;

pub fn run() -> ExitCode {
    let mut signals = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(signal);
    }
    // Blocked signals stay pending until `wait` takes them, so none is lost before it runs.
    if signals.thread_block().is_err() {
        return ExitCode::FAILURE;
    }
    match signals.wait() {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
