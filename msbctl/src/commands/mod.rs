//! One module per command family; `run` connects and hands each command to its family.

mod completions;
pub mod dial;
mod maintenance;
mod observe;
mod sessions;
mod stop;
mod tasks;
mod version;
mod wait;
mod work;

use crate::cli::{Cli, Command, DebugCommand, Family, SessionsCommand};
use crate::output::{Failure, Out};
use crate::target::Target;
use crate::{exit, render};
use msb_proto::{Client, ClientError, Endpoint, Fault};
use serde::Serialize;
use std::path::Path;

/// Name this client gives in the handshake.
const CLIENT_NAME: &str = concat!("msbctl/", env!("CARGO_PKG_VERSION"));

/// Opens a connection to msbd; the handshake goes with the first request.
pub async fn connect(target: &Target) -> Result<Client, Failure> {
    Client::connect_to(&target.endpoint(), CLIENT_NAME)
        .await
        .map_err(|error| match error {
            ClientError::Connect {
                endpoint: Endpoint::Socket(socket),
                source,
            } if source.kind() == std::io::ErrorKind::PermissionDenied => Failure::Refused {
                message: denied(&socket, &source),
            },
            error => error.into(),
        })
}

/// Why this user cannot open `socket`, and what lets them.
pub fn denied(socket: &Path, source: &std::io::Error) -> String {
    format!(
        "permission denied: this user may not open {} ({source}); msbd --socket-group GROUP opens it to a group's members",
        socket.display()
    )
}

pub async fn run(cli: Cli, target: &Target, out: &Out) -> Result<u8, Failure> {
    // These work without a daemon, or wait for one.
    match cli.command {
        Command::Completions { shell } => return completions::completions(shell, out),
        Command::Version => return version::version(target, out).await,
        Command::Wait { timeout } => {
            return wait::wait(target, timeout.unwrap_or(cli.timeout), out).await
        }
        _ => {}
    }
    // A maintenance command runs even when msbd is down, so it connects by itself.
    let cli = match cli.command {
        Command::Pause {
            tasks,
            for_,
            reason,
            require_pause,
            command,
        } if !command.is_empty() => {
            let maintenance = maintenance::Maintenance {
                pause: tasks::pause_request(tasks.tasks, for_, reason),
                require_pause,
                command,
            };
            return maintenance::run(maintenance, target, cli.timeout, out).await;
        }
        command => Cli { command, ..cli },
    };
    // Streams run as long as their work does; everything else must answer in time.
    let streams = matches!(
        &cli.command,
        Command::Stop { .. }
            | Command::Pause { .. }
            | Command::Status { watch: true, .. }
            | Command::Events { follow: true }
            | Command::Sessions(Family(
                SessionsCommand::Exec { .. }
                    | SessionsCommand::Run { .. }
                    | SessionsCommand::Cp { .. }
                    | SessionsCommand::Logs { follow: true, .. }
            ))
    );
    let limit = cli.timeout;
    let work = answer(cli, target, out);
    if streams {
        return work.await;
    }
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or(Err(Failure::TimedOut { after: limit }))
}

async fn answer(cli: Cli, target: &Target, out: &Out) -> Result<u8, Failure> {
    let mut client = connect(target).await?;
    match cli.command {
        Command::Status {
            task,
            watch: true,
            interval,
        } => {
            let limit = cli.timeout;
            observe::watch_status(&mut client, task, interval, limit, out).await
        }
        Command::Status { task, .. } => tasks::status(&mut client, task, out).await,
        Command::Health => tasks::health(&mut client, out).await,
        Command::Restart { tasks, force } => {
            tasks::restart(&mut client, tasks.tasks, force, out).await
        }
        Command::Pause {
            tasks,
            for_,
            reason,
            ..
        } => tasks::pause(&mut client, tasks.tasks, for_, reason, out).await,
        Command::Resume { tasks } => tasks::resume(&mut client, tasks.tasks, out).await,
        Command::Run { task } => tasks::run_now(&mut client, task, out).await,
        Command::Stop {
            timeout,
            keep_sandboxes,
        } => stop::stop(client, timeout, keep_sandboxes, out).await,
        Command::Orphans => {
            let orphans = client.orphans().await?;
            out.show(orphans.as_slice(), render::orphans)?;
            Ok(exit::OK)
        }
        Command::Config => {
            let report = client.config().await?;
            out.show(&report, render::config)?;
            Ok(exit::OK)
        }
        Command::Events { follow } => observe::events(&mut client, follow, out).await,
        Command::Metrics => observe::metrics(&mut client, out).await,
        Command::Sessions(Family(command)) => sessions::run(&mut client, command, out).await,
        Command::Debug(Family(DebugCommand::Fault { task, fault })) => {
            let fault = fault.into();
            let message = client.fault(task.clone(), fault).await?;
            let injected = Injected {
                task,
                fault,
                message,
            };
            out.show(&injected, |i| i.message.clone())?;
            Ok(exit::OK)
        }
        Command::Completions { .. }
        | Command::Version
        | Command::Wait { .. }
        | Command::DialStdio => {
            unreachable!("answered before connecting")
        }
    }
}

/// The `--json` of `debug fault`: what was asked, and what msbd says will happen.
#[derive(Serialize)]
struct Injected {
    task: String,
    fault: Fault,
    message: String,
}

/// Prints a list of task actions; used by restart, pause and resume.
fn show_actions(actions: &[msb_proto::TaskAction], out: &Out) -> Result<u8, Failure> {
    out.show(actions, render::actions)?;
    Ok(exit::OK)
}
