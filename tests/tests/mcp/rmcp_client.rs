//! rmcp's own client drives msb-mcp over stdio: the tools as an rmcp-based agent host sees
//! them, and a session that lives on across an msbd restart on the same MCP connection.

use msb_tests::{bin, Daemon};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};

const NO_CLEANUP: [&str; 2] = ["--cleanup-interval", "1h"];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn connect(daemon: &Daemon) -> RunningService<RoleClient, ()> {
    let mut cmd = tokio::process::Command::new(bin("msb-mcp"));
    cmd.arg("--socket").arg(&daemon.socket);
    let transport = TokioChildProcess::new(cmd).expect("spawn msb-mcp");
    ().serve(transport)
        .await
        .expect("an MCP session with msb-mcp")
}

async fn call(client: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// The structured result of a call that must succeed.
async fn ok(client: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> Value {
    let result = call(client, tool, args).await;
    assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
    result.structured_content.expect("structured content")
}

#[test]
fn rmcp_lists_the_tools_and_runs_a_command() {
    let daemon = Daemon::start(&[]);
    runtime().block_on(async {
        let client = connect(&daemon).await;
        let tools = client.list_all_tools().await.expect("tools/list");
        let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "execute_code",
                "execute_command",
                "get_session_logs",
                "get_sessions",
                "read_file",
                "stop_session",
                "write_file"
            ]
        );
        let run = ok(
            &client,
            "execute_command",
            json!({"command": "echo $((6 * 7))"}),
        )
        .await;
        assert_eq!(run["stdout"], "42\n", "{run}");
        assert_eq!(run["session_created"], true, "{run}");
        let error = call(&client, "stop_session", json!({"session_id": "nope"})).await;
        assert_eq!(error.is_error, Some(true), "{error:?}");
        let code = &error.structured_content.expect("an error document")["error"]["code"];
        assert_eq!(code, "unknown_session");
        client.cancel().await.expect("close the MCP session");
    });
    daemon.finish();
}

#[test]
fn a_session_lives_on_across_an_msbd_restart_on_the_same_connection() {
    let mut daemon = Daemon::start(&NO_CLEANUP);
    runtime().block_on(async {
        let client = connect(&daemon).await;
        let first = ok(
            &client,
            "execute_command",
            json!({"command": "echo kept > kept.txt"}),
        )
        .await;
        let session = first["session_id"]
            .as_str()
            .expect("session id")
            .to_string();

        daemon.kill();
        let down = call(&client, "get_sessions", json!({})).await;
        let error = down.structured_content.expect("an error document");
        assert_eq!(error["error"]["code"], "unreachable", "{error}");
        daemon.spawn(&NO_CLEANUP);

        let again = ok(
            &client,
            "execute_command",
            json!({"command": "cat kept.txt", "session_id": session}),
        )
        .await;
        assert_eq!(again["stdout"], "kept\n", "{again}");
        assert_eq!(again["session_created"], false, "{again}");
        client.cancel().await.expect("close the MCP session");
    });
    daemon.finish();
}
