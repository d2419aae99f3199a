//! `msbctl status --watch`: redrawn in place on a terminal, one snapshot after the other
//! elsewhere (one JSON document a line with `--json`).

use msb_tests::{bin, Daemon, Lines};
use std::process::Command;

/// What puts a terminal's cursor home and clears it.
const REDRAW: &str = "\x1b[H\x1b[2J";

#[test]
fn a_watch_prints_snapshot_after_snapshot_when_not_on_a_terminal() {
    let daemon = Daemon::start(&[]);
    let watch = Lines::spawn(daemon.ctl_command(&["status", "--watch", "--interval", "200ms"]));
    let read = watch.until("a second snapshot", |line| {
        line.starts_with("every 200ms, at ")
    });
    let read = [
        read,
        watch.until("a third snapshot", |line| {
            line.starts_with("every 200ms, at ")
        }),
    ]
    .concat();
    assert!(
        read.iter().any(|l| l.contains("session-cleanup")),
        "{read:#?}"
    );
    assert!(
        !read.iter().any(|l| l.contains('\x1b')),
        "no terminal control on a pipe: {read:#?}"
    );

    let json = Lines::spawn(daemon.ctl_command(&["--json", "status", "-w", "--interval", "100ms"]));
    for _ in 0..2 {
        let line = json.next();
        let report: serde_json::Value = serde_json::from_str(&line).expect("one document a line");
        assert_eq!(report["overall"], "healthy", "{report}");
    }

    let run = daemon.ctl(&["status", "--watch", "--interval", "10ms"]);
    assert_eq!(
        run.code, 2,
        "too short an interval is a usage error: {run:?}"
    );
    assert!(run.stderr.contains("100ms"), "{run:?}");
    let run = daemon.ctl(&["status", "--interval", "1s"]);
    assert_eq!(run.code, 2, "--interval needs --watch: {run:?}");
    drop((watch, json));
    daemon.finish();
}

#[test]
fn a_watch_redraws_in_place_on_a_terminal() {
    let daemon = Daemon::start(&[]);
    // script(1) gives msbctl a terminal of its own and copies what it shows to our pipe.
    let line = format!(
        "{} --socket {} status --watch --interval 200ms",
        bin("msbctl").display(),
        daemon.socket.display()
    );
    let mut script = Command::new("script");
    script.args(["-qfec", &line, "/dev/null"]);
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: script(1) (util-linux) is not installed to give msbctl a terminal");
        return;
    }
    let shown = Lines::spawn(script);
    shown.until("a first redraw", |l| l.contains(REDRAW));
    let read = shown.until("a second redraw", |l| l.contains(REDRAW));
    assert!(
        read.iter().any(|l| l.contains("session-cleanup")),
        "the status in between: {read:#?}"
    );
    drop(shown);
    daemon.finish();
}
