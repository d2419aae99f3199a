//! Sample messages shared by the golden-byte and the decoder tests: one for every variant of
//! every wire enum, with every `Option` set and every collection non-empty, so that each
//! field contributes bytes to some encoding.

// Each test binary uses only part of this module.
#![allow(dead_code)]

use msb_proto::frame::{decode, encode};
use msb_proto::*;
use serde::de::{self, DeserializeOwned, Visitor};
use std::collections::BTreeMap;

/// One top-level message, whatever its type on the wire.
// Samples are few and short-lived, so boxing the large `Response` would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Message {
    Hello(Hello),
    Handshake(HandshakeReply),
    Request(Request),
    Response(Response),
}

impl Message {
    /// The complete frame, length prefix included.
    pub fn frame(&self) -> Vec<u8> {
        match self {
            Self::Hello(v) => encode(v),
            Self::Handshake(v) => encode(v),
            Self::Request(v) => encode(v),
            Self::Response(v) => encode(v),
        }
        .expect("every sample fits in a frame")
    }

    /// Decodes `body` as this message's type and says whether it is this message.
    pub fn decodes_back(&self, body: &[u8]) -> Result<bool, FrameError> {
        Ok(match self {
            Self::Hello(v) => decode::<Hello>(body)? == *v,
            Self::Handshake(v) => decode::<HandshakeReply>(body)? == *v,
            Self::Request(v) => decode::<Request>(body)? == *v,
            Self::Response(v) => decode::<Response>(body)? == *v,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Sample {
    /// `family.variant`, such as `request.status` or `error_code.conflict`.
    pub name: String,
    pub message: Message,
}

// The name functions have no `_` arm, so a new variant does not compile until it is named
// here; `golden.rs` then fails until that name has a sample.

pub fn request_name(request: &Request) -> &'static str {
    match request {
        Request::Status(_) => "status",
        Request::Health => "health",
        Request::Restart(_) => "restart",
        Request::Pause(_) => "pause",
        Request::Resume(_) => "resume",
        Request::RunNow(_) => "run_now",
        Request::Shutdown(_) => "shutdown",
        Request::SessionList(_) => "session_list",
        Request::SessionShow(_) => "session_show",
        Request::SessionCreate(_) => "session_create",
        Request::SessionTouch(_) => "session_touch",
        Request::SessionStop(_) => "session_stop",
        Request::Fault(_) => "fault",
        Request::SessionMark(_) => "session_mark",
        Request::Orphans => "orphans",
        Request::Exec(_) => "exec",
        Request::Input(_) => "input",
        Request::CopyIn(_) => "copy_in",
        Request::CopyOut(_) => "copy_out",
        Request::Logs(_) => "logs",
        Request::Config => "config",
        Request::Events(_) => "events",
        Request::Metrics => "metrics",
        Request::SessionIds(_) => "session_ids",
    }
}

pub fn response_name(response: &Response) -> &'static str {
    match response {
        Response::Error(_) => "error",
        Response::Status(_) => "status",
        Response::Health(_) => "health",
        Response::Tasks(_) => "tasks",
        Response::Cycle(_) => "cycle",
        Response::Progress(_) => "progress",
        Response::Stopped(_) => "stopped",
        Response::Sessions(_) => "sessions",
        Response::Session(_) => "session",
        Response::Ack(_) => "ack",
        Response::Orphans(_) => "orphans",
        Response::ExecStarted(_) => "exec_started",
        Response::ExecOutput(_) => "exec_output",
        Response::ExecExit(_) => "exec_exit",
        Response::Copied(_) => "copied",
        Response::Log(_) => "log",
        Response::LogEnd(_) => "log_end",
        Response::Config(_) => "config",
        Response::Event(_) => "event",
        Response::EventsMissed(_) => "events_missed",
        Response::Metrics(_) => "metrics",
        Response::SessionIds(_) => "session_ids",
    }
}

pub fn handshake_name(reply: &HandshakeReply) -> &'static str {
    match reply {
        HandshakeReply::Welcome(_) => "welcome",
        HandshakeReply::Refused(_) => "refused",
    }
}

pub fn task_selection_name(selection: &TaskSelection) -> &'static str {
    match selection {
        TaskSelection::All => "all",
        TaskSelection::Named(_) => "named",
    }
}

/// The variant names serde knows for enum `T`, in declaration order (which is bincode's
/// variant index), after the enum's own `rename_all`.
pub fn variants<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut seen = None;
    // The probe always fails; all it is for is the variant list handed to it.
    let _ = T::deserialize(VariantProbe(&mut seen));
    seen.expect("the type is an enum")
}

/// A deserializer that records the variant list serde passes to `deserialize_enum`.
struct VariantProbe<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for VariantProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not an enum"))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(variants);
        Err(de::Error::custom("variants recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

/// `SessionList` -> `session_list`; names already in snake or lower case stay as they are.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Every variant of a field-less enum with its snake-case name, found by decoding each
/// variant index, so a new variant gets a sample without anyone listing it.
pub fn unit_variants<E: DeserializeOwned>() -> Vec<(String, E)> {
    variants::<E>()
        .iter()
        .enumerate()
        .map(|(index, name)| {
            // bincode's varint is a single byte below 251.
            let index = u8::try_from(index).expect("fewer than 251 variants");
            assert!(index < 251, "fewer than 251 variants");
            let value = decode::<E>(&[index]).expect("a field-less variant decodes from its index");
            (snake_case(name), value)
        })
        .collect()
}

fn named(family: &str, variant: &str, message: Message) -> Sample {
    Sample {
        name: format!("{family}.{variant}"),
        message,
    }
}

fn request(request: Request) -> Sample {
    named("request", request_name(&request), Message::Request(request))
}

fn response(response: Response) -> Sample {
    named(
        "response",
        response_name(&response),
        Message::Response(response),
    )
}

fn handshake(reply: HandshakeReply) -> Sample {
    named(
        "handshake",
        handshake_name(&reply),
        Message::Handshake(reply),
    )
}

/// One sample per variant of field-less enum `E`, each wrapped in a message by `wrap`.
fn unit_family<E: DeserializeOwned>(family: &str, wrap: impl Fn(E) -> Message) -> Vec<Sample> {
    unit_variants::<E>()
        .into_iter()
        .map(|(variant, value)| named(family, &variant, wrap(value)))
        .collect()
}

// Fields of one type in one struct get distinct values, so that swapping two of them
// changes the bytes too.

fn s(text: &str) -> String {
    text.to_owned()
}

fn both_tasks() -> TaskSelection {
    TaskSelection::Named(vec![s("session-cleanup"), s("orphan-cleanup")])
}

fn error_body(code: ErrorCode) -> ErrorBody {
    ErrorBody::new(code, "session sb-7 is being stopped")
}

fn cycle_report(outcome: CycleOutcome) -> CycleReport {
    CycleReport {
        task: s("orphan-cleanup"),
        started_at: 1_700_000_000,
        duration_ms: 1_234,
        outcome,
        processed: 7,
        error: Some(s("sandbox sb-3 did not stop")),
        counts: BTreeMap::from([(s("found"), 3), (s("stopped"), 2), (s("failed"), 1)]),
    }
}

fn task_status() -> TaskStatus {
    TaskStatus {
        name: s("session-cleanup"),
        state: TaskState::Paused,
        health: Health::Degraded,
        interval_secs: 2.5,
        cycles: 41,
        failed_cycles: 3,
        consecutive_failures: 2,
        restarts: 1,
        processed_total: 977,
        paused_until: Some(1_700_000_600),
        last_cycle: Some(cycle_report(CycleOutcome::Interrupted)),
        last_error: Some(s("store is read-only")),
        pause: Some(PauseInfo {
            by_uid: Some(1000),
            reason: Some(s("maintenance")),
            since: 1_700_000_100,
            until: Some(1_700_000_700),
            remaining_ms: Some(590_000),
        }),
        state_since: 1_700_000_101,
        next_run_in_ms: Some(2_000),
        reason: Some(s("paused by uid 1000")),
    }
}

fn store_health(health: Health) -> StoreHealth {
    StoreHealth {
        health,
        path: s("/var/lib/msbd/sessions.db"),
        error: Some(s("disk full")),
        since: Some(1_700_000_200),
    }
}

fn status_report() -> StatusReport {
    StatusReport {
        overall: Health::Degraded,
        daemon: DaemonInfo {
            version: s("0.1.0"),
            pid: 4242,
            uptime_secs: 86_400,
            backend: s("microsandbox"),
            socket: s("/run/msbd/msbd.sock"),
            state_dir: s("/var/lib/msbd"),
        },
        tasks: vec![task_status()],
        sessions: SessionsSummary {
            active: 5,
            max: 20,
            adopted: 2,
            lost_at_start: 1,
        },
        resources: ResourceReport {
            sessions: Usage {
                used: 5,
                max: Some(20),
            },
            memory_mb: Usage {
                used: 6_144,
                max: Some(16_384),
            },
            cpus: Usage {
                used: 6,
                max: Some(8),
            },
            by_flavor: FlavorCounts {
                small: 3,
                medium: 1,
                large: 2,
            },
            lru_eviction: true,
            evictions: 9,
            isolation: s("namespaces"),
            fds: FdBudget {
                limit: 65_536,
                reserved: 256,
                per_sandbox: 16,
                max_sandboxes: 4_080,
                sandboxes: 5,
            },
        },
        store: store_health(Health::Degraded),
        config: ConfigStatus {
            file: s("/etc/msbd/msbd.toml"),
            found: true,
            loaded_at: 1_700_000_300,
            reloads: 2,
            changed: vec![config_change("cleanup_interval")],
            needs_restart: vec![config_change("socket")],
            last_error: Some(s(
                "invalid /etc/msbd/msbd.toml: max_sessions '0': must be at least 1",
            )),
        },
        backend: backend_health(Health::Degraded),
    }
}

fn backend_health(health: Health) -> BackendHealth {
    BackendHealth {
        health,
        check: Some(s("msb doctor")),
        reason: Some(s("CPU virtualization is not available")),
        checked_at: Some(1_700_000_400),
    }
}

fn config_change(name: &str) -> ConfigChange {
    ConfigChange {
        name: s(name),
        from: Some(s("1m")),
        to: Some(s("5s")),
    }
}

fn config_report(source: SettingSource) -> ConfigReport {
    ConfigReport {
        file: s("/etc/msbd/msbd.toml"),
        found: true,
        settings: vec![
            Setting {
                name: s("session_timeout"),
                value: Some(s("45s")),
                source,
            },
            Setting {
                name: s("socket_group"),
                value: None,
                source: SettingSource::Default,
            },
        ],
    }
}

fn health_report(health: Health) -> HealthReport {
    HealthReport {
        overall: health,
        tasks: vec![TaskHealth {
            name: s("orphan-cleanup"),
            state: TaskState::Backoff,
            health,
            reason: Some(s("3 failed cycles in a row")),
        }],
        store: store_health(health),
        backend: backend_health(health),
    }
}

fn task_action(result: ActionResult, state: TaskState) -> TaskAction {
    TaskAction {
        task: s("session-cleanup"),
        result,
        state,
        detail: Some(s("paused for 10m")),
    }
}

fn session_fate(fate: Fate) -> SessionFate {
    SessionFate {
        id: s("sb-1"),
        fate,
        error: Some(s("no such process")),
    }
}

fn stop_report(outcome: StopOutcome, sessions: Vec<SessionFate>) -> StopReport {
    StopReport {
        outcome,
        duration_ms: 1_500,
        sessions_total: 6,
        stopped: 1,
        killed: 2,
        failed: 3,
        sessions,
        kept: 4,
    }
}

fn session_info(id: &str) -> SessionInfo {
    SessionInfo {
        id: s(id),
        template: s("python"),
        flavor: Flavor::Large,
        status: SessionStatus::Processing,
        sandbox: format!("msb-{id}"),
        created_at: 1_700_000_000,
        last_accessed: 1_700_000_300,
        expires_in_secs: Some(1_800),
        error: Some(s("stop timed out")),
        busy_since: Some(1_700_000_250),
        details: Some(SandboxDetails {
            running: true,
            pid: Some(31_337),
            workdir: Some(s("/var/lib/msbd/sandboxes/sb-1")),
            isolation: s("namespaces"),
            cpus: 4,
            memory_mb: 4_096,
        }),
        fate: Some(Fate::Killed),
        exit: Some(SandboxExit {
            code: Some(3),
            signal: None,
            ended_at: 1_700_000_400,
            log_tail: vec![s("starting"), s("fatal: no config")],
        }),
        owner: Some(1_000),
        labels: Labels::from([(s("mcp.client"), s("claude"))]),
    }
}

fn exec_request(command: ExecCommand, stdin: ExecStdin, output: OutputMode) -> ExecRequest {
    ExecRequest {
        session_id: s("sb-1"),
        command,
        env: vec![EnvVar {
            name: s("LANG"),
            value: s("C.UTF-8"),
        }],
        workdir: Some(s("/work")),
        stdin,
        timeout_ms: Some(30_000),
        output,
        create: Some(CreateSession {
            template: Some(s("python")),
            flavor: Some(Flavor::Small),
            id: Some(s("sb-1")),
            labels: Labels::new(),
        }),
    }
}

fn copy_request() -> CopyRequest {
    CopyRequest {
        session_id: s("sb-1"),
        path: s("out/report.txt"),
    }
}

fn orphan_info() -> OrphanInfo {
    OrphanInfo {
        sandbox: s("msb-sb-9"),
        session_id: s("sb-9"),
        pid: Some(2_718),
        confirmed: true,
    }
}

/// One event of every kind.
fn event_kinds() -> Vec<EventKind> {
    vec![
        EventKind::TaskState {
            task: s("session-cleanup"),
            state: TaskState::Backoff,
            reason: Some(s("restarting after: cycle panicked")),
        },
        EventKind::Cycle {
            report: cycle_report(CycleOutcome::Ok),
        },
        EventKind::TaskRestarted {
            task: s("orphan-cleanup"),
            by_operator: true,
        },
        EventKind::TaskPaused {
            task: s("session-cleanup"),
            by_uid: Some(1000),
            reason: Some(s("backup")),
            until: Some(1_700_000_900),
        },
        EventKind::TaskResumed {
            task: s("session-cleanup"),
            by_uid: Some(1001),
            lease_ended: true,
        },
        EventKind::SessionCreated {
            session_id: s("sb-1"),
            template: s("python"),
            flavor: Flavor::Large,
            owner: Some(1002),
        },
        EventKind::SessionExpired {
            session_id: s("sb-2"),
            fate: Fate::Stopped,
        },
        EventKind::SessionEvicted {
            session_id: s("sb-3"),
            for_session: s("sb-4"),
            fate: Fate::Killed,
        },
        EventKind::SessionStopped {
            session_id: s("sb-5"),
            fate: Fate::Stopped,
        },
        EventKind::SessionEnded {
            session_id: s("sb-6"),
            code: Some(3),
            signal: Some(9),
        },
        EventKind::ExecStarted {
            session_id: s("sb-8"),
            program: s("python3"),
            by_uid: Some(1003),
        },
        EventKind::ExecEnded {
            session_id: s("sb-8"),
            exit_code: 124,
            timed_out: true,
            duration_ms: 5_001,
        },
        EventKind::ConfigReloaded {
            changed: vec![s("cleanup_interval"), s("session_timeout")],
        },
    ]
}

/// Every sample, with unique names, in a stable order.
pub fn samples() -> Vec<Sample> {
    let mut out = vec![
        Sample {
            name: s("hello"),
            message: Message::Hello(Hello {
                protocol: PROTOCOL,
                client: s("msbctl 0.1.0"),
            }),
        },
        handshake(HandshakeReply::Welcome(Welcome {
            protocol: PROTOCOL,
            version: s("0.1.0"),
            pid: 4242,
            started_at: 1_700_000_000,
        })),
        handshake(HandshakeReply::Refused(ErrorBody::new(
            ErrorCode::ProtocolMismatch,
            "client speaks protocol 1, daemon speaks 2",
        ))),
        request(Request::Status(StatusRequest {
            task: Some(s("session-cleanup")),
        })),
        request(Request::Health),
        request(Request::Restart(RestartRequest {
            tasks: both_tasks(),
            force: true,
        })),
        request(Request::Pause(PauseRequest {
            tasks: both_tasks(),
            for_ms: Some(600_000),
            reason: Some(s("maintenance")),
        })),
        request(Request::Resume(ResumeRequest {
            tasks: both_tasks(),
        })),
        request(Request::RunNow(RunNowRequest {
            task: s("orphan-cleanup"),
        })),
        request(Request::Shutdown(ShutdownRequest {
            timeout_ms: Some(30_000),
            keep_sandboxes: true,
        })),
        request(Request::SessionList(SessionFilter {
            status: Some(SessionStatus::Running),
            template: Some(s("python")),
            idle_longer_than_ms: Some(900_000),
            ended: true,
            labels: Labels::from([(s("team"), s("data"))]),
            limit: Some(100),
            offset: 200,
        })),
        request(Request::SessionShow(SessionRef { id: s("sb-1") })),
        request(Request::SessionCreate(CreateSession {
            template: Some(s("python")),
            flavor: Some(Flavor::Medium),
            id: Some(s("sb-2")),
            labels: Labels::from([
                (s("mcp.client"), s("claude")),
                (s("mcp.connection"), s("c-1")),
            ]),
        })),
        request(Request::SessionTouch(SessionRef { id: s("sb-3") })),
        request(Request::SessionStop(SessionRef { id: s("sb-4") })),
        request(Request::Fault(FaultRequest {
            task: s("session-cleanup"),
            fault: Fault::Hang,
        })),
        request(Request::SessionMark(MarkRequest {
            id: s("sb-5"),
            busy: true,
        })),
        request(Request::Orphans),
        response(Response::Error(error_body(ErrorCode::Conflict))),
        response(Response::Status(Box::new(status_report()))),
        response(Response::Health(health_report(Health::Unhealthy))),
        response(Response::Tasks(vec![
            task_action(ActionResult::Paused, TaskState::Paused),
            TaskAction {
                task: s("orphan-cleanup"),
                result: ActionResult::Skipped,
                state: TaskState::Running,
                detail: Some(s("already running")),
            },
        ])),
        response(Response::Cycle(cycle_report(CycleOutcome::Failed))),
        response(Response::Progress(s("stopping 3 sandboxes"))),
        response(Response::Stopped(stop_report(
            StopOutcome::Forced,
            vec![session_fate(Fate::Stopped), session_fate(Fate::Killed)],
        ))),
        response(Response::Sessions(vec![
            session_info("sb-1"),
            session_info("sb-2"),
        ])),
        response(Response::Session(Box::new(session_info("sb-1")))),
        response(Response::Ack(s("fault hang armed for session-cleanup"))),
        response(Response::Orphans(vec![orphan_info()])),
        request(Request::Exec(exec_request(
            ExecCommand::Argv(vec![s("python3"), s("-c"), s("print(1+1)")]),
            ExecStdin::Bytes(b"data".to_vec()),
            OutputMode::Collect,
        ))),
        request(Request::Input(Input::Data(b"print(45)\n".to_vec()))),
        request(Request::CopyIn(copy_request())),
        request(Request::CopyOut(copy_request())),
        request(Request::Logs(LogsRequest {
            session_id: s("sb-1"),
            follow: true,
            tail: Some(20),
        })),
        response(Response::ExecStarted(ExecStarted {
            session_id: s("sb-1"),
            session_created: true,
        })),
        response(Response::ExecOutput(ExecOutput {
            stream: OutputStream::Stderr,
            data: b"Traceback".to_vec(),
        })),
        response(Response::ExecExit(ExecExit {
            code: None,
            signal: Some(9),
            timed_out: true,
            cancelled: false,
            duration_ms: 1_002,
            truncated: true,
            dropped_bytes: 4_096,
        })),
        response(Response::Copied(CopyReport {
            session_id: s("sb-1"),
            path: s("out"),
            bytes: 10_240,
        })),
        response(Response::Log(b"started\n".to_vec())),
        response(Response::LogEnd(LogEnd { ended: true })),
        request(Request::Config),
        response(Response::Config(config_report(SettingSource::File))),
        request(Request::Events(EventsRequest { follow: true })),
        request(Request::Metrics),
        response(Response::Event(Event {
            at_ms: 1_700_000_000_123,
            kind: EventKind::SessionExpired {
                session_id: s("sb-1"),
                fate: Fate::Killed,
            },
        })),
        response(Response::EventsMissed(1_024)),
        response(Response::Metrics(s(
            "# TYPE msbd_evictions_total counter\nmsbd_evictions_total 2\n",
        ))),
        request(Request::SessionIds(SessionFilter {
            limit: Some(2),
            ..SessionFilter::default()
        })),
        response(Response::SessionIds(vec![s("sb-1"), s("sb-2")])),
    ];
    for kind in event_kinds() {
        out.push(named(
            "event_kind",
            kind.name(),
            Message::Response(Response::Event(Event {
                at_ms: 1_700_000_000_456,
                kind,
            })),
        ));
    }
    for command in [
        ExecCommand::Argv(vec![s("ls"), s("-l")]),
        ExecCommand::Shell(s("echo out; exit 7")),
        ExecCommand::Code(s("python")),
    ] {
        let name = match &command {
            ExecCommand::Argv(_) => "argv",
            ExecCommand::Shell(_) => "shell",
            ExecCommand::Code(_) => "code",
        };
        out.push(named(
            "exec_command",
            name,
            Message::Request(Request::Exec(exec_request(
                command,
                ExecStdin::None,
                OutputMode::Stream,
            ))),
        ));
    }
    for stdin in [
        ExecStdin::None,
        ExecStdin::Bytes(vec![0, 1, 255]),
        ExecStdin::Streamed,
    ] {
        let name = match &stdin {
            ExecStdin::None => "none",
            ExecStdin::Bytes(_) => "bytes",
            ExecStdin::Streamed => "streamed",
        };
        out.push(named(
            "exec_stdin",
            name,
            Message::Request(Request::Exec(exec_request(
                ExecCommand::Shell(s("cat")),
                stdin,
                OutputMode::Stream,
            ))),
        ));
    }
    for input in [Input::Data(b"line\n".to_vec()), Input::End, Input::Cancel] {
        let name = match &input {
            Input::Data(_) => "data",
            Input::End => "end",
            Input::Cancel => "cancel",
        };
        out.push(named(
            "input",
            name,
            Message::Request(Request::Input(input)),
        ));
    }
    out.extend(unit_family("output_mode", |output| {
        Message::Request(Request::Exec(exec_request(
            ExecCommand::Shell(s("true")),
            ExecStdin::None,
            output,
        )))
    }));
    out.extend(unit_family("output_stream", |stream| {
        Message::Response(Response::ExecOutput(ExecOutput {
            stream,
            data: b"chunk".to_vec(),
        }))
    }));
    for selection in [TaskSelection::All, both_tasks()] {
        out.push(named(
            "task_selection",
            task_selection_name(&selection),
            Message::Request(Request::Pause(PauseRequest {
                tasks: selection,
                for_ms: Some(60_000),
                reason: Some(s("deploy")),
            })),
        ));
    }
    out.extend(unit_family("error_code", |code| {
        Message::Response(Response::Error(error_body(code)))
    }));
    out.extend(unit_family("task_state", |state| {
        Message::Response(Response::Tasks(vec![task_action(
            ActionResult::Restarted,
            state,
        )]))
    }));
    out.extend(unit_family("health", |health| {
        Message::Response(Response::Health(health_report(health)))
    }));
    out.extend(unit_family("cycle_outcome", |outcome| {
        Message::Response(Response::Cycle(cycle_report(outcome)))
    }));
    out.extend(unit_family("action_result", |result| {
        Message::Response(Response::Tasks(vec![task_action(
            result,
            TaskState::Stopped,
        )]))
    }));
    out.extend(unit_family("fault", |fault| {
        Message::Request(Request::Fault(FaultRequest {
            task: s("orphan-cleanup"),
            fault,
        }))
    }));
    out.extend(unit_family("flavor", |flavor| {
        Message::Request(Request::SessionCreate(CreateSession {
            template: Some(s("node")),
            flavor: Some(flavor),
            id: Some(s("sb-6")),
            labels: Labels::new(),
        }))
    }));
    out.extend(unit_family("session_status", |status| {
        Message::Request(Request::SessionList(SessionFilter {
            status: Some(status),
            template: Some(s("node")),
            idle_longer_than_ms: Some(60_000),
            ended: false,
            labels: Labels::new(),
            limit: None,
            offset: 0,
        }))
    }));
    out.extend(unit_family("stop_outcome", |outcome| {
        Message::Response(Response::Stopped(stop_report(
            outcome,
            vec![session_fate(Fate::Failed)],
        )))
    }));
    out.extend(unit_family("setting_source", |source| {
        Message::Response(Response::Config(config_report(source)))
    }));
    out.extend(unit_family("fate", |fate| {
        Message::Response(Response::Stopped(stop_report(
            StopOutcome::Clean,
            vec![session_fate(fate)],
        )))
    }));
    out
}
