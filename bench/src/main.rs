//! `msb-bench`: benchmarks of msbd that print figures beside a reference measured in the same
//! run, never pass/fail thresholds. They drive the real release binaries, `msbd` and `msbctl`,
//! found next to this executable, each run on its own socket and state dir in a temporary
//! directory:
//!
//! ```sh
//! cargo build --release && target/release/msb-bench --quick
//! target/release/msb-bench
//! target/release/msb-bench shutdown --sizes 100,300 --timeout 2s
//! target/release/msb-bench status-under-stop --size 1000 --timeout 5s
//! ```
//!
//! - (no benchmark named) the table: round trips, throughput, registry scale with and
//!   without processes, exec and the idle daemon, each figure beside its reference, the
//!   ratio, the target and a pass/short mark; `--quick` on small sizes and short runs.
//! - `shutdown`: for each size N, N sandboxes (every third ignores SIGTERM) are stopped with
//!   `msbctl stop --timeout T`; the time from the stop request to msbd's exit is set beside
//!   the floor for "SIGTERM, wait T, SIGKILL" measured on N plain process groups.
//! - `status-under-stop`: `msbctl status` latency while a daemon with N sessions shuts down,
//!   beside its latency on the same daemon idle.
//!
//! Progress and notes go to stderr, the figures to stdout. Every wait has a deadline, and
//! whatever the bench started (daemon, sandboxes, reference processes) is killed on every
//! path out, an interrupt (Ctrl-C) included.

mod args;
mod daemon;
mod exec;
mod figures;
mod floor;
mod idle;
mod in_process;
mod load;
mod proc;
mod recording;
mod round_trip;
mod scale;
mod shutdown;
mod suite;
mod table;
mod under_stop;

use std::fmt::Display;
use std::process::ExitCode;

/// Errors are sentences for the operator; there is nothing to match on.
type Result<T> = std::result::Result<T, String>;

/// Adds what was being done to an error.
trait Context<T> {
    fn context(self, what: impl Display) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Display) -> Result<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

fn main() -> ExitCode {
    let command = match args::parse(std::env::args().skip(1)) {
        Ok(args::Parsed::Run(command)) => command,
        Ok(args::Parsed::Help) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("msb-bench: {e}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    if let args::Command::FloorClient(socket) = &command {
        return match floor::client(socket) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("msb-bench floor-client: {e}");
                ExitCode::FAILURE
            }
        };
    }
    proc::catch_interrupts();
    let result = daemon::Bins::locate().and_then(|bins| match command {
        args::Command::Table {
            quick,
            sections,
            sizes,
        } => suite::run(&bins, quick, &sections, sizes),
        args::Command::FloorClient(_) => Ok(()),
        args::Command::Shutdown { sizes, timeout } => shutdown::run(&bins, &sizes, timeout),
        args::Command::StatusUnderStop { size, timeout } => under_stop::run(&bins, size, timeout),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("msb-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
