//! `get_sessions`, `stop_session` and `get_session_logs`: the caller's own sessions.

use crate::failure::Failure;
use crate::server::{answer, Server};
use msb_proto::{LogsRequest, SessionFilter, SessionInfo};
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, ErrorData, RoleServer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetSessions {
    /// Only this session.
    pub session_id: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Sessions {
    /// As `msbctl sessions list --json` shows them.
    pub sessions: Vec<SessionInfo>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SessionId {
    pub session_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetLogs {
    pub session_id: String,
    /// Only the last N lines.
    pub tail: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Logs {
    pub session_id: String,
    /// What the session's sandbox itself wrote (its main command, not `execute_*` output).
    pub log: String,
    /// Only the end is here: the log is longer than the server's output limit.
    pub truncated: bool,
    /// The sandbox has ended: nothing more will be written.
    pub ended: bool,
}

#[tool_router(router = session_tools, vis = "pub(crate)")]
impl Server {
    #[tool(
        description = "List your sessions (or one, by session_id): id, status, template, \
                       flavor, when it expires, labels.",
        output_schema = schema_for_output::<Sessions>()
    )]
    async fn get_sessions(
        &self,
        Parameters(args): Parameters<GetSessions>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let outcome = self.list(args.session_id, &ctx).await;
        answer(outcome, |s| render_sessions(&s.sessions))
    }

    #[tool(
        description = "Stop one of your sessions now: its sandbox and every process in it end.",
        output_schema = schema_for_output::<SessionInfo>()
    )]
    async fn stop_session(
        &self,
        Parameters(args): Parameters<SessionId>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let outcome = async {
            let mut client = self.connect().await?;
            self.owned(&mut client, &self.caller(&ctx), &args.session_id)
                .await?;
            Ok(client.session_stop(args.session_id).await?)
        }
        .await;
        answer(outcome, |s| match s.fate {
            Some(fate) => format!("session {} stopped ({fate})", s.id),
            None => format!("session {} stopped", s.id),
        })
    }

    #[tool(
        description = "Read the log of one of your sessions' sandbox.",
        output_schema = schema_for_output::<Logs>()
    )]
    async fn get_session_logs(
        &self,
        Parameters(args): Parameters<GetLogs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let outcome = self.logs(args, &ctx).await;
        answer(outcome, |l| match l.log.is_empty() {
            true => "(the log is empty)".into(),
            false => l.log.clone(),
        })
    }
}

impl Server {
    async fn list(
        &self,
        id: Option<String>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Sessions, Failure> {
        let caller = self.caller(ctx);
        let mut client = self.connect().await?;
        let sessions = match id {
            Some(id) => vec![self.owned(&mut client, &caller, &id).await?],
            None => {
                client
                    .sessions(SessionFilter {
                        ended: true,
                        labels: caller.filter(),
                        ..SessionFilter::default()
                    })
                    .await?
            }
        };
        Ok(Sessions { sessions })
    }

    async fn logs(&self, args: GetLogs, ctx: &RequestContext<RoleServer>) -> Result<Logs, Failure> {
        let mut client = self.connect().await?;
        self.owned(&mut client, &self.caller(ctx), &args.session_id)
            .await?;
        let cap = self.shared.limits.max_output;
        let mut log = Vec::new();
        let mut truncated = false;
        let end = client
            .logs(
                LogsRequest {
                    session_id: args.session_id.clone(),
                    follow: false,
                    tail: args.tail,
                },
                |chunk| {
                    log.extend_from_slice(chunk);
                    // The end of a log is what tells most: keep that.
                    if log.len() > cap {
                        log.drain(..log.len() - cap);
                        truncated = true;
                    }
                },
            )
            .await?;
        Ok(Logs {
            session_id: args.session_id,
            log: String::from_utf8_lossy(&log).into_owned(),
            truncated,
            ended: end.ended,
        })
    }
}

fn render_sessions(sessions: &[SessionInfo]) -> String {
    if sessions.is_empty() {
        return "no sessions".into();
    }
    sessions
        .iter()
        .map(|s| {
            let expires = s
                .expires_in_secs
                .map_or("-".to_string(), |secs| format!("{secs}s"));
            format!(
                "{}  {}  template {}  flavor {}  expires in {expires}",
                s.id, s.status, s.template, s.flavor
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
