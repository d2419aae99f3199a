//! The durable session registry: SQLite in the state dir, written by one thread of its own
//! so that no fsync ever runs on the async runtime. Every change goes through a queue, in
//! the order it happened; a change that must be durable before it is acknowledged (a create,
//! a busy mark, a pause) is answered once it is on disk, and is dropped again if it could not
//! be written. Changes that happened whatever the disk says (a sandbox that stopped, touches,
//! a resume) are kept and written as soon as the store takes writes again.
//!
//! The writer keeps a mirror of what the store should hold. While writes fail the store is
//! `degraded` (status and health say so); it retries every second and recovers by itself,
//! rewriting what it missed from the mirror. A store file deleted or replaced under msbd is
//! noticed (inotify on the state dir, and a check before each write) and rewritten from the
//! mirror. msbd holds the state dir for itself, so SQLite runs in exclusive locking mode:
//! the WAL index lives in memory and there is no shared-memory file that could fault.

mod db;
mod writer;

use crate::session::Session;
use msb_proto::{Health, StoreHealth};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;
use writer::Job;

pub const STORE_FILE: &str = "sessions.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the session store {path} cannot be used: {source}. msbd never replaces it; \
         restore it from a backup, or move it away to start with an empty registry"
    )]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the session store {path} was written by a newer msbd (schema {found}, this one knows {known})")]
    Newer {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("cannot write the session store {path}: {source}{}", db::os_note(.os))]
    Write {
        path: PathBuf,
        source: rusqlite::Error,
        /// The operating system's error behind it (such as ENOSPC), when SQLite saw one.
        os: Option<i32>,
    },
    #[error("the session store {path} holds a bad row for session '{id}': {what}")]
    Row {
        path: PathBuf,
        id: String,
        what: String,
    },
    #[error("cannot write the session store {path} again: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the writer of the session store {path}: {source}")]
    Thread {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the writer of the session store {path} has stopped")]
    Stopped { path: PathBuf },
}

/// A pause lease as stored: wall-clock times in unix ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPause {
    pub task: String,
    pub by_uid: Option<u32>,
    pub reason: Option<String>,
    pub since_ms: u64,
    pub until_ms: Option<u64>,
}

/// One change to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Put(Session),
    Delete(String),
    /// New last-access times of existing sessions.
    Touch(Vec<(String, u64)>),
    /// A task's pause lease, or its end.
    Pause(String, Option<StoredPause>),
}

/// What the store held when it was opened.
#[derive(Debug, Default)]
pub struct Loaded {
    pub sessions: Vec<Session>,
    pub pauses: Vec<StoredPause>,
}

/// Whether the store takes writes, for `status` and `health`.
#[derive(Debug, Clone, Default)]
struct Condition {
    error: Option<String>,
    since_ms: Option<u64>,
    /// Writes (and retries) that failed since start, for the metrics.
    errors: u64,
}

/// A handle to the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    jobs: mpsc::Sender<Job>,
    condition: Arc<Mutex<Condition>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.jobs.send(Job::Close(None));
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`, reads it, and starts its writer. Blocking: run
    /// it before serving, or off the runtime.
    pub fn open(dir: &Path) -> Result<(Self, Loaded), StoreError> {
        let path = dir.join(STORE_FILE);
        let conn = db::connect(&path)?;
        let loaded = Loaded {
            sessions: db::sessions(&conn, &path)?,
            pauses: db::pauses(&conn, &path)?,
        };
        let condition = Arc::new(Mutex::new(Condition::default()));
        let jobs = writer::start(conn, &path, condition.clone())?;
        let store = Self {
            inner: Arc::new(Inner {
                path,
                jobs,
                condition,
            }),
        };
        Ok((store, loaded))
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn send(&self, job: Job) -> bool {
        self.inner.jobs.send(job).is_ok()
    }

    fn stopped(&self) -> StoreError {
        StoreError::Stopped {
            path: self.inner.path.clone(),
        }
    }

    /// Queues a change that must be durable: it is kept only if it reached the disk. Queued
    /// at once, in call order; the returned future tells how it went.
    pub fn write(
        &self,
        change: Change,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        self.queue(change, true)
    }

    /// Queues a change that stands whatever the disk says; it is written now, or once the
    /// store recovers. The future tells whether it is on disk yet.
    pub fn keep(
        &self,
        change: Change,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        self.queue(change, false)
    }

    fn queue(
        &self,
        change: Change,
        must: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        let (done, result) = oneshot::channel();
        let queued = self.send(Job::Write {
            change,
            must,
            done: Some(done),
        });
        let stopped = self.stopped();
        async move {
            if !queued {
                return Err(stopped);
            }
            result.await.unwrap_or(Err(stopped))
        }
    }

    /// Writes what is queued and closes the database (its WAL is folded in).
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.send(Job::Close(Some(done))) {
            let _ = closed.await;
        }
    }

    fn condition(&self) -> Condition {
        self.inner
            .condition
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many writes (and retries) failed since start.
    pub fn errors(&self) -> u64 {
        self.condition().errors
    }

    pub fn health(&self) -> StoreHealth {
        let condition = self.condition();
        StoreHealth {
            health: if condition.error.is_some() {
                Health::Degraded
            } else {
                Health::Healthy
            },
            path: self.inner.path.display().to_string(),
            error: condition.error,
            since: condition.since_ms.map(|ms| ms / 1000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msb_proto::{Flavor, SessionStatus};

    fn session(id: &str) -> Session {
        Session {
            id: id.into(),
            template: "default".into(),
            flavor: Flavor::Medium,
            status: SessionStatus::Processing,
            sandbox: format!("msb-{id}"),
            created_at_ms: 10,
            last_accessed_ms: 20,
            busy_since_ms: Some(30),
            error: None,
            owner: None,
            labels: [("team".to_string(), id.to_string())].into(),
            stopping: false,
            working: 0,
        }
    }

    #[tokio::test]
    async fn sessions_and_pauses_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (store, loaded) = Store::open(dir.path()).expect("open");
            assert!(loaded.sessions.is_empty());
            store.write(Change::Put(session("a"))).await.expect("put");
            store.write(Change::Put(session("b"))).await.expect("put");
            store
                .keep(Change::Delete("b".into()))
                .await
                .expect("delete");
            store
                .keep(Change::Touch(vec![("a".into(), 99)]))
                .await
                .expect("touch");
            let pause = StoredPause {
                task: "orphan-cleanup".into(),
                by_uid: Some(0),
                reason: Some("disk swap".into()),
                since_ms: 1,
                until_ms: Some(2),
            };
            store
                .write(Change::Pause("orphan-cleanup".into(), Some(pause)))
                .await
                .expect("pause");
            store.close().await;
            // No shared-memory file: the store runs in exclusive locking mode.
            assert!(!dir.path().join("sessions.db-shm").exists());
        }
        let (store, loaded) = Store::open(dir.path()).expect("reopen");
        let mut expected = session("a");
        expected.last_accessed_ms = 99;
        assert_eq!(loaded.sessions, vec![expected]);
        assert_eq!(loaded.pauses.len(), 1);
        assert_eq!(loaded.pauses[0].reason.as_deref(), Some("disk swap"));
        assert_eq!(store.health().health, Health::Healthy);
    }

    #[tokio::test]
    async fn a_deleted_store_is_rewritten_from_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(dir.path()).expect("open");
        store
            .write(Change::Put(session("kept")))
            .await
            .expect("put");
        std::fs::remove_file(dir.path().join(STORE_FILE)).expect("delete the store");
        store.write(Change::Put(session("new"))).await.expect("put");
        store.close().await;
        let (_, loaded) = Store::open(dir.path()).expect("reopen");
        let mut ids: Vec<String> = loaded.sessions.into_iter().map(|s| s.id).collect();
        ids.sort();
        assert_eq!(ids, ["kept", "new"]);
    }

    #[test]
    fn a_corrupt_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(STORE_FILE);
        std::fs::write(&path, b"this is not a database, but somebody's data").expect("write");
        let err = Store::open(dir.path()).expect_err("refused");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(
            std::fs::read(&path).expect("read"),
            b"this is not a database, but somebody's data"
        );
    }
}
