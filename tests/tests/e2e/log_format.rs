//! msbd's own log: `--log-format json` writes one JSON object a line; text is coloured only
//! on a terminal, and never with NO_COLOR set.

use msb_tests::{bin, Daemon, Lines};
use serde_json::Value;
use std::process::Command;

#[test]
fn the_json_log_is_one_object_per_line() {
    let mut daemon = Daemon::start_with(
        &[],
        |_| {},
        |cmd| {
            cmd.env("MSB_LOG_FORMAT", "json");
        },
    );
    let run = daemon.ctl(&["stop"]);
    assert_eq!(run.code, 0, "{run:?}");
    daemon.wait_exit();
    let log = daemon.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let ready = lines
        .iter()
        .find(|l| l["message"] == "msbd is ready")
        .unwrap_or_else(|| panic!("no ready line: {log}"));
    assert_eq!(ready["level"], "INFO");
    assert!(ready["socket"].is_string(), "fields are keys: {ready}");
    assert!(ready["timestamp"].is_string(), "{ready}");
    assert!(!log.contains('\x1b'), "no colour in JSON");
    daemon.finish();
}

/// What msbd writes on a terminal from its start to its stop, with `no_color` as NO_COLOR.
fn on_a_terminal(no_color: Option<&str>) -> Option<String> {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: script(1) (util-linux) is not installed to give msbd a terminal");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("msbd.sock");
    let line = format!(
        "{} --socket {} --state-dir {}",
        bin("msbd").display(),
        socket.display(),
        dir.path().join("state").display()
    );
    let mut script = Command::new("script");
    script
        .args(["-qfec", &line, "/dev/null"])
        .env_remove("MSB_SOCKET")
        .env("MSBD_LOG", "info");
    match no_color {
        Some(value) => script.env("NO_COLOR", value),
        None => script.env_remove("NO_COLOR"),
    };
    let shown = Lines::spawn(script);
    let mut read = shown.until("msbd to be ready", |l| l.contains("msbd is ready"));
    let stop = msb_tests::msbctl(&socket, &["stop"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    read.extend(shown.until("the end of the shutdown", |l| l.contains("shutdown clean")));
    Some(read.join("\n"))
}

#[test]
fn the_text_log_is_coloured_only_on_a_terminal_and_never_with_no_color() {
    let Some(coloured) = on_a_terminal(None) else {
        return;
    };
    assert!(
        coloured.contains("\x1b["),
        "colour on a terminal: {coloured}"
    );
    let plain = on_a_terminal(Some("1")).expect("script is there");
    assert!(!plain.contains('\x1b'), "NO_COLOR=1: {plain}");
    let empty = on_a_terminal(Some("")).expect("script is there");
    assert!(
        empty.contains("\x1b["),
        "an empty NO_COLOR does not count: {empty}"
    );
    let daemon = Daemon::start(&[]);
    assert!(
        !daemon.log().contains('\x1b'),
        "no colour in a file: {}",
        daemon.log()
    );
    daemon.finish();
}
