//! The official MCP Python SDK drives msb-mcp over stdio, as an agent host does.

use super::{passed, scenario, Via};
use msb_tests::Daemon;

/// Runs `name` against a fresh msbd with msb-mcp started with `args`, then stops msbd and
/// checks that no sandbox is left.
fn stdio(name: &str, args: &[&str]) {
    let daemon = Daemon::start(&[]);
    passed(
        scenario(name, &daemon.socket, Via::Stdio(args)),
        name,
        &daemon,
    );
    daemon.finish();
}

#[test]
fn tools_are_listed_with_their_schemas() {
    stdio("tools", &[]);
}

#[test]
fn operator_tools_are_listed_only_when_asked_for() {
    stdio("tools", &["--operator-tools"]);
}

#[test]
fn python_prints_45_and_a_second_call_sees_the_first_ones_file() {
    stdio("reuse", &[]);
}

#[test]
fn output_streams_as_progress_while_the_command_runs() {
    stdio("progress", &[]);
}

#[test]
fn a_timeout_reports_timed_out_and_leaves_no_process() {
    stdio("timeout", &[]);
}

#[test]
fn a_cancelled_call_kills_its_command() {
    stdio("cancel", &[]);
}

#[test]
fn files_go_in_and_come_out_within_the_read_limit() {
    stdio("files", &["--max-read", "4096"]);
}

#[test]
fn a_stopped_session_is_gone_for_the_agent() {
    stdio("stop", &[]);
}

#[test]
fn an_unknown_session_is_an_error_unless_create_if_missing() {
    stdio("unknown", &[]);
}

#[test]
fn an_agent_neither_sees_nor_touches_another_agents_session() {
    stdio("private", &[]);
}

#[test]
fn share_sessions_lets_agents_work_in_each_others_sessions() {
    stdio("shared", &["--share-sessions"]);
}

#[test]
fn operator_tools_do_what_msbctl_does() {
    stdio("operator", &["--operator-tools"]);
}

#[test]
fn msbd_unreachable_is_an_error_naming_the_socket() {
    let daemon = Daemon::unstarted();
    let run = scenario("unreachable", &daemon.socket, Via::Stdio(&[]));
    passed(run, "unreachable", &daemon);
}
