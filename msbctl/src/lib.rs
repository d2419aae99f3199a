//! `msbctl`: the operator's command line for msbd. `main` only calls [`main`] here.

pub mod cli;
mod commands;
mod output;
mod paint;
mod parse;
mod render;
mod table;
pub mod target;

use cli::{Cli, Command};
use output::{Failure, Out};
use paint::Paint;

/// Exit codes shared by every command (`health` has its own scale on top).
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const UNREACHABLE: u8 = 3;
}

/// Runs msbctl on its command line; returns the exit code.
pub fn main() -> u8 {
    let cli = match parse::cli(std::env::args_os().collect()).and_then(Cli::checked) {
        Ok(cli) => cli,
        Err(err) => return usage(&err),
    };
    let target = target::Target::new(cli.host.clone(), cli.socket.clone());
    let out = Out::new(cli.json, Paint::new(cli.color), target.clone());
    // A bridge of bytes, for a client on another host: no runtime needed.
    if let Command::DialStdio = cli.command {
        return commands::dial::dial_stdio(&target.local_socket());
    }
    // One thread is all a single round trip needs, and it starts faster.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return out.fail(&Failure::Local(format!("cannot start: {err}"))),
    };
    match runtime.block_on(commands::run(cli, &target, &out)) {
        Ok(code) => code,
        Err(failure) => out.fail(&failure),
    }
}

/// Reports a command line clap refused (exit 2), or prints the help or version asked for
/// (exit 0). `--json` cannot be read from a command line that did not parse, so it is looked
/// for among the raw arguments (before `--`, after which they are CMD's).
fn usage(err: &clap::Error) -> u8 {
    let json = std::env::args_os()
        .skip(1)
        .take_while(|arg| arg != "--")
        .any(|arg| arg == "--json");
    // No msbd is involved: the target is only named by failures that concern one.
    let target = target::Target::new(None, None);
    let out = Out::new(json, Paint::new(paint::ColorWhen::Never), target);
    if !err.use_stderr() {
        return match output::written(err.print()) {
            Ok(()) => exit::OK,
            Err(failure) => out.fail(&failure),
        };
    }
    if !json {
        // Nothing more can be reported if stderr itself fails.
        let _ = err.print();
        return exit::USAGE;
    }
    // clap's text is "error: WHAT\n  DETAILS\n\nUsage: …": the message is WHAT and DETAILS.
    let text = err.render().to_string();
    let message = text.strip_prefix("error: ").unwrap_or(&text);
    let message = message.split("\n\n").next().unwrap_or(message).trim_end();
    out.fail(&Failure::Usage(message.to_string()))
}
