//! One exhaustive match from each request to the part that answers it.

use crate::daemon::Daemon;
use crate::supervisor::overall;
use msb_proto::{
    DaemonInfo, ErrorBody, ErrorCode, Fault, HealthReport, PauseRequest, Request, Response,
    SessionsSummary, StatusReport, TaskHealth,
};
use std::time::Duration;

/// Longest accepted pause reason, so a status line stays readable.
const MAX_REASON: usize = 200;

pub async fn dispatch(daemon: &Daemon, uid: Option<u32>, request: Request) -> Response {
    answer(daemon, uid, request)
        .await
        .unwrap_or_else(Response::Error)
}

async fn answer(
    daemon: &Daemon,
    uid: Option<u32>,
    request: Request,
) -> Result<Response, ErrorBody> {
    let read_only = matches!(
        request,
        Request::Status { .. }
            | Request::Health
            | Request::SessionList(_)
            | Request::SessionShow { .. }
            | Request::Orphans
    );
    if daemon.is_stopping() && !read_only {
        return Err(ErrorBody::new(
            ErrorCode::ShuttingDown,
            "msbd is stopping and takes no new work",
        ));
    }
    Ok(match request {
        Request::Status { task } => Response::Status(status(daemon, task)?),
        Request::Health => Response::Health(health(daemon)),
        Request::Restart(req) => {
            Response::Tasks(daemon.supervisor.restart(&req.tasks, req.force).await?)
        }
        Request::Pause(req) => Response::Tasks(pause(daemon, uid, req).await?),
        Request::Resume(tasks) => Response::Tasks(daemon.supervisor.resume(&tasks).await?),
        Request::RunNow { task } => Response::Cycle(daemon.supervisor.run_now(&task).await?),
        // Shutdown streams its answer and is served by the connection itself.
        Request::Shutdown { .. } => {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                "shutdown cannot be dispatched",
            ))
        }
        Request::SessionList(filter) => Response::Sessions(daemon.sessions.list(&filter)),
        Request::SessionShow { id } => Response::Session(daemon.sessions.show(&id).await?),
        Request::SessionCreate(req) => {
            Response::Session(daemon.resources.create_session(req).await?)
        }
        Request::SessionTouch { id } => Response::Session(daemon.sessions.touch(&id)?),
        Request::SessionStop { id } => Response::Session(daemon.sessions.stop(&id).await?),
        Request::Fault { task, fault } => Response::Ack(inject(daemon, &task, fault)?),
        Request::SessionMark { id, busy } => Response::Session(daemon.sessions.mark(&id, busy)?),
        Request::Orphans => Response::Orphans(daemon.resources.orphans().await?),
    })
}

fn status(daemon: &Daemon, task: Option<String>) -> Result<StatusReport, ErrorBody> {
    let all = daemon.supervisor.status();
    let overall = overall(all.iter().map(|t| t.health));
    let (adopted, lost_at_start) = daemon.sessions.restored();
    let tasks = match task {
        Some(name) => vec![daemon.supervisor.status_of(&name)?],
        None => all,
    };
    Ok(StatusReport {
        overall,
        daemon: DaemonInfo {
            version: msb_proto::VERSION.to_string(),
            pid: std::process::id(),
            uptime_secs: daemon.uptime().as_secs(),
            backend: daemon.backend_name.to_string(),
            socket: daemon.config.socket.display().to_string(),
            state_dir: daemon.config.state_dir.display().to_string(),
        },
        tasks,
        sessions: SessionsSummary {
            active: daemon.sessions.totals().sessions,
            max: daemon.resources.max_sessions(),
            adopted,
            lost_at_start,
        },
        resources: daemon.resources.report(),
    })
}

fn health(daemon: &Daemon) -> HealthReport {
    let tasks: Vec<TaskHealth> = daemon
        .supervisor
        .status()
        .into_iter()
        .map(|t| TaskHealth {
            name: t.name,
            state: t.state,
            health: t.health,
            reason: t.reason,
        })
        .collect();
    HealthReport {
        overall: overall(tasks.iter().map(|t| t.health)),
        tasks,
    }
}

async fn pause(
    daemon: &Daemon,
    uid: Option<u32>,
    req: PauseRequest,
) -> Result<Vec<msb_proto::TaskAction>, ErrorBody> {
    if req.for_ms == Some(0) {
        return Err(ErrorBody::new(
            ErrorCode::InvalidArgument,
            "pause --for must be longer than zero",
        ));
    }
    if req
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON)
    {
        return Err(ErrorBody::new(
            ErrorCode::InvalidArgument,
            format!("pause --reason is limited to {MAX_REASON} characters"),
        ));
    }
    daemon
        .supervisor
        .pause(
            &req.tasks,
            req.for_ms.map(Duration::from_millis),
            req.reason,
            uid,
        )
        .await
}

fn inject(daemon: &Daemon, task: &str, fault: Fault) -> Result<String, ErrorBody> {
    if !daemon.config.enable_fault_injection {
        return Err(ErrorBody::new(
            ErrorCode::FaultInjectionDisabled,
            "fault injection is off; it is for tests and needs msbd --enable-fault-injection",
        ));
    }
    daemon.supervisor.inject(task, fault)?;
    tracing::warn!(task, ?fault, "fault injected");
    Ok(match fault {
        Fault::Clear => format!("faults on {task} cleared"),
        Fault::Panic => format!("the next cycle of {task} will panic"),
        Fault::Hang => format!("the next cycle of {task} will hang"),
        Fault::Error => format!("every cycle of {task} fails until cleared"),
    })
}
