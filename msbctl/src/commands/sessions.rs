//! `msbctl sessions`: list, show, create, touch, stop, busy, idle, logs, and the work of
//! `work` (exec, run, cp).

use super::work::{self, Work};
use crate::cli::SessionsCommand;
use crate::output::{Failure, Out};
use crate::{exit, render};
use msb_proto::{Client, CreateSession, ExecCommand, LogsRequest, SessionFilter};
use serde::Serialize;
use std::cell::RefCell;
use tokio::sync::Notify;

pub async fn run(client: &mut Client, command: SessionsCommand, out: &Out) -> Result<u8, Failure> {
    let session = match command {
        SessionsCommand::List {
            status,
            template,
            idle_longer_than,
            ended,
            labels,
            limit,
            offset,
            ids,
        } => {
            let filter = SessionFilter {
                status,
                template,
                idle_longer_than_ms: idle_longer_than.map(|d| d.as_millis() as u64),
                ended,
                labels: labels.into_iter().collect(),
                limit,
                offset,
            };
            if ids {
                let ids = client.session_ids(filter).await?;
                // No sessions: nothing at all, so that `xargs` gets no empty line.
                if out.json || !ids.is_empty() {
                    out.show(ids.as_slice(), |ids| ids.join("\n"))?;
                }
                return Ok(exit::OK);
            }
            let list = client.sessions(filter).await?;
            out.show(list.as_slice(), |l| render::sessions(l, out.paint))?;
            return Ok(exit::OK);
        }
        SessionsCommand::Show { id } => client.session_show(id).await?,
        SessionsCommand::Create {
            template,
            flavor,
            id,
            labels,
        } => {
            client
                .session_create(CreateSession {
                    template,
                    flavor,
                    id,
                    labels: labels.into_iter().collect(),
                })
                .await?
        }
        SessionsCommand::Touch { id } => client.session_touch(id).await?,
        SessionsCommand::Stop { id } => client.session_stop(id).await?,
        SessionsCommand::Busy { id } => client.session_mark(id, true).await?,
        SessionsCommand::Idle { id } => client.session_mark(id, false).await?,
        SessionsCommand::Exec {
            id,
            run,
            env,
            workdir,
            interactive,
            command,
        } => {
            let work = Work {
                id,
                run,
                command: ExecCommand::Argv(command),
                env,
                workdir,
            };
            return work::exec(client, work, interactive, out).await;
        }
        SessionsCommand::Run {
            id,
            run,
            language,
            file,
        } => {
            let work = Work {
                id,
                run,
                command: ExecCommand::Code(language),
                env: Vec::new(),
                workdir: None,
            };
            return work::run(client, work, &file, out).await;
        }
        SessionsCommand::Cp { src, dst } => return work::cp(client, &src, &dst, out).await,
        SessionsCommand::Logs { id, follow, tail } => {
            let request = LogsRequest {
                session_id: id,
                follow,
                tail,
            };
            return logs(client, request, out).await;
        }
    };
    out.show(&session, render::session)?;
    Ok(exit::OK)
}

/// The `--json` of `sessions logs`.
#[derive(Serialize)]
struct LogsDocument {
    session_id: String,
    /// Decoded as UTF-8 (invalid sequences replaced), without their line ends.
    lines: Vec<String>,
    /// The sandbox has ended: nothing more will be written.
    ended: bool,
}

/// Prints a session's log as it comes, or, with `--json`, one document once it has ended.
async fn logs(client: &mut Client, request: LogsRequest, out: &Out) -> Result<u8, Failure> {
    let session_id = request.session_id.clone();
    if out.json {
        let mut data = Vec::new();
        let end = client
            .logs(request, |chunk| data.extend_from_slice(chunk))
            .await?;
        let document = LogsDocument {
            session_id,
            lines: String::from_utf8_lossy(&data)
                .lines()
                .map(String::from)
                .collect(),
            ended: end.ended,
        };
        out.show(&document, |_| String::new())?;
        return Ok(exit::OK);
    }
    // A reader that went away (`| head`) ends a follow at once, not when the sandbox ends.
    let failed = RefCell::new(None);
    let stop = Notify::new();
    let streamed = client.logs(request, |chunk| {
        let mut failed = failed.borrow_mut();
        if failed.is_none() {
            if let Err(failure) = out.raw(chunk) {
                *failed = Some(failure);
                stop.notify_one();
            }
        }
    });
    tokio::select! {
        end = streamed => {
            end?;
        }
        () = stop.notified() => {}
    }
    match failed.into_inner() {
        Some(failure) => Err(failure),
        None => Ok(exit::OK),
    }
}
