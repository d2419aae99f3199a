//! The operator's tools (`--operator-tools`), each what the msbctl command of the same name
//! does and answers (`msbctl --json status`, `health`, `pause`, `resume`, `restart`).

use crate::failure::Failure;
use crate::server::{answer, Server};
use msb_proto::{
    HealthReport, PauseRequest, RestartRequest, StatusReport, TaskAction, TaskSelection,
};
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router, ErrorData};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Status {
    /// Only this task.
    pub task: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Pause {
    /// Tasks to pause [default: all].
    pub tasks: Option<Vec<String>>,
    /// Resume by itself after this many seconds [default: paused until resumed].
    pub for_secs: Option<u64>,
    /// Shown in status while paused.
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Resume {
    /// Tasks to resume [default: all].
    pub tasks: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Restart {
    /// Tasks to restart [default: all that need it].
    pub tasks: Option<Vec<String>>,
    /// Also restart tasks that are healthy.
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Actions {
    /// What was done to each task, as `msbctl --json pause` shows it.
    pub tasks: Vec<TaskAction>,
}

#[tool_router(router = operator_tools, vis = "pub(crate)")]
impl Server {
    #[tool(
        description = "msbd's status: its tasks, sessions, resources, store and config.",
        output_schema = schema_for_output::<StatusReport>()
    )]
    async fn status(
        &self,
        Parameters(args): Parameters<Status>,
    ) -> Result<CallToolResult, ErrorData> {
        let outcome = async { Ok(self.connect().await?.status(args.task).await?) }.await;
        answer(outcome, |r| {
            let tasks: Vec<_> = r
                .tasks
                .iter()
                .map(|t| format!("{} {}", t.name, t.state))
                .collect();
            format!(
                "{}; {} of {} sessions; tasks: {}",
                r.overall,
                r.sessions.active,
                r.sessions.max,
                tasks.join(", ")
            )
        })
    }

    #[tool(
        description = "msbd's health: healthy, degraded or unhealthy, and why.",
        output_schema = schema_for_output::<HealthReport>()
    )]
    async fn health(&self) -> Result<CallToolResult, ErrorData> {
        let outcome = async { Ok(self.connect().await?.health().await?) }.await;
        answer(outcome, |r| {
            let why: Vec<_> = r
                .tasks
                .iter()
                .filter_map(|t| t.reason.as_ref().map(|why| format!("{}: {why}", t.name)))
                .collect();
            match why.is_empty() {
                true => r.overall.to_string(),
                false => format!("{} ({})", r.overall, why.join("; ")),
            }
        })
    }

    #[tool(
        description = "Pause msbd's background tasks (session-cleanup, orphan-cleanup), for a \
                       while or until resumed.",
        output_schema = schema_for_output::<Actions>()
    )]
    async fn pause_tasks(
        &self,
        Parameters(args): Parameters<Pause>,
    ) -> Result<CallToolResult, ErrorData> {
        let request = PauseRequest {
            tasks: selection(args.tasks),
            for_ms: args.for_secs.map(|s| s.saturating_mul(1000)),
            reason: args.reason,
        };
        let outcome = async { actions(self.connect().await?.pause(request).await?) }.await;
        answer(outcome, render_actions)
    }

    #[tool(
        description = "Resume msbd's paused background tasks.",
        output_schema = schema_for_output::<Actions>()
    )]
    async fn resume_tasks(
        &self,
        Parameters(args): Parameters<Resume>,
    ) -> Result<CallToolResult, ErrorData> {
        let tasks = selection(args.tasks);
        let outcome = async { actions(self.connect().await?.resume(tasks).await?) }.await;
        answer(outcome, render_actions)
    }

    #[tool(
        description = "Restart msbd's background tasks that failed or stalled (all with force).",
        output_schema = schema_for_output::<Actions>()
    )]
    async fn restart_tasks(
        &self,
        Parameters(args): Parameters<Restart>,
    ) -> Result<CallToolResult, ErrorData> {
        let request = RestartRequest {
            tasks: selection(args.tasks),
            force: args.force,
        };
        let outcome = async { actions(self.connect().await?.restart(request).await?) }.await;
        answer(outcome, render_actions)
    }
}

fn selection(tasks: Option<Vec<String>>) -> TaskSelection {
    match tasks {
        Some(named) if !named.is_empty() => TaskSelection::Named(named),
        _ => TaskSelection::All,
    }
}

fn actions(tasks: Vec<TaskAction>) -> Result<Actions, Failure> {
    Ok(Actions { tasks })
}

fn render_actions(actions: &Actions) -> String {
    actions
        .tasks
        .iter()
        .map(|a| format!("{}: {} (now {})", a.task, a.result, a.state))
        .collect::<Vec<_>>()
        .join("\n")
}
