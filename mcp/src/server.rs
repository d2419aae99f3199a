//! The MCP server: one `Server` per MCP connection (stdio) or per request (stateless HTTP),
//! all sharing one `Shared`. Each tool call opens a connection of its own to msbd, so a call
//! after msbd restarted simply reaches the new msbd, and a command's stream never waits on
//! another call.

use crate::failure::Failure;
use crate::identity::{Caller, Owners};
use msb_proto::{Client, Endpoint, SessionInfo};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{tool_handler, ErrorData, RoleServer, ServerHandler};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// How this server names itself to msbd.
const CLIENT_NAME: &str = concat!("msb-mcp/", env!("CARGO_PKG_VERSION"));

/// What every connection of this server shares.
#[derive(Debug)]
pub struct Shared {
    pub endpoint: Endpoint,
    pub owners: Owners,
    pub limits: Limits,
    pub operator_tools: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub exec_timeout: Duration,
    pub max_output: usize,
    pub max_read: u64,
}

#[derive(Clone)]
pub struct Server {
    pub(crate) shared: Arc<Shared>,
    tool_router: ToolRouter<Self>,
}

impl Server {
    pub fn new(shared: Arc<Shared>) -> Self {
        let mut tool_router = Self::work_tools() + Self::file_tools() + Self::session_tools();
        if shared.operator_tools {
            tool_router += Self::operator_tools();
        }
        Self {
            shared,
            tool_router,
        }
    }

    pub(crate) fn caller(&self, ctx: &RequestContext<RoleServer>) -> Caller {
        Caller::of(&self.shared.owners, ctx)
    }

    pub(crate) async fn connect(&self) -> Result<Client, Failure> {
        Ok(Client::connect_to(&self.shared.endpoint, CLIENT_NAME).await?)
    }

    /// Session `id`, if it is the caller's; another client's is "unknown", as msbd would say.
    pub(crate) async fn owned(
        &self,
        client: &mut Client,
        caller: &Caller,
        id: &str,
    ) -> Result<SessionInfo, Failure> {
        let session = client.session_show(id.to_string()).await?;
        if caller.owns(&session) {
            Ok(session)
        } else {
            Err(Failure::unknown_session(id))
        }
    }
}

/// A tool's answer: its document as structured content and a short rendering as text, or
/// its failure as a tool error.
pub(crate) fn answer<T: Serialize>(
    outcome: Result<T, Failure>,
    render: impl FnOnce(&T) -> String,
) -> Result<CallToolResult, ErrorData> {
    let document = match outcome {
        Ok(document) => document,
        Err(failure) => return Ok(failure.into_result()),
    };
    let text = render(&document);
    let value = serde_json::to_value(&document)
        .map_err(|e| ErrorData::internal_error(format!("cannot encode the result: {e}"), None))?;
    let mut result = CallToolResult::structured(value);
    result.content = vec![ContentBlock::text(text)];
    Ok(result)
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("msb-mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Runs code and commands in sandbox sessions of msbd. execute_code and \
                 execute_command create a session when called without session_id and return \
                 its id; pass it back to keep working in the same sandbox (files persist in \
                 its working directory). Sessions expire when left idle; stop_session ends \
                 one at once.",
            )
    }
}
