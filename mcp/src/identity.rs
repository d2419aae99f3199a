//! Whose sessions are whose. Every session msb-mcp creates carries the MCP client's name
//! (`mcp.client`) and its owner (`mcp.owner`) as labels; a client sees and uses only the
//! sessions of its own owner, unless the server shares them (`--share-sessions`).
//!
//! Over stdio a server process serves one client, so the owner is that process's own
//! connection. Over HTTP the 2026 protocol has no sessions to tell clients apart, so the
//! owner is the name the client gives (`clientInfo.name`).

use msb_proto::{Labels, SessionInfo};
use rmcp::model::Implementation;
use rmcp::service::RequestContext;
use rmcp::RoleServer;
use std::time::{SystemTime, UNIX_EPOCH};

pub const CLIENT_LABEL: &str = "mcp.client";
pub const OWNER_LABEL: &str = "mcp.owner";
/// msbd's bound on a label's value.
const MAX_VALUE: usize = 255;

#[derive(Debug, Clone)]
pub enum Owners {
    /// One client: this connection.
    Connection(String),
    /// Many clients, each known by its name.
    ClientName,
    /// Everyone sees everything.
    Shared,
}

impl Owners {
    /// The owner of a stdio server: unique to this process.
    pub fn this_connection() -> Self {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Self::Connection(format!("stdio-{}-{started:x}", std::process::id()))
    }
}

/// The client behind one request.
#[derive(Debug, Clone)]
pub struct Caller {
    name: String,
    owner: Option<String>,
}

impl Caller {
    pub fn of(owners: &Owners, ctx: &RequestContext<RoleServer>) -> Self {
        let info: Option<Implementation> = ctx
            .peer
            .peer_info()
            .map(|init| init.client_info.clone())
            .or_else(|| ctx.meta.client_info());
        let name = label_value(info.map(|i| i.name).as_deref().unwrap_or("unnamed"));
        let owner = match owners {
            Owners::Connection(id) => Some(id.clone()),
            Owners::ClientName => Some(format!("name:{name}")),
            Owners::Shared => None,
        };
        Self { name, owner }
    }

    /// The labels of a session this caller creates.
    pub fn labels(&self) -> Labels {
        let mut labels = Labels::from([(CLIENT_LABEL.to_string(), self.name.clone())]);
        if let Some(owner) = &self.owner {
            labels.insert(OWNER_LABEL.to_string(), label_value(owner));
        }
        labels
    }

    /// The labels that select this caller's sessions in a list (none when shared).
    pub fn filter(&self) -> Labels {
        self.owner
            .iter()
            .map(|owner| (OWNER_LABEL.to_string(), label_value(owner)))
            .collect()
    }

    pub fn owns(&self, session: &SessionInfo) -> bool {
        self.filter()
            .iter()
            .all(|(key, value)| session.labels.get(key) == Some(value))
    }
}

/// A client's name as msbd takes a label's value: printable, at most 255 bytes.
fn label_value(text: &str) -> String {
    let mut value = String::new();
    for c in text.chars().map(|c| if c.is_control() { '?' } else { c }) {
        if value.len() + c.len_utf8() > MAX_VALUE {
            break;
        }
        value.push(c);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_becomes_a_value_msbd_takes() {
        assert_eq!(label_value("claude\ncode"), "claude?code");
        let long = "é".repeat(200);
        let value = label_value(&long);
        assert!(value.len() <= MAX_VALUE && value.len() >= MAX_VALUE - 1);
        assert!(long.starts_with(&value));
    }
}
