//! `msbctl`: the operator's command line for msbd. `main` only calls [`main`] here.

pub mod cli;
mod commands;
mod output;
mod render;
pub mod target;

use clap::Parser;
use cli::{Cli, Command};
use output::{Failure, Out};
use std::process::ExitCode;

/// Exit codes shared by every command (`health` has its own scale on top).
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const UNREACHABLE: u8 = 3;
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let target = target::Target::new(cli.host.clone(), cli.socket.clone());
    // A bridge of bytes, for a client on another host: no runtime needed.
    if let Command::DialStdio = cli.command {
        return ExitCode::from(commands::dial::dial_stdio(&target.local_socket()));
    }
    // One thread is all a single round trip needs, and it starts faster.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("msbctl: cannot start: {err}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let out = Out::new(cli.json, target.clone());
    match runtime.block_on(commands::run(cli, &target, &out)) {
        Ok(code) => ExitCode::from(code),
        Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(failure) => ExitCode::from(out.fail(&failure)),
    }
}
