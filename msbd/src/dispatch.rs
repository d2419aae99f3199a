//! One exhaustive match from each request to the part that answers it, writing into the
//! request's reply sink, and the one place where the managers' errors become wire errors.

use crate::backend::BackendError;
use crate::context::{Context, ShutdownOrder};
use crate::reply::{Inbox, Reply};
use crate::sessions::SessionError;
use crate::supervisor::{overall, TaskError};
use crate::work::{self, Direction, WorkError};
use msb_proto::units::format_duration;
use msb_proto::{
    DaemonInfo, ErrorBody, ErrorCode, Fault, FaultRequest, HealthReport, PauseRequest, Request,
    Response, SessionInfo, SessionsSummary, ShutdownRequest, StatusReport, StatusRequest,
    TaskAction, MAX_PAUSE,
};
use std::time::Duration;

/// Longest accepted pause reason, so a status line stays readable.
const MAX_REASON: usize = 200;

/// Who is asking, as the kernel says.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peer {
    pub uid: Option<u32>,
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Work(#[from] WorkError),
    #[error("{0}")]
    Invalid(String),
    #[error("msbd is stopping and takes no new work")]
    ShuttingDown,
    #[error("fault injection is off; it is for tests and needs msbd --enable-fault-injection")]
    FaultsOff,
}

impl From<Error> for ErrorBody {
    fn from(err: Error) -> Self {
        let code = match &err {
            Error::Session(err) => session_code(err),
            Error::Task(TaskError::Unknown { .. }) => ErrorCode::UnknownTask,
            Error::Task(
                TaskError::Unavailable { .. }
                | TaskError::Stalled { .. }
                | TaskError::NoLongerRunning { .. },
            ) => ErrorCode::TaskUnavailable,
            Error::Task(TaskError::Lease { .. }) => ErrorCode::Store,
            Error::Task(TaskError::Gone { .. }) => ErrorCode::Internal,
            Error::Backend(_) => ErrorCode::Backend,
            Error::Work(err) => work_code(err),
            Error::Invalid(_) => ErrorCode::InvalidArgument,
            Error::ShuttingDown => ErrorCode::ShuttingDown,
            Error::FaultsOff => ErrorCode::FaultInjectionDisabled,
        };
        ErrorBody::new(code, err.to_string())
    }
}

fn session_code(err: &SessionError) -> ErrorCode {
    match err {
        SessionError::Unknown { .. } => ErrorCode::UnknownSession,
        SessionError::InvalidId { .. } | SessionError::InvalidLabels(_) => {
            ErrorCode::InvalidArgument
        }
        SessionError::UnknownTemplate { .. } => ErrorCode::UnknownTemplate,
        SessionError::Conflict { .. }
        | SessionError::NotMarkable { .. }
        | SessionError::NotWorkable { .. } => ErrorCode::Conflict,
        SessionError::TooMuchWork { .. } => ErrorCode::LimitReached,
        SessionError::NotOwner { .. } => ErrorCode::PermissionDenied,
        SessionError::LimitReached(_) => ErrorCode::LimitReached,
        SessionError::Evict { source, .. } => session_code(source),
        SessionError::ExitedAtStart { .. } | SessionError::Backend { .. } => ErrorCode::Backend,
        SessionError::Store { .. } => ErrorCode::Store,
        SessionError::ShuttingDown => ErrorCode::ShuttingDown,
        SessionError::Internal { .. } => ErrorCode::Internal,
    }
}

fn work_code(err: &WorkError) -> ErrorCode {
    match err {
        WorkError::Session(err) => session_code(err),
        WorkError::Backend { .. } | WorkError::Copy { .. } => ErrorCode::Backend,
        WorkError::Invalid(_) => ErrorCode::InvalidArgument,
        WorkError::TooLarge { .. } => ErrorCode::LimitReached,
        WorkError::Cancelled { .. } => ErrorCode::Conflict,
    }
}

/// Whether `request` only reads, and so is still answered while msbd stops.
fn read_only(request: &Request) -> bool {
    matches!(
        request,
        Request::Status(_)
            | Request::Health
            | Request::SessionList(_)
            | Request::SessionIds(_)
            | Request::SessionShow(_)
            | Request::Orphans
            | Request::Logs(_)
            | Request::Config
            | Request::Events(_)
            | Request::Metrics
    )
}

/// The answer to a request that waits on nothing (status, health, touch, list: the most
/// frequent kinds), or the refusal of any that would change something while msbd stops,
/// computed now for the connection to write itself, without the reply sink and writer a
/// stream needs. `None` for a request that waits or streams: see [`dispatch`].
pub fn at_once(ctx: &Context, request: &Request) -> Option<Response> {
    let answer = if ctx.is_stopping() && !read_only(request) {
        Err(Error::ShuttingDown)
    } else {
        match request {
            Request::Status(req) => {
                status(ctx, req).map(|report| Response::Status(Box::new(report)))
            }
            Request::Health => Ok(Response::Health(health(ctx))),
            Request::SessionList(filter) => Ok(Response::Sessions(ctx.sessions.list(filter))),
            Request::SessionIds(filter) => Ok(Response::SessionIds(ctx.sessions.ids(filter))),
            Request::SessionTouch(req) => ctx
                .sessions
                .touch(&req.id)
                .map(session)
                .map_err(Error::from),
            Request::Fault(req) => inject(ctx, req).map(Response::Ack),
            Request::Config => Ok(Response::Config(ctx.config().report())),
            Request::Metrics => Ok(Response::Metrics(crate::metrics::render(ctx))),
            Request::Restart(_)
            | Request::Pause(_)
            | Request::Resume(_)
            | Request::RunNow(_)
            | Request::Shutdown(_)
            | Request::SessionShow(_)
            | Request::SessionCreate(_)
            | Request::SessionStop(_)
            | Request::SessionMark(_)
            | Request::Orphans
            | Request::Input(_)
            | Request::Exec(_)
            | Request::CopyIn(_)
            | Request::CopyOut(_)
            | Request::Logs(_)
            | Request::Events(_) => return None,
        }
    };
    Some(answer.unwrap_or_else(|err| Response::Error(err.into())))
}

/// Answers `request` into `reply`. Whatever waits is boxed, so that this future (made
/// for every request) stays small to build and move for the many that do not.
pub async fn dispatch(ctx: &Context, peer: Peer, request: Request, reply: Reply, inbox: Inbox<'_>) {
    // Also refuses, while msbd stops, every request that would change something.
    if let Some(response) = at_once(ctx, &request) {
        let _ = reply.send(response).await;
        return;
    }
    let answer = match request {
        Request::Restart(req) => Box::pin(ctx.supervisor.restart(&req.tasks, req.force))
            .await
            .map(Response::Tasks)
            .map_err(Error::from),
        Request::Pause(req) => Box::pin(pause(ctx, peer, req)).await.map(Response::Tasks),
        Request::Resume(req) => Box::pin(ctx.supervisor.resume(&req.tasks, peer.uid))
            .await
            .map(Response::Tasks)
            .map_err(Error::from),
        Request::RunNow(req) => Box::pin(ctx.supervisor.run_now(&req.task))
            .await
            .map(Response::Cycle)
            .map_err(Error::from),
        Request::Shutdown(req) => return Box::pin(shutdown(ctx, req, reply)).await,
        Request::SessionShow(req) => Box::pin(ctx.sessions.show(&req.id))
            .await
            .map(session)
            .map_err(Error::from),
        Request::SessionCreate(req) => Box::pin(ctx.resources.create_session(req, peer.uid))
            .await
            .map(session)
            .map_err(Error::from),
        Request::SessionStop(req) => match ctx.sessions.check_owner(&req.id, peer.uid) {
            Ok(()) => Box::pin(ctx.sessions.stop(&req.id))
                .await
                .map(session)
                .map_err(Error::from),
            Err(err) => Err(err.into()),
        },
        Request::SessionMark(req) => match ctx.sessions.check_owner(&req.id, peer.uid) {
            Ok(()) => Box::pin(ctx.sessions.mark(&req.id, req.busy))
                .await
                .map(session)
                .map_err(Error::from),
            Err(err) => Err(err.into()),
        },
        Request::Orphans => Box::pin(ctx.resources.orphans())
            .await
            .map(Response::Orphans)
            .map_err(Error::from),
        // Input that comes after its stream has ended (stdin racing the exit) is dropped
        // unanswered: an answer would be taken for that of the client's next request.
        Request::Input(_) => return,
        Request::Exec(req) => {
            return streamed(
                Box::pin(work::exec(ctx, peer.uid, req, &reply, inbox)).await,
                &reply,
            )
            .await
        }
        Request::CopyIn(req) => {
            return streamed(
                Box::pin(work::copy(ctx, peer.uid, req, &reply, inbox, Direction::In)).await,
                &reply,
            )
            .await
        }
        Request::CopyOut(req) => {
            return streamed(
                Box::pin(work::copy(
                    ctx,
                    peer.uid,
                    req,
                    &reply,
                    inbox,
                    Direction::Out,
                ))
                .await,
                &reply,
            )
            .await
        }
        Request::Logs(req) => match Box::pin(crate::logs::logs(ctx, req, &reply)).await {
            Ok(()) => return,
            Err(err) => Err(err.into()),
        },
        Request::Events(req) => {
            return Box::pin(crate::event_stream::events(ctx, req, &reply)).await
        }
        // Answered by `at_once` above.
        Request::Status(_)
        | Request::Health
        | Request::SessionList(_)
        | Request::SessionIds(_)
        | Request::SessionTouch(_)
        | Request::Fault(_)
        | Request::Config
        | Request::Metrics => return,
    };
    let response = answer.unwrap_or_else(|err| Response::Error(err.into()));
    // A client that went away misses its answer; there is nobody left to tell.
    let _ = reply.send(response).await;
}

fn session(info: SessionInfo) -> Response {
    Response::Session(Box::new(info))
}

/// A stream's handler has sent its frames; what is left to send is its error, if any.
async fn streamed(result: Result<(), WorkError>, reply: &Reply) {
    if let Err(err) = result {
        let _ = reply.send(Response::Error(Error::from(err).into())).await;
    }
}

/// Hands the shutdown to the daemon, which streams its progress and report into `reply`.
async fn shutdown(ctx: &Context, req: ShutdownRequest, reply: Reply) {
    let order = ShutdownOrder {
        timeout: req
            .timeout_ms
            .map_or(ctx.config().shutdown_timeout, Duration::from_millis),
        keep_sandboxes: req.keep_sandboxes,
        reply: Some(reply.clone()),
    };
    if !ctx.order_shutdown(order) {
        let _ = reply
            .send(Response::Error(Error::ShuttingDown.into()))
            .await;
    }
}

fn status(ctx: &Context, req: &StatusRequest) -> Result<StatusReport, Error> {
    let all = ctx.supervisor.status();
    let store = ctx.store.health();
    let backend = ctx.backend.health();
    let overall = overall(
        all.iter()
            .map(|t| t.health)
            .chain([store.health, backend.health]),
    );
    let (adopted, lost_at_start) = ctx.sessions.restored();
    let config = ctx.config();
    let tasks = match &req.task {
        Some(name) => vec![ctx.supervisor.status_of(name)?],
        None => all,
    };
    Ok(StatusReport {
        overall,
        daemon: DaemonInfo {
            version: msb_proto::VERSION.to_string(),
            pid: ctx.pid(),
            uptime_secs: ctx.uptime().as_secs(),
            backend: ctx.backend.name().to_string(),
            socket: config.socket.to_string_lossy().into_owned(),
            state_dir: config.state_dir.to_string_lossy().into_owned(),
        },
        tasks,
        sessions: SessionsSummary {
            active: ctx.sessions.totals().sessions,
            max: ctx.resources.max_sessions(),
            adopted,
            lost_at_start,
        },
        resources: ctx.resources.report(),
        store,
        config: ctx.config_status(),
        backend,
    })
}

fn health(ctx: &Context) -> HealthReport {
    let tasks = ctx.supervisor.health();
    let store = ctx.store.health();
    let backend = ctx.backend.health();
    HealthReport {
        overall: overall(
            tasks
                .iter()
                .map(|t| t.health)
                .chain([store.health, backend.health]),
        ),
        tasks,
        store,
        backend,
    }
}

async fn pause(ctx: &Context, peer: Peer, req: PauseRequest) -> Result<Vec<TaskAction>, Error> {
    if req.for_ms == Some(0) {
        return Err(Error::Invalid(
            "pause --for must be longer than zero".into(),
        ));
    }
    if let Some(ms) = req.for_ms.filter(|&ms| ms > MAX_PAUSE.as_millis() as u64) {
        return Err(Error::Invalid(format!(
            "pause --for {} is too long: a pause lasts at most {} days (without --for, until resumed)",
            format_duration(Duration::from_millis(ms)),
            MAX_PAUSE.as_secs() / 86_400
        )));
    }
    if req
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON)
    {
        return Err(Error::Invalid(format!(
            "pause --reason is limited to {MAX_REASON} characters"
        )));
    }
    Ok(ctx
        .supervisor
        .pause(
            &req.tasks,
            req.for_ms.map(Duration::from_millis),
            req.reason,
            peer.uid,
        )
        .await?)
}

fn inject(ctx: &Context, req: &FaultRequest) -> Result<String, Error> {
    if !ctx.config().enable_fault_injection {
        return Err(Error::FaultsOff);
    }
    let FaultRequest { task, fault } = req;
    let fault = *fault;
    ctx.supervisor.inject(task, fault)?;
    tracing::warn!(task, ?fault, "fault injected");
    Ok(match fault {
        Fault::Clear => format!("faults on {task} cleared"),
        Fault::Panic => format!("the next cycle of {task} will panic"),
        Fault::Hang => format!("the next cycle of {task} will hang"),
        Fault::Error => format!("every cycle of {task} fails until cleared"),
    })
}
