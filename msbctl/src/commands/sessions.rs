//! `msbctl sessions`: list, show, create, touch, stop.

use crate::cli::SessionsCommand;
use crate::output::{Failure, Out};
use crate::{exit, render};
use msb_proto::{Client, CreateSession};

pub async fn run(client: &mut Client, command: SessionsCommand, out: &Out) -> Result<u8, Failure> {
    let session = match command {
        SessionsCommand::List => {
            let list = client.sessions().await?;
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
    };
    out.show(&session, render::session)?;
    Ok(exit::OK)
}
