//! The async client: connects, shakes hands in the same write as its first request, and
//! offers one method per request. `msbctl` uses it, and so can any upper-level server that
//! leases sessions. It reaches msbd through its socket, or through a program whose stdin and
//! stdout carry the connection (`ssh HOST msbctl dial-stdio`, as `docker -H ssh://` does).
//!
//! Running code in a session and printing its output:
//!
//! ```no_run
//! use msb_proto::{Client, ExecCommand, ExecEvent, ExecRequest, ExecStdin, OutputMode};
//! # async fn demo(session_id: String) -> Result<(), msb_proto::ClientError> {
//! let mut client = Client::connect(&msb_proto::paths::default_socket(), "example").await?;
//! let execution = client
//!     .exec(ExecRequest {
//!         session_id,
//!         command: ExecCommand::Argv(vec!["python3".into(), "-c".into(), "print(1+1)".into()]),
//!         env: Vec::new(),
//!         workdir: None,
//!         stdin: ExecStdin::None,
//!         timeout_ms: Some(30_000),
//!         output: OutputMode::Stream,
//!         create: None,
//!     })
//!     .await?;
//! loop {
//!     match execution.next().await? {
//!         ExecEvent::Output(chunk) => print!("{}", String::from_utf8_lossy(&chunk.data)),
//!         ExecEvent::Exit(exit) => break println!("exit status {}", exit.status()),
//!         ExecEvent::Copied(_) => unreachable!("an exec does not copy"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use crate::frame::{encode, encode_into, write_frame, FrameError, FrameReader, MAX_FRAME};
use crate::wire::*;
use crate::PROTOCOL;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

/// Where msbd is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// msbd's socket on this host.
    Socket(PathBuf),
    /// A program and its arguments whose stdin and stdout carry the connection; one is
    /// started for each connection and ends with it.
    Command(Vec<OsString>),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Socket(path) => write!(f, "at {}", path.display()),
            Self::Command(argv) => {
                let words: Vec<_> = argv.iter().map(|a| a.to_string_lossy()).collect();
                write!(f, "through `{}`", words.join(" "))
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach msbd {endpoint}: {source}")]
    Connect {
        endpoint: Endpoint,
        source: std::io::Error,
    },
    #[error(
        "msbd speaks protocol {daemon} but this client speaks protocol {client}; \
         use the msbctl that came with the running msbd"
    )]
    ProtocolMismatch { client: u32, daemon: u32 },
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("msbd closed the connection")]
    Closed,
    /// msbd answered the request with this error.
    #[error("{0}")]
    Daemon(ErrorBody),
    /// msbd refused the connection in the handshake (this user, or another protocol).
    #[error("{0}")]
    Refused(ErrorBody),
    #[error("msbd sent an unexpected answer ({got}) to a {request} request")]
    Unexpected {
        request: &'static str,
        got: &'static str,
    },
}

impl ClientError {
    /// True when the daemon could not be reached at all (as opposed to answering badly).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Connect { .. })
    }
}

/// One connection's two directions, each behind a lock of its own, so that an
/// [`Execution`] can read from one task while another writes.
struct Connection {
    reader: Mutex<FrameReader<Box<dyn AsyncRead + Send + Unpin>>>,
    writer: Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
    /// The program carrying the connection, if any: killed when the connection is dropped.
    _carrier: Option<tokio::process::Child>,
}

impl Connection {
    async fn open(endpoint: &Endpoint) -> Result<(Self, Option<Carrier>), std::io::Error> {
        match endpoint {
            Endpoint::Socket(path) => {
                let (reader, writer) = tokio::net::UnixStream::connect(path).await?.into_split();
                Ok((Self::new(reader, writer, None), None))
            }
            Endpoint::Command(argv) => {
                let Some((program, args)) = argv.split_first() else {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "no program to run",
                    ));
                };
                let mut child = tokio::process::Command::new(program)
                    .args(args)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()?;
                let (Some(writer), Some(reader), Some(stderr)) =
                    (child.stdin.take(), child.stdout.take(), child.stderr.take())
                else {
                    return Err(std::io::Error::other("the program's stdio is missing"));
                };
                let carrier = Carrier(tokio::spawn(last_words(stderr)));
                Ok((Self::new(reader, writer, Some(child)), Some(carrier)))
            }
        }
    }

    fn new(
        reader: impl AsyncRead + Send + Unpin + 'static,
        writer: impl AsyncWrite + Send + Unpin + 'static,
        carrier: Option<tokio::process::Child>,
    ) -> Self {
        Self {
            // Buffered: a frame's length and body, or the welcome and the answer behind it,
            // come in one read.
            reader: Mutex::new(FrameReader::new(Box::new(reader), MAX_FRAME)),
            writer: Mutex::new(Box::new(writer)),
            _carrier: carrier,
        }
    }
}

/// What the program carrying a connection says on stderr (ssh's complaints, the remote
/// msbctl's error), kept for the error should the connection fail before the handshake.
struct Carrier(tokio::task::JoinHandle<String>);

/// The most of a carrier's stderr that is kept: its end.
const LAST_WORDS: usize = 2048;

async fn last_words(mut stderr: impl AsyncRead + Unpin) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > LAST_WORDS {
            kept.drain(..kept.len() - LAST_WORDS);
        }
    }
    String::from_utf8_lossy(&kept).trim().to_string()
}

impl Carrier {
    /// Why the connection ended before the handshake, in the carrier's words where it left
    /// some.
    async fn why(self) -> std::io::Error {
        let said = tokio::time::timeout(Duration::from_secs(2), self.0)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        if said.is_empty() {
            closed_early()
        } else {
            std::io::Error::new(std::io::ErrorKind::ConnectionAborted, said)
        }
    }
}

pub struct Client {
    conn: Connection,
    handshake: Handshake,
    /// The program carrying the connection, until the handshake: why it failed, if it does.
    carrier: Option<Carrier>,
    /// Where and as whom it connected, to connect again.
    endpoint: Endpoint,
    name: String,
    last_used: Instant,
    /// Every request is encoded in this one buffer.
    out: Vec<u8>,
}

/// How far the handshake is. The hello travels with the first request, in the same write,
/// so that a one-request client (`msbctl status`) pays a single round trip; msbd answers
/// the hello, then the request.
enum Handshake {
    /// Nothing sent yet: the hello goes with the first request.
    Pending,
    /// The hello is sent: the daemon's reply to it is the next frame.
    Sent,
    /// What the daemon said about itself.
    Done(Welcome),
}

/// The largest request buffer a client keeps between requests.
const KEPT_BUFFER: usize = 64 * 1024;

/// A connection unused this long may have been closed by msbd as idle: a request that then
/// finds it closed before any answer is sent again on a new connection.
const IDLE_BEFORE_RETRY: Duration = Duration::from_secs(1);

impl Client {
    /// Connects to the daemon at `path`; the handshake goes with the first request.
    pub async fn connect(path: &Path, client_name: &str) -> Result<Self, ClientError> {
        Self::connect_to(&Endpoint::Socket(path.to_path_buf()), client_name).await
    }

    /// Connects to the daemon through `endpoint`; the handshake goes with the first request,
    /// whose answer reports a daemon that refuses it or speaks another protocol.
    pub async fn connect_to(endpoint: &Endpoint, client_name: &str) -> Result<Self, ClientError> {
        let (conn, carrier) =
            Connection::open(endpoint)
                .await
                .map_err(|source| ClientError::Connect {
                    endpoint: endpoint.clone(),
                    source,
                })?;
        Ok(Self {
            conn,
            handshake: Handshake::Pending,
            carrier,
            endpoint: endpoint.clone(),
            name: client_name.to_string(),
            last_used: Instant::now(),
            out: Vec::new(),
        })
    }

    /// What the daemon said about itself in the handshake; shakes hands first if no request
    /// has been answered yet.
    pub async fn daemon(&mut self) -> Result<Welcome, ClientError> {
        match &self.handshake {
            Handshake::Done(welcome) => return Ok(welcome.clone()),
            Handshake::Pending => {
                let hello = encode(&self.hello())?;
                self.write(&hello).await?;
            }
            Handshake::Sent => {}
        }
        let welcome = self.welcome().await?;
        self.handshake = Handshake::Done(welcome.clone());
        Ok(welcome)
    }

    fn hello(&self) -> Hello {
        Hello {
            protocol: PROTOCOL,
            client: self.name.clone(),
        }
    }

    /// Reads the daemon's reply to the hello. A daemon that drops the connection before it
    /// says hello is not serving (it is exiting): as unreachable as no daemon at all.
    async fn welcome(&mut self) -> Result<Welcome, ClientError> {
        let dropped = match self.conn.reader.get_mut().next().await {
            Ok(Some(HandshakeReply::Welcome(welcome))) if welcome.protocol == PROTOCOL => {
                self.carrier = None;
                return Ok(welcome);
            }
            Ok(Some(HandshakeReply::Welcome(welcome))) => {
                return Err(ClientError::ProtocolMismatch {
                    client: PROTOCOL,
                    daemon: welcome.protocol,
                })
            }
            Ok(Some(HandshakeReply::Refused(body))) => return Err(ClientError::Refused(body)),
            Ok(None) | Err(FrameError::Truncated) => closed_early(),
            Err(FrameError::Io(source)) => source,
            Err(other) => return Err(other.into()),
        };
        Err(self.unreachable(dropped).await)
    }

    /// The connection failed before the handshake: unreachable, in the carrier's words where
    /// it left some.
    async fn unreachable(&mut self, source: std::io::Error) -> ClientError {
        let source = match self.carrier.take() {
            Some(carrier) => carrier.why().await,
            None => source,
        };
        ClientError::Connect {
            endpoint: self.endpoint.clone(),
            source,
        }
    }

    /// Writes whole frames at once; a failure before the handshake is answered means msbd
    /// is not serving.
    async fn write(&mut self, frames: &[u8]) -> Result<(), ClientError> {
        let writer = self.conn.writer.get_mut();
        let written = async {
            writer.write_all(frames).await?;
            writer.flush().await
        };
        match (written.await, &self.handshake) {
            (Ok(()), Handshake::Pending) => {
                self.handshake = Handshake::Sent;
                Ok(())
            }
            (Ok(()), _) => Ok(()),
            (Err(err), Handshake::Done(_)) => Err(FrameError::Io(err).into()),
            (Err(err), Handshake::Pending | Handshake::Sent) => Err(self.unreachable(err).await),
        }
    }

    async fn send(&mut self, request: &Request) -> Result<(), ClientError> {
        self.used();
        self.put(request).await
    }

    /// Marks the connection used now; returns how long it had been idle.
    fn used(&mut self) -> Duration {
        let now = Instant::now();
        now.saturating_duration_since(std::mem::replace(&mut self.last_used, now))
    }

    /// Writes `request` (after the hello, if that has not gone yet).
    async fn put(&mut self, request: &Request) -> Result<(), ClientError> {
        let mut frames = std::mem::take(&mut self.out);
        frames.clear();
        if let Handshake::Pending = self.handshake {
            encode_into(&self.hello(), &mut frames)?;
        }
        encode_into(request, &mut frames)?;
        let written = self.write(&frames).await;
        // Kept for the next request, unless a large one left it large.
        if frames.capacity() <= KEPT_BUFFER {
            self.out = frames;
        }
        written
    }

    async fn receive(&mut self) -> Result<Response, ClientError> {
        if let Handshake::Sent = self.handshake {
            let welcome = self.welcome().await?;
            self.handshake = Handshake::Done(welcome);
        }
        match self.conn.reader.get_mut().next().await? {
            Some(Response::Error(body)) => Err(ClientError::Daemon(body)),
            Some(response) => Ok(response),
            None => Err(ClientError::Closed),
        }
    }

    /// Sends any request and returns its single answer (or a stream's first frame); daemon
    /// errors become `Err`. A connection msbd closed while it was idle is replaced
    /// transparently: the request had not been read, so it is sent again.
    pub async fn call(&mut self, request: Request) -> Result<Response, ClientError> {
        // One clock read marks the use and tells how long the connection had been idle.
        let idle = self.used() >= IDLE_BEFORE_RETRY;
        let first = self.round_trip(&request).await;
        match first {
            Err(err) if idle && closed_unanswered(&err) => {
                *self = Self::connect_to(&self.endpoint, &self.name).await?;
                self.round_trip(&request).await
            }
            answered => answered,
        }
    }

    async fn round_trip(&mut self, request: &Request) -> Result<Response, ClientError> {
        self.put(request).await?;
        self.receive().await
    }

    pub async fn status(&mut self, task: Option<String>) -> Result<StatusReport, ClientError> {
        match self.call(Request::Status(StatusRequest { task })).await? {
            Response::Status(report) => Ok(*report),
            other => Err(unexpected("status", &other)),
        }
    }

    pub async fn health(&mut self) -> Result<HealthReport, ClientError> {
        match self.call(Request::Health).await? {
            Response::Health(report) => Ok(report),
            other => Err(unexpected("health", &other)),
        }
    }

    /// The daemon's effective settings, each with its source.
    pub async fn config(&mut self) -> Result<ConfigReport, ClientError> {
        match self.call(Request::Config).await? {
            Response::Config(report) => Ok(report),
            other => Err(unexpected("config", &other)),
        }
    }

    pub async fn restart(
        &mut self,
        request: RestartRequest,
    ) -> Result<Vec<TaskAction>, ClientError> {
        self.tasks("restart", Request::Restart(request)).await
    }

    pub async fn pause(&mut self, request: PauseRequest) -> Result<Vec<TaskAction>, ClientError> {
        self.tasks("pause", Request::Pause(request)).await
    }

    pub async fn resume(&mut self, tasks: TaskSelection) -> Result<Vec<TaskAction>, ClientError> {
        self.tasks("resume", Request::Resume(ResumeRequest { tasks }))
            .await
    }

    async fn tasks(
        &mut self,
        name: &'static str,
        request: Request,
    ) -> Result<Vec<TaskAction>, ClientError> {
        match self.call(request).await? {
            Response::Tasks(actions) => Ok(actions),
            other => Err(unexpected(name, &other)),
        }
    }

    pub async fn run_now(&mut self, task: String) -> Result<CycleReport, ClientError> {
        match self.call(Request::RunNow(RunNowRequest { task })).await? {
            Response::Cycle(report) => Ok(report),
            other => Err(unexpected("run", &other)),
        }
    }

    /// Asks the daemon to shut down; `progress` sees each progress line as it arrives.
    pub async fn shutdown(
        &mut self,
        request: ShutdownRequest,
        mut progress: impl FnMut(&str),
    ) -> Result<StopReport, ClientError> {
        self.send(&Request::Shutdown(request)).await?;
        loop {
            match self.receive().await? {
                Response::Progress(line) => progress(&line),
                Response::Stopped(report) => return Ok(report),
                other => return Err(unexpected("shutdown", &other)),
            }
        }
    }

    /// Waits until the daemon closes this connection, as it does when its process exits.
    pub async fn closed(mut self) {
        let reader = self.conn.reader.get_mut().get_mut();
        let mut sink = [0u8; 256];
        while matches!(reader.read(&mut sink).await, Ok(n) if n > 0) {}
    }

    pub async fn sessions(
        &mut self,
        filter: SessionFilter,
    ) -> Result<Vec<SessionInfo>, ClientError> {
        match self.call(Request::SessionList(filter)).await? {
            Response::Sessions(list) => Ok(list),
            other => Err(unexpected("sessions list", &other)),
        }
    }

    /// The ids of the sessions `sessions` would return, in its order.
    pub async fn session_ids(&mut self, filter: SessionFilter) -> Result<Vec<String>, ClientError> {
        match self.call(Request::SessionIds(filter)).await? {
            Response::SessionIds(ids) => Ok(ids),
            other => Err(unexpected("sessions list --ids", &other)),
        }
    }

    pub async fn session_show(&mut self, id: String) -> Result<SessionInfo, ClientError> {
        self.session("sessions show", Request::SessionShow(SessionRef { id }))
            .await
    }

    pub async fn session_create(
        &mut self,
        request: CreateSession,
    ) -> Result<SessionInfo, ClientError> {
        self.session("sessions create", Request::SessionCreate(request))
            .await
    }

    pub async fn session_touch(&mut self, id: String) -> Result<SessionInfo, ClientError> {
        self.session("sessions touch", Request::SessionTouch(SessionRef { id }))
            .await
    }

    pub async fn session_stop(&mut self, id: String) -> Result<SessionInfo, ClientError> {
        self.session("sessions stop", Request::SessionStop(SessionRef { id }))
            .await
    }

    async fn session(
        &mut self,
        name: &'static str,
        request: Request,
    ) -> Result<SessionInfo, ClientError> {
        match self.call(request).await? {
            Response::Session(info) => Ok(*info),
            other => Err(unexpected(name, &other)),
        }
    }

    /// Marks a session busy (never expired or evicted) or idle again.
    pub async fn session_mark(
        &mut self,
        id: String,
        busy: bool,
    ) -> Result<SessionInfo, ClientError> {
        self.session(
            "sessions mark",
            Request::SessionMark(MarkRequest { id, busy }),
        )
        .await
    }

    pub async fn orphans(&mut self) -> Result<Vec<OrphanInfo>, ClientError> {
        match self.call(Request::Orphans).await? {
            Response::Orphans(list) => Ok(list),
            other => Err(unexpected("orphans", &other)),
        }
    }

    /// Starts a command in a session; the returned handle yields its output and exit, and
    /// takes its stdin (with [`ExecStdin::Streamed`]) or a cancel.
    pub async fn exec(&mut self, request: ExecRequest) -> Result<Execution<'_>, ClientError> {
        self.start("exec", Request::Exec(request)).await
    }

    /// Runs a command to its end and gathers everything in one document (what `msbctl
    /// --json` prints). `on_output` sees each chunk as it arrives.
    pub async fn exec_to_end(
        &mut self,
        request: ExecRequest,
        mut on_output: impl FnMut(&ExecOutput),
    ) -> Result<ExecResult, ClientError> {
        let execution = self.exec(request).await?;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        loop {
            match execution.next().await? {
                ExecEvent::Output(chunk) => {
                    on_output(&chunk);
                    match chunk.stream {
                        OutputStream::Stdout => stdout.extend_from_slice(&chunk.data),
                        OutputStream::Stderr => stderr.extend_from_slice(&chunk.data),
                    }
                }
                ExecEvent::Exit(exit) => {
                    return Ok(ExecResult {
                        session_id: execution.started.session_id.clone(),
                        exit_code: exit.status(),
                        signal: exit.signal,
                        stdout: String::from_utf8_lossy(&stdout).into_owned(),
                        stderr: String::from_utf8_lossy(&stderr).into_owned(),
                        success: exit.status() == 0,
                        timed_out: exit.timed_out,
                        truncated: exit.truncated,
                        duration_ms: exit.duration_ms,
                        session_created: execution.started.session_created,
                    })
                }
                ExecEvent::Copied(_) => {
                    return Err(ClientError::Unexpected {
                        request: "exec",
                        got: "copied",
                    })
                }
            }
        }
    }

    /// Starts copying a tar archive into a session: send it with [`Execution::input`]
    /// (`Input::Data` chunks, then `Input::End`) and read the `Copied` event.
    pub async fn copy_in(&mut self, request: CopyRequest) -> Result<Execution<'_>, ClientError> {
        self.start("copy in", Request::CopyIn(request)).await
    }

    /// Starts copying a path out of a session: the archive arrives as stdout `Output`
    /// events, then `Copied`.
    pub async fn copy_out(&mut self, request: CopyRequest) -> Result<Execution<'_>, ClientError> {
        self.start("copy out", Request::CopyOut(request)).await
    }

    async fn start(
        &mut self,
        name: &'static str,
        request: Request,
    ) -> Result<Execution<'_>, ClientError> {
        match self.call(request).await? {
            Response::ExecStarted(started) => Ok(Execution {
                conn: &self.conn,
                started,
            }),
            other => Err(unexpected(name, &other)),
        }
    }

    /// Reads a session's sandbox log; `chunk` sees its bytes as they come. With `follow`
    /// it returns once the sandbox has ended (or the daemon stops).
    pub async fn logs(
        &mut self,
        request: LogsRequest,
        mut chunk: impl FnMut(&[u8]),
    ) -> Result<LogEnd, ClientError> {
        self.send(&Request::Logs(request)).await?;
        loop {
            match self.receive().await? {
                Response::Log(data) => chunk(&data),
                Response::LogEnd(end) => return Ok(end),
                other => return Err(unexpected("logs", &other)),
            }
        }
    }

    /// Starts reading the daemon's events: its recent ones, then with `follow` every new
    /// one until the daemon stops or this client goes away.
    pub async fn events(&mut self, request: EventsRequest) -> Result<EventStream<'_>, ClientError> {
        self.send(&Request::Events(request)).await?;
        Ok(EventStream { client: self })
    }

    /// The daemon's metrics in the Prometheus text format.
    pub async fn metrics(&mut self) -> Result<String, ClientError> {
        match self.call(Request::Metrics).await? {
            Response::Metrics(text) => Ok(text),
            other => Err(unexpected("metrics", &other)),
        }
    }

    pub async fn fault(&mut self, task: String, fault: Fault) -> Result<String, ClientError> {
        match self
            .call(Request::Fault(FaultRequest { task, fault }))
            .await?
        {
            Response::Ack(message) => Ok(message),
            other => Err(unexpected("debug fault", &other)),
        }
    }
}

/// The connection was found closed before any answer came.
fn closed_unanswered(err: &ClientError) -> bool {
    match err {
        ClientError::Closed => true,
        // Before the handshake was answered: msbd also drops a connection that stays silent
        // too long after it opened.
        ClientError::Connect { source, .. } => matches!(
            source.kind(),
            std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionReset
        ),
        ClientError::Frame(FrameError::Io(io)) => matches!(
            io.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        ),
        _ => false,
    }
}

fn closed_early() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "msbd closed the connection before the handshake (it is stopping)",
    )
}

fn unexpected(request: &'static str, got: &Response) -> ClientError {
    ClientError::Unexpected {
        request,
        got: got.kind(),
    }
}

/// What a running command or copy yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    Output(ExecOutput),
    /// The command ended; nothing follows.
    Exit(ExecExit),
    /// The copy is done; nothing follows.
    Copied(CopyReport),
}

/// A command or copy running on this connection. `next` and `input` may be used from two
/// tasks at once (one reads, the other writes); `next` must not be cancelled midway.
pub struct Execution<'a> {
    conn: &'a Connection,
    pub started: ExecStarted,
}

impl Execution<'_> {
    /// The next output chunk, or the end.
    pub async fn next(&self) -> Result<ExecEvent, ClientError> {
        let mut reader = self.conn.reader.lock().await;
        match reader.next().await? {
            Some(Response::ExecOutput(chunk)) => Ok(ExecEvent::Output(chunk)),
            Some(Response::ExecExit(exit)) => Ok(ExecEvent::Exit(exit)),
            Some(Response::Copied(report)) => Ok(ExecEvent::Copied(report)),
            Some(Response::Error(body)) => Err(ClientError::Daemon(body)),
            Some(other) => Err(unexpected("exec", &other)),
            None => Err(ClientError::Closed),
        }
    }

    /// Sends stdin, its end, or a cancel.
    pub async fn input(&self, input: Input) -> Result<(), ClientError> {
        let mut writer = self.conn.writer.lock().await;
        write_frame(&mut *writer, &Request::Input(input)).await?;
        Ok(())
    }
}

/// What an events stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFrame {
    Event(Event),
    /// The daemon could not keep up with this reader, which missed this many events.
    Missed(u64),
}

/// The daemon's events, as they come.
pub struct EventStream<'a> {
    client: &'a mut Client,
}

impl EventStream<'_> {
    /// The next event (or how many were missed); `None` once the stream has ended.
    pub async fn next(&mut self) -> Result<Option<EventFrame>, ClientError> {
        match self.client.receive().await? {
            Response::Event(event) => Ok(Some(EventFrame::Event(event))),
            Response::EventsMissed(missed) => Ok(Some(EventFrame::Missed(missed))),
            Response::Ack(_) => Ok(None),
            other => Err(unexpected("events", &other)),
        }
    }
}
