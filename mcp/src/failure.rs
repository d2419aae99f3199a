//! What a tool reports when it fails: an MCP tool error (`isError`) whose structured content
//! is `{"error": {"code", "message"}}`, with msbd's own code where msbd refused, so an agent
//! reads the same codes a script reads from `msbctl --json`.

use msb_proto::{ClientError, ErrorBody, ErrorCode};
use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// msbd's error code (`unknown_session`, `limit_reached`, …), or msb-mcp's own:
    /// `unreachable`, `disconnected`, `invalid_argument`, `too_large`.
    pub code: String,
    pub message: String,
}

impl Failure {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_string(),
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("invalid_argument", message)
    }

    /// What msbd answers for a session that does not exist, also said of another client's
    /// session, so that one client learns nothing of another's.
    pub fn unknown_session(id: &str) -> Self {
        Self::daemon(&ErrorBody::new(
            ErrorCode::UnknownSession,
            format!("no session named '{id}'"),
        ))
    }

    fn daemon(body: &ErrorBody) -> Self {
        let code = serde_json::to_value(body.code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "internal".into());
        Self {
            code,
            message: body.message.clone(),
        }
    }

    pub fn is(&self, code: ErrorCode) -> bool {
        serde_json::to_value(code).is_ok_and(|v| v.as_str() == Some(self.code.as_str()))
    }

    pub fn into_result(self) -> CallToolResult {
        let text = format!("error ({}): {}", self.code, self.message);
        let mut result = CallToolResult::structured_error(serde_json::json!({ "error": self }));
        result.content = vec![ContentBlock::text(text)];
        result
    }
}

impl From<ClientError> for Failure {
    fn from(err: ClientError) -> Self {
        match &err {
            ClientError::Daemon(body) | ClientError::Refused(body) => Self::daemon(body),
            ClientError::Connect { .. } => Self::new(
                "unreachable",
                format!("{err} (is msbd running? --socket or MSB_SOCKET names its socket)"),
            ),
            ClientError::ProtocolMismatch { .. } => Self::new("protocol_mismatch", err.to_string()),
            ClientError::Closed | ClientError::Frame(_) => Self::new(
                "disconnected",
                format!("{err}; msbd may be restarting, try again"),
            ),
            ClientError::Unexpected { .. } => Self::new("internal", err.to_string()),
        }
    }
}
