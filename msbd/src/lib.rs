//! `msbd`: the daemon that owns the sandbox sessions of one host and runs its background
//! maintenance. `main` only calls [`main`] here, so tests can reach every part.

pub mod admission;
pub mod backend;
pub mod clock;
pub mod config;
pub mod context;
pub mod daemon;
pub mod deadline;
pub mod dispatch;
pub mod event_stream;
pub mod events;
pub mod fds;
pub mod ids;
pub mod labels;
pub mod languages;
pub mod logs;
pub mod metrics;
pub mod notify;
pub mod reply;
pub mod resources;
pub mod server;
pub mod session;
pub mod sessions;
pub mod socket;
pub mod store;
pub mod supervisor;
pub mod template_options;
pub mod templates;
pub mod work;

use clap::error::ErrorKind;
use clap::Parser;
use config::{Cli, Hidden, LogFormat, Sources, EXIT_CONFIG};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::str::FromStr;
use tracing_subscriber::filter::LevelFilter;

/// Parses the command line, sets up logging and runs the daemon to its end.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return match err.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                ErrorKind::InvalidValue | ErrorKind::ValueValidation | ErrorKind::InvalidUtf8 => {
                    ExitCode::from(EXIT_CONFIG)
                }
                _ => ExitCode::from(2),
            };
        }
    };
    if let Some(Hidden::Keeper(args)) = cli.command {
        return backend::process::keeper::run(args);
    }
    let level = match std::env::var("MSBD_LOG") {
        Ok(text) => {
            match LevelFilter::from_str(&text) {
                Ok(level) => level,
                Err(_) => {
                    eprintln!("msbd: invalid MSBD_LOG '{text}': use off, error, warn, info, debug or trace");
                    return ExitCode::from(EXIT_CONFIG);
                }
            }
        }
        Err(_) => LevelFilter::INFO,
    };
    let var = |name: &str| std::env::var(name).ok();
    let config = match Sources::new(cli.config, &cli.daemon, &var).and_then(|s| s.load()) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("msbd: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if cli.check_config {
        // Nothing more to do if nobody reads it (`| head`).
        let _ = std::io::Write::write_all(
            &mut std::io::stdout(),
            config::render(&config.report()).as_bytes(),
        );
        return ExitCode::SUCCESS;
    }
    start_log(level, config.log_format);
    // A panicking cycle is caught and reported by the supervisor; its message and place go
    // to the log like everything else rather than raw to stderr.
    std::panic::set_hook(Box::new(|info| tracing::error!(%info, "panic")));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("msbd: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(daemon::run(config, daemon::termination())) {
        Ok(report) if report.outcome == msb_proto::StopOutcome::Clean => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("msbd: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr: text, coloured only on a terminal and never with `NO_COLOR` set (to
/// anything but nothing, as no-color.org asks), or one JSON object per line.
fn start_log(level: LevelFilter, format: LogFormat) {
    let log = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            log.with_ansi(std::io::stderr().is_terminal() && !no_color)
                .init()
        }
        LogFormat::Json => log.json().flatten_event(true).init(),
    }
}
