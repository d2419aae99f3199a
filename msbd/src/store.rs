//! The durable session registry: SQLite (WAL, synchronous=FULL) in the state dir. Every
//! create, status change and stop is committed before it is acknowledged; touches are written
//! in batches at most a second late. Pause leases are kept too, so a maintenance window
//! outlives a daemon restart. A store that cannot be read stops the daemon: it is never
//! replaced behind the operator's back.

use crate::sessions::Session;
use msb_proto::{Flavor, SessionStatus};
use rusqlite::{params, Connection};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

pub const STORE_FILE: &str = "sessions.db";
/// Bumped when the schema changes; a store from a newer msbd is refused.
const SCHEMA_VERSION: i64 = 1;

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
    #[error("the session store {path} was written by a newer msbd (schema {found}, this one knows {SCHEMA_VERSION})")]
    Newer { path: PathBuf, found: i64 },
    #[error("cannot write the session store {path}: {source}")]
    Write {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the session store {path} holds a bad row for session '{id}': {what}")]
    Row {
        path: PathBuf,
        id: String,
        what: String,
    },
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

pub struct Store {
    path: PathBuf,
    /// One connection; every statement is short, and callers never hold it across `.await`.
    conn: Mutex<Connection>,
}

fn status_name(status: SessionStatus) -> String {
    status.to_string()
}

fn parse_status(text: &str) -> Option<SessionStatus> {
    use SessionStatus::*;
    [Creating, Ready, Running, Processing, Error, Stopped]
        .into_iter()
        .find(|s| s.to_string() == text)
}

fn parse_flavor(text: &str) -> Option<Flavor> {
    [Flavor::Small, Flavor::Medium, Flavor::Large]
        .into_iter()
        .find(|f| f.name() == text)
}

impl Store {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(STORE_FILE);
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(open_err)?;
        // A file that is not a database fails here, at the first read.
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(open_err)?;
        if check != "ok" {
            return Err(open_err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(check),
            )));
        }
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(open_err)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                path,
                found: version,
            });
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS sessions (
                id TEXT PRIMARY KEY,
                template TEXT NOT NULL,
                flavor TEXT NOT NULL,
                status TEXT NOT NULL,
                sandbox TEXT NOT NULL,
                created_at_ms INTEGER NOT NULL,
                last_accessed_ms INTEGER NOT NULL,
                busy_since_ms INTEGER,
                error TEXT
            );
            CREATE TABLE IF NOT EXISTS pauses (
                task TEXT PRIMARY KEY,
                by_uid INTEGER,
                reason TEXT,
                since_ms INTEGER NOT NULL,
                until_ms INTEGER
            );",
        )
        .map_err(open_err)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(open_err)?;
        Ok(Self {
            path,
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Turns a failed write into an error naming the store.
    pub fn write_err(&self) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Write {
            path: self.path.clone(),
            source,
        }
    }

    /// Turns a failed read into an error naming the store.
    fn read_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + Copy + '_ {
        |source| StoreError::Open {
            path: self.path.clone(),
            source,
        }
    }

    pub fn sessions(&self) -> Result<Vec<Session>, StoreError> {
        let conn = self.lock();
        let open_err = self.read_err();
        let mut stmt = conn
            .prepare(
                "SELECT id, template, flavor, status, sandbox, created_at_ms, last_accessed_ms, busy_since_ms, error
                 FROM sessions",
            )
            .map_err(open_err)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, i64>(5)?,
                    row.get::<_, i64>(6)?,
                    row.get::<_, Option<i64>>(7)?,
                    row.get::<_, Option<String>>(8)?,
                ))
            })
            .map_err(open_err)?;
        let mut sessions = Vec::new();
        for row in rows {
            let (id, template, flavor, status, sandbox, created, accessed, busy, error) =
                row.map_err(open_err)?;
            let bad = |what: &str| StoreError::Row {
                path: self.path.clone(),
                id: id.clone(),
                what: what.to_string(),
            };
            let flavor =
                parse_flavor(&flavor).ok_or_else(|| bad(&format!("unknown flavor '{flavor}'")))?;
            let status =
                parse_status(&status).ok_or_else(|| bad(&format!("unknown status '{status}'")))?;
            sessions.push(Session {
                id: id.clone(),
                template,
                flavor,
                status,
                sandbox,
                created_at_ms: created.max(0) as u64,
                last_accessed_ms: accessed.max(0) as u64,
                busy_since_ms: busy.map(|b| b.max(0) as u64),
                error,
                stopping: false,
            });
        }
        Ok(sessions)
    }

    pub fn put(conn: &Connection, s: &Session) -> rusqlite::Result<()> {
        conn.execute(
            "INSERT OR REPLACE INTO sessions
             (id, template, flavor, status, sandbox, created_at_ms, last_accessed_ms, busy_since_ms, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                s.id,
                s.template,
                s.flavor.name(),
                status_name(s.status),
                s.sandbox,
                s.created_at_ms as i64,
                s.last_accessed_ms as i64,
                s.busy_since_ms.map(|b| b as i64),
                s.error,
            ],
        )
        .map(drop)
    }

    pub fn delete(conn: &Connection, id: &str) -> rusqlite::Result<()> {
        conn.execute("DELETE FROM sessions WHERE id = ?1", params![id])
            .map(drop)
    }

    /// Writes many last-access times in one transaction.
    pub fn touch_many(&self, touches: &[(String, u64)]) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(self.write_err())?;
        {
            let mut stmt = tx
                .prepare_cached("UPDATE sessions SET last_accessed_ms = ?2 WHERE id = ?1")
                .map_err(self.write_err())?;
            for (id, at) in touches {
                stmt.execute(params![id, *at as i64])
                    .map_err(self.write_err())?;
            }
        }
        tx.commit().map_err(self.write_err())
    }

    pub fn pauses(&self) -> Result<Vec<StoredPause>, StoreError> {
        let conn = self.lock();
        let open_err = self.read_err();
        let mut stmt = conn
            .prepare("SELECT task, by_uid, reason, since_ms, until_ms FROM pauses")
            .map_err(open_err)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(StoredPause {
                    task: row.get(0)?,
                    by_uid: row.get(1)?,
                    reason: row.get(2)?,
                    since_ms: row.get::<_, i64>(3)?.max(0) as u64,
                    until_ms: row.get::<_, Option<i64>>(4)?.map(|u| u.max(0) as u64),
                })
            })
            .map_err(open_err)?;
        rows.collect::<Result<_, _>>().map_err(open_err)
    }

    /// Records a task's pause lease, or its end (`None`).
    pub fn set_pause(&self, task: &str, pause: Option<&StoredPause>) -> Result<(), StoreError> {
        let conn = self.lock();
        match pause {
            Some(p) => conn.execute(
                "INSERT OR REPLACE INTO pauses (task, by_uid, reason, since_ms, until_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![task, p.by_uid, p.reason, p.since_ms as i64, p.until_ms.map(|u| u as i64)],
            ),
            None => conn.execute("DELETE FROM pauses WHERE task = ?1", params![task]),
        }
        .map(drop)
        .map_err(self.write_err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            stopping: false,
        }
    }

    #[test]
    fn sessions_and_pauses_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            Store::put(&store.lock(), &session("a")).expect("put");
            Store::put(&store.lock(), &session("b")).expect("put");
            Store::delete(&store.lock(), "b").expect("delete");
            store.touch_many(&[("a".into(), 99)]).expect("touch");
            let pause = StoredPause {
                task: "orphan-cleanup".into(),
                by_uid: Some(0),
                reason: Some("disk swap".into()),
                since_ms: 1,
                until_ms: Some(2),
            };
            store
                .set_pause("orphan-cleanup", Some(&pause))
                .expect("pause");
        }
        let store = Store::open(dir.path()).expect("reopen");
        let mut expected = session("a");
        expected.last_accessed_ms = 99;
        assert_eq!(store.sessions().expect("load"), vec![expected]);
        let pauses = store.pauses().expect("pauses");
        assert_eq!(pauses.len(), 1);
        assert_eq!(pauses[0].reason.as_deref(), Some("disk swap"));
        store.set_pause("orphan-cleanup", None).expect("resume");
        assert!(store.pauses().expect("pauses").is_empty());
    }

    #[test]
    fn a_corrupt_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(STORE_FILE);
        std::fs::write(&path, b"this is not a database, but somebody's data").expect("write");
        let err = Store::open(dir.path()).err().expect("refused");
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
