//! `msbctl metrics` and `--metrics-listen`: the Prometheus text format, checked by a strict
//! parser of its own (and by promtool where it is installed), with counters that match
//! `status`.

use msb_tests::Daemon;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

/// One series: its name and labels.
type Series = (String, BTreeMap<String, String>);

/// What an exposition holds: each family's type, and every series' value.
#[derive(Debug, Default)]
struct Exposition {
    types: BTreeMap<String, String>,
    samples: BTreeMap<Series, f64>,
}

impl Exposition {
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let series = (
            name.to_string(),
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        *self
            .samples
            .get(&series)
            .unwrap_or_else(|| panic!("no {name}{labels:?}"))
    }

    /// The values of `name` by the value of its one label `label`.
    fn by(&self, name: &str, label: &str) -> BTreeMap<String, f64> {
        self.samples
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|((_, labels), v)| (labels[label].clone(), *v))
            .collect()
    }
}

fn metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn label_name(name: &str) -> bool {
    metric_name(name) && !name.contains(':')
}

fn number(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// Parses `{a="x",b="y\"z"}` (the braces included) into labels; returns them and the rest.
fn labels(text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = text.strip_prefix('{').ok_or("no {")?;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (name, after) = rest.split_once("=\"").ok_or("a label without =\"")?;
        if !label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().ok_or("an unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("a dangling escape")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    other => return Err(format!("bad escape \\{other}")),
                },
                (_, '\n') => return Err("a newline in a label value".into()),
                (_, c) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Parses the text format 0.0.4 strictly: every line well formed, a family's TYPE before its
/// samples and its samples together, no series twice, histograms cumulative and complete.
fn parse(text: &str) -> Result<Exposition, String> {
    if !text.ends_with('\n') {
        return Err("the last line has no line end".into());
    }
    let mut out = Exposition::default();
    let mut helps = BTreeSet::new();
    let mut finished = BTreeSet::new();
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let fail = |why: String| format!("line {}: {why}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("HELP"), Some(name), Some(_)) => {
                    let first = metric_name(name) && helps.insert(name.to_string());
                    if !first {
                        return Err(fail("a bad or second HELP".into()));
                    }
                }
                (Some("TYPE"), Some(name), Some(kind)) => {
                    let known = ["counter", "gauge", "histogram", "summary", "untyped"];
                    if !metric_name(name) || !known.contains(&kind) {
                        return Err(fail("a bad TYPE".into()));
                    }
                    if out.types.insert(name.into(), kind.into()).is_some() {
                        return Err(fail("a second TYPE".into()));
                    }
                    if let Some(done) = current.replace(name.to_string()) {
                        finished.insert(done);
                    }
                }
                (Some("HELP" | "TYPE"), ..) => return Err(fail("an incomplete line".into())),
                _ => {}
            }
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| fail("no value".into()))?;
        let name = &line[..name_end];
        if !metric_name(name) {
            return Err(fail("a bad metric name".into()));
        }
        let (series_labels, rest) = if line[name_end..].starts_with('{') {
            labels(&line[name_end..]).map_err(fail)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let mut fields = rest
            .strip_prefix(' ')
            .ok_or_else(|| fail("no space before the value".into()))?
            .split(' ');
        let value = fields
            .next()
            .and_then(number)
            .ok_or_else(|| fail("a bad value".into()))?;
        if let Some(stamp) = fields.next() {
            stamp
                .parse::<i64>()
                .map_err(|_| fail("a bad timestamp".into()))?;
        }
        if fields.next().is_some() {
            return Err(fail("more after the timestamp".into()));
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|suffix| name.strip_suffix(suffix))
            .find(|base| out.types.get(*base).is_some_and(|t| t == "histogram"))
            .unwrap_or(name);
        if current.as_deref() != Some(family) || finished.contains(family) {
            return Err(fail(format!(
                "a sample outside its family's group ({family})"
            )));
        }
        if out.types[family] == "counter" && (value < 0.0 || value.is_nan()) {
            return Err(fail("a negative counter".into()));
        }
        if out
            .samples
            .insert((name.to_string(), series_labels), value)
            .is_some()
        {
            return Err(fail("a series twice".into()));
        }
    }
    check_histograms(&out)?;
    Ok(out)
}

/// Each histogram series has cumulative buckets ending in `+Inf`, equal to its `_count`.
fn check_histograms(out: &Exposition) -> Result<(), String> {
    for (family, _) in out.types.iter().filter(|(_, t)| *t == "histogram") {
        let mut buckets: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        for ((name, labels), value) in &out.samples {
            if *name == format!("{family}_bucket") {
                let mut rest = labels.clone();
                let le = rest
                    .remove("le")
                    .ok_or(format!("{family}: a bucket without le"))?;
                let le = number(&le).ok_or(format!("{family}: bad le {le}"))?;
                buckets.entry(rest).or_default().push((le, *value));
            }
        }
        if buckets.is_empty() {
            return Err(format!("{family}: no buckets"));
        }
        for (labels, mut series) in buckets {
            series.sort_by(|a, b| a.0.total_cmp(&b.0));
            if !series.windows(2).all(|w| w[0].1 <= w[1].1) {
                return Err(format!("{family}{labels:?}: buckets not cumulative"));
            }
            let last = series.last().ok_or("no bucket")?;
            let count = out
                .samples
                .get(&(format!("{family}_count"), labels.clone()));
            let sum = out.samples.get(&(format!("{family}_sum"), labels.clone()));
            if last.0 != f64::INFINITY || count != Some(&last.1) || sum.is_none() {
                return Err(format!(
                    "{family}{labels:?}: +Inf, _count or _sum missing or off"
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn the_parser_refuses_what_the_format_does_not_allow() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\\\"\"} 2\n";
    assert!(parse(good).is_ok(), "{:?}", parse(good));
    for bad in [
        "# TYPE a counter\na 1",
        "a 1\n",
        "# TYPE a gauge\na{x=\"1\"} one\n",
        "# TYPE a gauge\na{x=1} 1\n",
        "# TYPE a gauge\na 1\na 2\n",
        "# TYPE a gauge\n# TYPE b gauge\na 1\n",
        "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n",
        "# TYPE a counter\na -1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE 1a gauge\n1a 1\n",
    ] {
        assert!(parse(bad).is_err(), "accepted: {bad:?}");
    }
}

/// Checks the exposition with promtool where it is installed; says so where it is not.
fn promtool(text: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("skipped the promtool check: promtool is not installed (Debian's prometheus package has it)");
        return;
    };
    child
        .stdin
        .take()
        .expect("its stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let checked = child.wait_with_output().expect("promtool ends");
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

fn metrics(daemon: &Daemon) -> Exposition {
    let run = daemon.ctl(&["metrics"]);
    assert_eq!(run.code, 0, "{run:?}");
    promtool(&run.stdout);
    parse(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{}", run.stdout))
}

/// What `status` counts, without what changes by the moment (next runs, uptime).
fn counters(status: &Value) -> Value {
    let tasks: Vec<Value> = status["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            serde_json::json!([
                t["name"],
                t["state"],
                t["cycles"],
                t["failed_cycles"],
                t["restarts"],
                t["processed_total"]
            ])
        })
        .collect();
    serde_json::json!([tasks, status["sessions"], status["resources"]["by_flavor"]])
}

/// The status and the metrics, read so that nothing was counted in between.
fn steady(daemon: &Daemon, read: impl Fn() -> Exposition) -> (Value, Exposition) {
    msb_tests::wait_until("a status that holds still while metrics are read", || {
        let before = daemon.status();
        let metrics = read();
        let after = daemon.status();
        (counters(&before) == counters(&after)).then_some((after, metrics))
    })
}

fn check_against_status(status: &Value, metrics: &Exposition) {
    for task in status["tasks"].as_array().expect("tasks") {
        let name = task["name"].as_str().expect("a name");
        let labels = [("task", name)];
        for (metric, field) in [
            ("msbd_task_cycles_total", "cycles"),
            ("msbd_task_failed_cycles_total", "failed_cycles"),
            ("msbd_task_restarts_total", "restarts"),
            ("msbd_task_processed_total", "processed_total"),
        ] {
            assert_eq!(
                metrics.value(metric, &labels),
                task[field].as_f64().expect("a count"),
                "{metric} of {name}"
            );
        }
        let state = task["state"].as_str().expect("a state");
        assert_eq!(
            metrics.value("msbd_task_state", &[("task", name), ("state", state)]),
            1.0
        );
        assert_eq!(
            metrics
                .samples
                .iter()
                .filter(|((n, l), v)| n == "msbd_task_state" && l["task"] == name && **v == 1.0)
                .count(),
            1,
            "one state at a time"
        );
        let cycles = metrics.value("msbd_task_cycle_duration_seconds_count", &labels);
        assert_eq!(cycles, task["cycles"].as_f64().expect("cycles"), "{name}");
        // Cycles of microseconds count: durations are not cut to whole milliseconds.
        let took = metrics.value("msbd_task_cycle_duration_seconds_sum", &labels);
        assert!(
            cycles == 0.0 || took > 0.0,
            "{name}: {cycles} cycles took {took} s in all"
        );
    }
    let live: f64 = metrics
        .by("msbd_sessions", "status")
        .iter()
        .filter(|(status, _)| *status != "ended")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(live, status["sessions"]["active"].as_f64().expect("active"));
    let flavors = &status["resources"]["by_flavor"];
    for (flavor, count) in metrics.by("msbd_sessions_by_flavor", "flavor") {
        assert_eq!(
            count,
            flavors[&flavor].as_f64().expect("a count"),
            "{flavor}"
        );
    }
    assert_eq!(
        metrics.value("msbd_evictions_total", &[]),
        status["resources"]["evictions"]
            .as_f64()
            .expect("evictions")
    );
    assert_eq!(
        metrics.value("msbd_sessions_limit", &[]),
        status["sessions"]["max"].as_f64().expect("max")
    );
}

#[test]
fn metrics_parse_as_prometheus_text_and_match_status() {
    let daemon = Daemon::start(&[
        "--max-sessions",
        "2",
        "--cleanup-interval",
        "1h",
        "--orphan-cleanup-interval",
        "1h",
    ]);
    daemon.json(&["sessions", "create", "--id", "a", "--flavor", "medium"]);
    daemon.json(&["sessions", "create", "--id", "b"]);
    // A third evicts the least recently used.
    daemon.json(&["sessions", "create", "--id", "c"]);
    let run = daemon.ctl(&["sessions", "exec", "c", "--", "sh", "-c", "exit 3"]);
    assert_eq!(run.code, 3, "{run:?}");
    daemon.json(&["run", "session-cleanup"]);
    daemon.json(&["pause", "orphan-cleanup"]);

    let (status, metrics) = steady(&daemon, || metrics(&daemon));
    check_against_status(&status, &metrics);
    assert_eq!(metrics.value("msbd_evictions_total", &[]), 1.0);
    assert_eq!(
        metrics.value("msbd_sessions", &[("status", "ready")]),
        2.0,
        "{:?}",
        metrics.by("msbd_sessions", "status")
    );
    assert_eq!(
        metrics.value("msbd_execs_total", &[("outcome", "failed")]),
        1.0
    );
    assert_eq!(metrics.value("msbd_exec_duration_seconds_count", &[]), 1.0);
    assert_eq!(
        metrics.value(
            "msbd_task_state",
            &[("task", "orphan-cleanup"), ("state", "paused")]
        ),
        1.0
    );
    assert_eq!(
        metrics.value("msbd_events_total", &[("kind", "session_evicted")]),
        1.0
    );
    assert!(metrics.value("msbd_connections_admitted_total", &[]) > 5.0);
    assert_eq!(metrics.value("msbd_store_errors_total", &[]), 0.0);
    for (name, kind) in [
        ("msbd_task_cycle_duration_seconds", "histogram"),
        ("msbd_exec_duration_seconds", "histogram"),
        ("msbd_orphans_reaped_total", "counter"),
        ("msbd_connections", "gauge"),
        ("msbd_store_degraded", "gauge"),
        ("msbd_events_missed_total", "counter"),
    ] {
        assert_eq!(
            metrics.types.get(name).map(String::as_str),
            Some(kind),
            "{name}"
        );
    }
    daemon.finish();
}

/// Sends `request` to the HTTP listener as a plain TCP client; returns the whole answer.
fn http(port: u16, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.write_all(request).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read to the end");
    answer
}

#[test]
fn metrics_listen_serves_the_same_metrics_over_http() {
    // A port nobody holds right now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let daemon = Daemon::start(&["--metrics-listen", &listen]);

    let answer = http(port, b"GET /metrics HTTP/1.1\r\nHost: msbd\r\n\r\n");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Content-Length: {}\r\n", body.len())),
        "{head}"
    );
    promtool(body);
    let served = parse(body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    let (status, metrics) = steady(&daemon, || metrics(&daemon));
    check_against_status(&status, &served);
    assert_eq!(
        served.types, metrics.types,
        "the same families as msbctl metrics"
    );

    for (request, code) in [
        (&b"GET /other HTTP/1.1\r\n\r\n"[..], "404"),
        (b"DELETE /metrics HTTP/1.1\r\n\r\n", "405"),
        (b"nonsense\r\n\r\n", "400"),
        (b"GET /metrics HTTP/1.1\r\n", "400"),
    ] {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.write_all(request).expect("send");
        stream
            .shutdown(std::net::Shutdown::Write)
            .expect("end the request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {code} ")),
            "{request:?}: {answer}"
        );
    }
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n",
        "x".repeat(16 * 1024)
    );
    assert!(http(port, huge.as_bytes()).starts_with("HTTP/1.1 431 "));

    // A second msbd cannot take the port, and says which setting holds it.
    let other = tempfile::tempdir().expect("tempdir");
    let refused = Command::new(msb_tests::bin("msbd"))
        .arg("--socket")
        .arg(other.path().join("msbd.sock"))
        .arg("--state-dir")
        .arg(other.path().join("state"))
        .args(["--metrics-listen", &listen])
        .env_remove("MSB_SOCKET")
        .output()
        .expect("run msbd");
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--metrics-listen") && stderr.contains(&listen),
        "{stderr}"
    );
    assert!(
        !other.path().join("msbd.sock").exists(),
        "nothing bound before it failed"
    );
    daemon.finish();
}
