//! Sessions whose sandbox ended by itself: kept for `KEPT_FOR` so that their exit and log can
//! still be read, then forgotten with their log. They live beside the registry, not in it:
//! they hold no sandbox, count against no limit, and are never expired by the idle rule or
//! evicted. They are not stored; a restarted daemon forgets them, and orphan-cleanup removes
//! their logs.

use super::SessionManager;
use crate::backend::Exited;
use crate::clock::now_ms;
use crate::session::Session;
use crate::store::Change;
use msb_proto::{EventKind, Fate, SandboxExit, SessionFate, SessionInfo, SessionStatus};
use std::collections::HashMap;
use std::time::Duration;

/// How long an ended session stays visible.
pub const KEPT_FOR: Duration = Duration::from_secs(15 * 60);
/// Ended sessions kept at most (the oldest are forgotten first), so that a template that
/// keeps failing fills neither memory nor a list's frame.
const MAX_KEPT: usize = 256;

pub(super) struct EndedSession {
    session: Session,
    exit: SandboxExit,
    ended_ms: u64,
}

/// The ended sessions, by id.
#[derive(Default)]
pub(super) struct Ended {
    by_id: HashMap<String, EndedSession>,
}

impl Ended {
    pub fn get(&self, id: &str) -> Option<&EndedSession> {
        self.by_id.get(id)
    }

    /// Forgets one; returns its sandbox, whose log is to be discarded.
    pub fn remove(&mut self, id: &str) -> Option<String> {
        self.by_id.remove(id).map(|e| e.session.sandbox)
    }

    pub fn has_sandbox(&self, sandbox: &str) -> bool {
        self.by_id.values().any(|e| e.session.sandbox == sandbox)
    }

    pub fn iter(&self) -> impl Iterator<Item = &EndedSession> {
        self.by_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Keeps `ended`; returns the sandbox of the oldest one, forgotten to make room.
    fn keep(&mut self, ended: EndedSession) -> Option<String> {
        self.by_id.insert(ended.session.id.clone(), ended);
        if self.by_id.len() <= MAX_KEPT {
            return None;
        }
        let oldest = self
            .by_id
            .values()
            .min_by_key(|e| (e.ended_ms, e.session.id.clone()))
            .map(|e| e.session.id.clone())?;
        self.remove(&oldest)
    }

    /// Forgets those that ended at least `KEPT_FOR` before `now`; returns their sandboxes.
    fn forget_due(&mut self, now: u64) -> Vec<String> {
        let kept_ms = KEPT_FOR.as_millis() as u64;
        let due: Vec<String> = self
            .by_id
            .values()
            .filter(|e| e.ended_ms + kept_ms <= now)
            .map(|e| e.session.id.clone())
            .collect();
        due.iter().filter_map(|id| self.remove(id)).collect()
    }
}

impl EndedSession {
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The public view: status `ended`, its exit, and the time left before it is forgotten.
    pub fn info(&self) -> SessionInfo {
        let s = &self.session;
        let forgotten_at = self.ended_ms + KEPT_FOR.as_millis() as u64;
        SessionInfo {
            id: s.id.clone(),
            template: s.template.clone(),
            flavor: s.flavor,
            status: SessionStatus::Ended,
            sandbox: s.sandbox.clone(),
            created_at: s.created_at_ms / 1000,
            last_accessed: s.last_accessed_ms / 1000,
            expires_in_secs: Some(forgotten_at.saturating_sub(now_ms()) / 1000),
            error: s.error.clone(),
            busy_since: None,
            details: None,
            fate: None,
            exit: Some(self.exit.clone()),
            owner: s.owner,
            labels: s.labels.clone(),
        }
    }
}

/// How a sandbox ended, in a few words: "exit 3", "signal 9".
pub fn describe(exit: &SandboxExit) -> String {
    match (exit.code, exit.signal) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "exit status unknown".into(),
    }
}

impl SessionManager {
    /// A sandbox ended by itself (the backend has released what it left, but its log): its
    /// session, unless a stop or create owns it, becomes an ended one.
    pub async fn sandbox_ended(&self, gone: Exited) {
        let Exited {
            session_id,
            sandbox,
            exit,
        } = gone;
        let forgotten = {
            let mut state = self.lock();
            let Some(session) = state.registry.get(&session_id) else {
                return;
            };
            if session.sandbox != sandbox || session.stopping {
                return;
            }
            if session.status == SessionStatus::Creating {
                // Its create finds out when it is done, and takes the session back.
                state.ended_while_creating.insert(session_id, exit);
                return;
            }
            let Some(mut session) = state.registry.remove(&session_id) else {
                return;
            };
            tracing::info!(
                session = %session_id,
                sandbox,
                exit = %describe(&exit),
                last_lines = ?exit.log_tail,
                "the sandbox ended on its own; session ended"
            );
            self.events.emit(EventKind::SessionEnded {
                session_id: session_id.clone(),
                code: exit.code,
                signal: exit.signal,
            });
            drop(self.store.keep(Change::Delete(session_id.clone())));
            if let Some(fates) = &state.closing {
                let _ = fates.send(SessionFate {
                    id: session_id.clone(),
                    fate: Fate::Stopped,
                    error: None,
                });
            }
            session.status = SessionStatus::Ended;
            session.busy_since_ms = None;
            state.ended.keep(EndedSession {
                session,
                exit,
                ended_ms: now_ms(),
            })
        };
        self.settled.notify_waiters();
        if let Some(sandbox) = forgotten {
            self.backend.discard(&sandbox).await;
        }
    }

    /// Forgets the ended sessions kept long enough, with their logs; returns how many.
    pub async fn forget_ended(&self) -> u64 {
        let forgotten = self.lock().ended.forget_due(now_ms());
        for sandbox in &forgotten {
            self.backend.discard(sandbox).await;
        }
        forgotten.len() as u64
    }

    /// Forgets ended session `id`, with its log, if there is one; returns its last view.
    pub(super) async fn forget(&self, id: &str) -> Option<SessionInfo> {
        let (info, sandbox) = {
            let mut state = self.lock();
            let info = state.ended.get(id)?.info();
            (info, state.ended.remove(id)?)
        };
        self.backend.discard(&sandbox).await;
        Some(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msb_proto::Flavor;

    fn ended(id: &str, ended_ms: u64) -> EndedSession {
        EndedSession {
            session: Session {
                id: id.into(),
                template: "t".into(),
                flavor: Flavor::Small,
                status: SessionStatus::Ended,
                sandbox: format!("msb-{id}"),
                created_at_ms: 0,
                last_accessed_ms: 0,
                busy_since_ms: None,
                error: None,
                owner: None,
                labels: Default::default(),
                stopping: false,
                working: 0,
            },
            exit: SandboxExit {
                code: Some(3),
                signal: None,
                ended_at: ended_ms / 1000,
                log_tail: Vec::new(),
            },
            ended_ms,
        }
    }

    #[test]
    fn ended_sessions_are_forgotten_after_their_time_and_the_oldest_when_too_many() {
        let mut kept = Ended::default();
        let kept_ms = KEPT_FOR.as_millis() as u64;
        assert_eq!(kept.keep(ended("a", 1000)), None);
        assert_eq!(kept.keep(ended("b", 2000)), None);
        assert!(kept.has_sandbox("msb-a"));
        assert!(kept.forget_due(1000 + kept_ms - 1).is_empty());
        assert_eq!(kept.forget_due(1000 + kept_ms), ["msb-a"]);
        assert!(kept.get("a").is_none() && kept.get("b").is_some());
        for i in 1..MAX_KEPT as u64 {
            assert_eq!(kept.keep(ended(&format!("n{i}"), 3000 + i)), None, "{i}");
        }
        assert_eq!(kept.keep(ended("last", 9999)), Some("msb-b".into()));
        assert_eq!(kept.iter().count(), MAX_KEPT);
    }

    #[test]
    fn exits_are_told_in_a_few_words() {
        let mut exit = ended("a", 0).exit;
        assert_eq!(describe(&exit), "exit 3");
        exit.code = None;
        exit.signal = Some(9);
        assert_eq!(describe(&exit), "signal 9");
        exit.signal = None;
        assert_eq!(describe(&exit), "exit status unknown");
    }
}
