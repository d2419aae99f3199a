//! The SQLite side of the store: opening in exclusive WAL mode, the schema, reading, and the
//! statements the writer runs.

use super::{Change, StoreError, StoredPause};
use crate::session::Session;
use msb_proto::{Flavor, Labels, SessionStatus};
use rusqlite::{params, Connection, OpenFlags};
use std::path::Path;

/// Bumped when the schema changes; a store from a newer msbd is refused.
const SCHEMA_VERSION: i64 = 3;
/// SQLite's page cache, negative: in KiB rather than pages.
const CACHE_KIB: i64 = -128;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY,
        template TEXT NOT NULL,
        flavor TEXT NOT NULL,
        status TEXT NOT NULL,
        sandbox TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        last_accessed_ms INTEGER NOT NULL,
        busy_since_ms INTEGER,
        error TEXT,
        owner INTEGER,
        labels TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE IF NOT EXISTS pauses (
        task TEXT PRIMARY KEY,
        by_uid INTEGER,
        reason TEXT,
        since_ms INTEGER NOT NULL,
        until_ms INTEGER
    );
    CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value INTEGER
    );";

/// " (No space left on device, os error 28)" for an errno, or nothing.
pub(super) fn os_note(os: &Option<i32>) -> String {
    match os {
        Some(errno) => format!(" ({})", std::io::Error::from_raw_os_error(*errno)),
        None => String::new(),
    }
}

/// The error of a failed write, with the OS error behind it.
pub(super) fn write_error(conn: &Connection, path: &Path, source: rusqlite::Error) -> StoreError {
    // SAFETY: the handle is this open connection's; the call only reads its last errno.
    let errno = unsafe { rusqlite::ffi::sqlite3_system_errno(conn.handle()) };
    // SQLite reports a full disk as SQLITE_FULL and clears the errno ("not a system error").
    let full = source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull);
    StoreError::Write {
        path: path.to_path_buf(),
        source,
        os: match errno {
            0 if full => Some(nix::libc::ENOSPC),
            0 => None,
            errno => Some(errno),
        },
    }
}

/// Opens the store at `path` in exclusive locking mode with a WAL, creating it if needed.
pub(super) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = Connection::open(path).map_err(open_err)?;
    // Before the first access: the WAL index then lives in this process's memory, and no
    // shared-memory file is ever mapped.
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(open_err)?;
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
            path: path.to_path_buf(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(open_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_err)?;
    // Rows are written by key and read only at start-up: a small page cache does, where the
    // default one (2 MB) would grow with the store and cost every session memory.
    conn.pragma_update(None, "cache_size", CACHE_KIB)
        .map_err(open_err)?;
    let mut steps = vec![SCHEMA];
    if version == 1 {
        // Sessions stored before owners were: nobody in particular owns them.
        steps.push("ALTER TABLE sessions ADD COLUMN owner INTEGER;");
    }
    if (1..3).contains(&version) {
        // Sessions stored before labels were carry none.
        steps.push("ALTER TABLE sessions ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';");
    }
    // The schema and its version change in one transaction: a daemon that dies half-way
    // leaves the store as it was, to be brought up to date at the next start.
    let tx = conn.transaction().map_err(open_err)?;
    tx.execute_batch(&steps.concat()).map_err(open_err)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(open_err)?;
    tx.commit().map_err(open_err)?;
    Ok(conn)
}

/// Writes `sessions` and `pauses` as a complete new store at `path` (which must not exist),
/// in rollback-journal mode so that the finished file stands alone and can be renamed.
pub(super) fn create_full<'a>(
    path: &Path,
    sessions: impl Iterator<Item = &'a Session>,
    pauses: impl Iterator<Item = &'a StoredPause>,
) -> rusqlite::Result<()> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(SCHEMA)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    replace_all(&mut conn, sessions, pauses)?;
    conn.close().map_err(|(_, err)| err)
}

fn status_name(status: SessionStatus) -> String {
    status.to_string()
}

fn parse_status(text: &str) -> Option<SessionStatus> {
    SessionStatus::ALL
        .into_iter()
        .find(|s| s.to_string() == text)
}

fn parse_flavor(text: &str) -> Option<Flavor> {
    Flavor::ALL.into_iter().find(|f| f.name() == text)
}

pub(super) fn sessions(conn: &Connection, path: &Path) -> Result<Vec<Session>, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut stmt = conn
        .prepare(
            "SELECT id, template, flavor, status, sandbox, created_at_ms, last_accessed_ms, busy_since_ms, error, owner, labels
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
                row.get::<_, Option<i64>>(9)?,
                row.get::<_, String>(10)?,
            ))
        })
        .map_err(open_err)?;
    let mut sessions = Vec::new();
    for row in rows {
        let (id, template, flavor, status, sandbox, created, accessed, busy, error, owner, labels) =
            row.map_err(open_err)?;
        let bad = |what: String| StoreError::Row {
            path: path.to_path_buf(),
            id: id.clone(),
            what,
        };
        let flavor =
            parse_flavor(&flavor).ok_or_else(|| bad(format!("unknown flavor '{flavor}'")))?;
        let status =
            parse_status(&status).ok_or_else(|| bad(format!("unknown status '{status}'")))?;
        let labels = serde_json::from_str(&labels).map_err(|err| {
            bad(format!(
                "labels that are not a JSON object of strings: {err}"
            ))
        })?;
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
            owner: owner.and_then(|o| u32::try_from(o).ok()),
            labels,
            stopping: false,
            working: 0,
        });
    }
    Ok(sessions)
}

pub(super) fn pauses(conn: &Connection, path: &Path) -> Result<Vec<StoredPause>, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
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

fn put(conn: &Connection, s: &Session) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO sessions
         (id, template, flavor, status, sandbox, created_at_ms, last_accessed_ms, busy_since_ms, error, owner, labels)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        s.id,
        s.template,
        s.flavor.name(),
        status_name(s.status),
        s.sandbox,
        s.created_at_ms as i64,
        s.last_accessed_ms as i64,
        s.busy_since_ms.map(|b| b as i64),
        s.error,
        s.owner.map(i64::from),
        labels_json(&s.labels)?,
    ])
    .map(drop)
}

/// Labels as stored: a JSON object, as `--json` shows them.
fn labels_json(labels: &Labels) -> rusqlite::Result<String> {
    serde_json::to_string(labels).map_err(|err| rusqlite::Error::ToSqlConversionFailure(err.into()))
}

fn put_pause(conn: &Connection, p: &StoredPause) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO pauses (task, by_uid, reason, since_ms, until_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        p.task,
        p.by_uid,
        p.reason,
        p.since_ms as i64,
        p.until_ms.map(|u| u as i64)
    ])
    .map(drop)
}

/// Applies one change in one transaction.
/// Applies `changes`, in order, in one transaction.
pub(super) fn apply(conn: &mut Connection, changes: &[Change]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for change in changes {
        apply_one(&tx, change)?;
    }
    tx.commit()
}

fn apply_one(tx: &Connection, change: &Change) -> rusqlite::Result<()> {
    match change {
        Change::Put(session) => put(tx, session)?,
        Change::Delete(id) => {
            tx.prepare_cached("DELETE FROM sessions WHERE id = ?1")?
                .execute(params![id])?;
        }
        Change::Touch(touches) => {
            let mut stmt =
                tx.prepare_cached("UPDATE sessions SET last_accessed_ms = ?2 WHERE id = ?1")?;
            for (id, at) in touches {
                stmt.execute(params![id, *at as i64])?;
            }
        }
        Change::Pause(task, Some(pause)) => {
            debug_assert_eq!(task, &pause.task);
            put_pause(tx, pause)?
        }
        Change::Pause(task, None) => {
            tx.prepare_cached("DELETE FROM pauses WHERE task = ?1")?
                .execute(params![task])?;
        }
    }
    Ok(())
}

/// Makes the store hold exactly `sessions` and `pauses`, in one transaction.
pub(super) fn replace_all<'a>(
    conn: &mut Connection,
    sessions: impl Iterator<Item = &'a Session>,
    pauses: impl Iterator<Item = &'a StoredPause>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM sessions", [])?;
    tx.execute("DELETE FROM pauses", [])?;
    for session in sessions {
        put(&tx, session)?;
    }
    for pause in pauses {
        put_pause(&tx, pause)?;
    }
    tx.commit()
}

/// A real write that proves the store takes writes again, without touching sessions or
/// pauses.
pub(super) fn probe(conn: &Connection, now_ms: u64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('probed_at_ms', ?1)",
        params![now_ms as i64],
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_from_before_owners_is_brought_up_to_date() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sessions.db");
        {
            let old = Connection::open(&path).expect("create");
            old.execute_batch(
                "CREATE TABLE sessions (id TEXT PRIMARY KEY, template TEXT NOT NULL,
                   flavor TEXT NOT NULL, status TEXT NOT NULL, sandbox TEXT NOT NULL,
                   created_at_ms INTEGER NOT NULL, last_accessed_ms INTEGER NOT NULL,
                   busy_since_ms INTEGER, error TEXT);
                 INSERT INTO sessions VALUES ('old', 'default', 'small', 'ready', 'msb-old-1', 1, 2, NULL, NULL);
                 PRAGMA user_version = 1;",
            )
            .expect("an old store");
        }
        let conn = connect(&path).expect("opened and migrated");
        let sessions = sessions(&conn, &path).expect("read");
        assert_eq!(sessions.len(), 1);
        assert_eq!((sessions[0].id.as_str(), sessions[0].owner), ("old", None));
        assert!(sessions[0].labels.is_empty());
        let mut owned = sessions[0].clone();
        owned.owner = Some(1000);
        owned.labels.insert("team".into(), "a".into());
        put(&conn, &owned).expect("an owner and labels are stored");
        assert_eq!(super::sessions(&conn, &path).expect("read"), [owned]);
    }

    #[test]
    fn a_store_from_before_labels_is_brought_up_to_date() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sessions.db");
        {
            // As the msbd before labels wrote it: schema 2, sessions with owners.
            let old = Connection::open(&path).expect("create");
            old.execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE sessions (id TEXT PRIMARY KEY, template TEXT NOT NULL,
                   flavor TEXT NOT NULL, status TEXT NOT NULL, sandbox TEXT NOT NULL,
                   created_at_ms INTEGER NOT NULL, last_accessed_ms INTEGER NOT NULL,
                   busy_since_ms INTEGER, error TEXT, owner INTEGER);
                 CREATE TABLE pauses (task TEXT PRIMARY KEY, by_uid INTEGER, reason TEXT,
                   since_ms INTEGER NOT NULL, until_ms INTEGER);
                 CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER);
                 INSERT INTO sessions VALUES ('old', 'default', 'small', 'processing', 'msb-old-1', 1, 2, 3, NULL, 1000);
                 INSERT INTO pauses VALUES ('orphan-cleanup', 0, 'disk swap', 1, NULL);
                 PRAGMA user_version = 2;",
            )
            .expect("an old store");
        }
        let conn = connect(&path).expect("opened and migrated");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        let stored = sessions(&conn, &path).expect("read");
        assert_eq!(stored.len(), 1);
        let old = &stored[0];
        assert_eq!(
            (old.id.as_str(), old.status, old.busy_since_ms, old.owner),
            ("old", SessionStatus::Processing, Some(3), Some(1000))
        );
        assert!(old.labels.is_empty());
        assert_eq!(pauses(&conn, &path).expect("pauses").len(), 1);
        let mut labelled = old.clone();
        labelled.id = "new".into();
        labelled.labels = [("mcp.client", "agent 7"), ("team", "")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        put(&conn, &labelled).expect("labels are stored");
        drop(conn);
        // Opened again, nothing is migrated twice.
        let conn = connect(&path).expect("reopened");
        let mut stored = sessions(&conn, &path).expect("read");
        stored.sort_by(|a, b| b.id.cmp(&a.id));
        assert_eq!(stored, [old.clone(), labelled]);
    }

    #[test]
    fn labels_that_are_not_an_object_are_a_bad_row() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sessions.db");
        let conn = connect(&path).expect("create");
        conn.execute_batch(
            "INSERT INTO sessions VALUES ('odd', 'default', 'small', 'ready', 'msb-odd-1', 1, 2, NULL, NULL, NULL, '[1]')",
        )
        .expect("insert");
        let err = sessions(&conn, &path).expect_err("refused");
        assert!(
            matches!(&err, StoreError::Row { id, .. } if id == "odd"),
            "{err}"
        );
    }
}
