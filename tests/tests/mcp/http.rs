//! msb-mcp over streamable HTTP: the same tools, a bearer token where one is set, and no
//! address off loopback without one.

use super::{passed, scenario, HttpServer, Via};
use msb_tests::{bin, Daemon};
use std::process::Command;

#[test]
fn over_http_the_tools_work_and_agents_are_kept_apart() {
    let daemon = Daemon::start(&[]);
    let server = HttpServer::start(&daemon, &[]);
    for name in ["tools", "reuse", "private", "cancel"] {
        let via = Via::Http {
            url: &server.url,
            token: None,
        };
        passed(scenario(name, &daemon.socket, via), name, &daemon);
    }
    drop(server);
    daemon.finish();
}

#[test]
fn with_a_token_file_every_request_must_carry_the_token() {
    let daemon = Daemon::start(&[]);
    let token_file = daemon.dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token\n").expect("write the token");
    let token_arg = token_file.to_str().expect("utf-8 path");
    let server = HttpServer::start(&daemon, &["--token-file", token_arg]);
    let with = Via::Http {
        url: &server.url,
        token: Some("s3cret-token"),
    };
    passed(scenario("reuse", &daemon.socket, with), "reuse", &daemon);
    for token in [None, Some("wrong-token")] {
        let via = Via::Http {
            url: &server.url,
            token,
        };
        passed(scenario("refused", &daemon.socket, via), "refused", &daemon);
    }
    // Nothing was run for the refused clients.
    assert_eq!(
        daemon.session_ids(&[]).len(),
        1,
        "{:?}",
        daemon.session_ids(&[])
    );
    drop(server);
    daemon.finish();
}

#[test]
fn an_address_off_loopback_needs_a_token_file() {
    let daemon = Daemon::unstarted();
    let socket = daemon.socket.to_str().expect("utf-8 path");
    let run = |args: &[&str]| {
        Command::new(bin("msb-mcp"))
            .args(["--socket", socket])
            .args(args)
            .output()
            .expect("run msb-mcp")
    };
    let refused = run(&["--http", "0.0.0.0:0"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("--token-file") && stderr.contains("0.0.0.0"),
        "{stderr}"
    );

    let missing = daemon.dir.path().join("no-token");
    let missing = missing.to_str().expect("utf-8 path");
    let refused = run(&["--http", "0.0.0.0:0", "--token-file", missing]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains(missing), "{stderr}");

    let empty = daemon.dir.path().join("empty-token");
    std::fs::write(&empty, "  \n").expect("write");
    let refused = run(&[
        "--http",
        "127.0.0.1:0",
        "--token-file",
        empty.to_str().expect("utf-8"),
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("one token"), "{stderr}");
}
