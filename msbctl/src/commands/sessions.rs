//! `msbctl sessions`: list, show, create, touch, stop, and the work of `work`.

use super::work::{self, Work};
use crate::cli::SessionsCommand;
use crate::output::{Failure, Out};
use crate::{exit, render};
use msb_proto::{Client, CreateSession, ExecCommand, SessionFilter};

pub async fn run(client: &mut Client, command: SessionsCommand, out: &Out) -> Result<u8, Failure> {
    let session = match command {
        SessionsCommand::List {
            status,
            template,
            idle_longer_than,
        } => {
            let filter = SessionFilter {
                status,
                template,
                idle_longer_than_ms: idle_longer_than.map(|d| d.as_millis() as u64),
                ended: false,
            };
            let list = client.sessions(filter).await?;
            out.show(list.as_slice(), render::sessions)?;
            return Ok(exit::OK);
        }
        SessionsCommand::Show { id } => client.session_show(id).await?,
        SessionsCommand::Create {
            template,
            flavor,
            id,
        } => {
            client
                .session_create(CreateSession {
                    template,
                    flavor,
                    id,
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
    };
    out.show(&session, render::session)?;
    Ok(exit::OK)
}
