//! The store's own thread: it takes changes from a queue, writes them, and, while writes
//! fail, keeps them and retries every second until they succeed. It keeps no copy of the
//! sessions (the registry is the one in memory): a file deleted or replaced under it is
//! written again from the connection that still holds the old one, and only while no new
//! file can be written does it hold what the store should, in memory.

use super::{db, Change, Condition, StoreError, StoredPause};
use crate::clock::now_ms;
use crate::session::Session;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use rusqlite::Connection;
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// How often a failing store is tried again.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(super) enum Job {
    Write {
        change: Change,
        /// Keep the change only if it reached the disk.
        must: bool,
        done: Option<oneshot::Sender<Result<(), StoreError>>>,
    },
    /// Something happened to the store's file: check it is still the one we write.
    Check,
    Close(Option<oneshot::Sender<()>>),
}

/// What the store should hold, in memory: only while its file is lost.
struct Contents {
    sessions: HashMap<String, Session>,
    pauses: BTreeMap<String, StoredPause>,
}

/// What a change replaced in the contents, to put back when a change that had to be durable
/// could not be written.
enum Undo {
    Session(String, Option<Session>),
    Pause(String, Option<StoredPause>),
    Nothing,
}

impl Contents {
    /// Applies `change`; returns what to put back to undo it.
    fn apply(&mut self, change: Change) -> Undo {
        match change {
            Change::Put(session) => {
                let id = session.id.clone();
                let before = self.sessions.insert(id.clone(), session);
                Undo::Session(id, before)
            }
            Change::Delete(id) => {
                let before = self.sessions.remove(&id);
                Undo::Session(id, before)
            }
            Change::Touch(touches) => {
                for (id, at) in touches {
                    if let Some(session) = self.sessions.get_mut(&id) {
                        session.last_accessed_ms = at;
                    }
                }
                Undo::Nothing
            }
            Change::Pause(task, pause) => {
                let before = match pause {
                    Some(pause) => self.pauses.insert(task.clone(), pause),
                    None => self.pauses.remove(&task),
                };
                Undo::Pause(task, before)
            }
        }
    }

    fn undo(&mut self, undo: Undo) {
        match undo {
            Undo::Session(id, Some(session)) => {
                self.sessions.insert(id, session);
            }
            Undo::Session(id, None) => {
                self.sessions.remove(&id);
            }
            Undo::Pause(task, Some(pause)) => {
                self.pauses.insert(task, pause);
            }
            Undo::Pause(task, None) => {
                self.pauses.remove(&task);
            }
            Undo::Nothing => {}
        }
    }
}

struct Writer {
    path: PathBuf,
    /// `None` after the file was found deleted and could not be written again yet.
    conn: Option<Connection>,
    /// (device, inode) of the file `conn` has open, to notice it deleted or replaced.
    identity: Option<(u64, u64)>,
    /// Kept changes whose writes failed, oldest first: written before the next change.
    pending: Vec<Change>,
    /// The whole store, while its file is lost and `conn` is `None`.
    lost: Option<Contents>,
    condition: Arc<Mutex<Condition>>,
}

/// Starts the writer thread on `conn` (and a watcher of the state dir); returns its queue.
pub(super) fn start(
    conn: Connection,
    path: &Path,
    condition: Arc<Mutex<Condition>>,
) -> Result<mpsc::Sender<Job>, StoreError> {
    let (jobs, queue) = mpsc::channel();
    let writer = Writer {
        path: path.to_path_buf(),
        conn: Some(conn),
        identity: identity(path),
        pending: Vec::new(),
        lost: None,
        condition,
    };
    std::thread::Builder::new()
        .name("msbd-store".into())
        .spawn(move || writer.run(queue))
        .map_err(|source| StoreError::Thread {
            path: path.to_path_buf(),
            source,
        })?;
    watch_file(path, jobs.clone());
    Ok(jobs)
}

fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Tells the writer whenever the store's file is deleted, moved or replaced, so that it is
/// rewritten at once rather than at the next write. Best effort: the writer also checks
/// before every write.
fn watch_file(path: &Path, jobs: mpsc::Sender<Job>) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let name = name.to_os_string();
    let watched = Inotify::init(InitFlags::IN_CLOEXEC).and_then(|inotify| {
        inotify
            .add_watch(
                dir,
                AddWatchFlags::IN_DELETE
                    | AddWatchFlags::IN_MOVED_FROM
                    | AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_CREATE,
            )
            .map(|_| inotify)
    });
    let inotify = match watched {
        Ok(inotify) => inotify,
        Err(err) => {
            tracing::warn!(dir = %dir.display(), error = %err, "cannot watch the state dir; a deleted store is noticed at the next write");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("msbd-store-watch".into())
        .spawn(move || loop {
            match inotify.read_events() {
                Ok(events) => {
                    if events.iter().any(|e| e.name.as_ref() == Some(&name))
                        && jobs.send(Job::Check).is_err()
                    {
                        return;
                    }
                }
                Err(nix::Error::EINTR) => {}
                Err(_) => return,
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "cannot watch the state dir; a deleted store is noticed at the next write");
    }
}

impl Writer {
    fn run(mut self, queue: mpsc::Receiver<Job>) {
        loop {
            let job = if self.failing() {
                match queue.recv_timeout(RETRY) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => {
                        self.recover();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match queue.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            };
            match job {
                Job::Write { change, must, done } => {
                    self.check_file();
                    let result = self.write(change, must);
                    if let Some(done) = done {
                        let _ = done.send(result);
                    }
                }
                Job::Check => self.check_file(),
                Job::Close(done) => {
                    self.check_file();
                    if self.failing() {
                        self.recover();
                    }
                    drop(self.conn.take());
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
            }
        }
    }

    fn failing(&self) -> bool {
        self.condition
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .error
            .is_some()
    }

    fn write(&mut self, change: Change, must: bool) -> Result<(), StoreError> {
        let written = match (self.conn.is_some(), &mut self.lost) {
            (true, _) => {
                self.pending.push(change);
                let written = self.flush();
                if written.is_err() && must {
                    self.pending.pop();
                }
                written
            }
            (false, Some(contents)) => {
                let undo = contents.apply(change);
                let written = self.recreate();
                if let (Err(_), Some(contents)) = (&written, &mut self.lost) {
                    if must {
                        contents.undo(undo);
                    }
                }
                written
            }
            (false, None) => Err(self.stopped()),
        };
        self.note(&written);
        written
    }

    /// Writes the changes that wait, in one transaction; once written they wait no more.
    fn flush(&mut self) -> Result<(), StoreError> {
        let Some(conn) = &mut self.conn else {
            return Err(self.stopped());
        };
        db::apply(conn, &self.pending).map_err(|e| db::write_error(conn, &self.path, e))?;
        self.pending.clear();
        Ok(())
    }

    fn stopped(&self) -> StoreError {
        StoreError::Stopped {
            path: self.path.clone(),
        }
    }

    /// Writes what the store should hold as a new file in place of a lost one.
    fn recreate(&mut self) -> Result<(), StoreError> {
        let Some(contents) = &self.lost else {
            return Ok(());
        };
        let io = |source| StoreError::Io {
            path: self.path.clone(),
            source,
        };
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".new");
        let tmp = PathBuf::from(tmp);
        for leftover in [tmp.clone(), suffixed(&tmp, "-journal")] {
            let _ = std::fs::remove_file(leftover);
        }
        // A WAL left at the path belongs to whatever stood there; it must not be replayed
        // into the new file.
        for leftover in [suffixed(&self.path, "-wal"), suffixed(&self.path, "-shm")] {
            let _ = std::fs::remove_file(leftover);
        }
        db::create_full(&tmp, contents.sessions.values(), contents.pauses.values()).map_err(
            |source| StoreError::Write {
                path: tmp.clone(),
                source,
                os: None,
            },
        )?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|dir| dir.sync_all())
                .map_err(io)?;
        }
        self.conn = Some(db::connect(&self.path)?);
        self.identity = identity(&self.path);
        let sessions = contents.sessions.len();
        self.lost = None;
        tracing::warn!(store = %self.path.display(), sessions, "the session store was written again from memory");
        Ok(())
    }

    /// Notices a store file that was deleted or replaced, and writes it again from what the
    /// connection, still open on the old file, holds.
    fn check_file(&mut self) {
        let Some(conn) = &self.conn else {
            return;
        };
        if identity(&self.path) == self.identity {
            return;
        }
        tracing::warn!(store = %self.path.display(), "the session store was deleted or replaced while msbd ran; writing it again from memory");
        let read = db::sessions(conn, &self.path)
            .and_then(|sessions| Ok((sessions, db::pauses(conn, &self.path)?)));
        let mut contents = match read {
            Ok((sessions, pauses)) => Contents {
                sessions: sessions.into_iter().map(|s| (s.id.clone(), s)).collect(),
                pauses: pauses.into_iter().map(|p| (p.task.clone(), p)).collect(),
            },
            Err(err) => {
                // Kept open: the old file is still ours, and a later check tries again.
                self.fail(&err);
                return;
            }
        };
        for change in self.pending.drain(..) {
            contents.apply(change);
        }
        // Closing folds our WAL into the old (now unlinked) file and removes it by name.
        drop(self.conn.take());
        self.identity = None;
        self.lost = Some(contents);
        let rewritten = self.recreate();
        self.note(&rewritten);
    }

    /// One retry of a failing store.
    fn recover(&mut self) {
        let result = match &self.conn {
            None => self.recreate(),
            Some(_) if !self.pending.is_empty() => self.flush(),
            Some(conn) => {
                db::probe(conn, now_ms()).map_err(|e| db::write_error(conn, &self.path, e))
            }
        };
        self.note(&result);
    }

    /// Tells the store's condition how a write (or a retry) went.
    fn note(&self, result: &Result<(), StoreError>) {
        match result {
            Ok(()) => self.healthy(),
            Err(err) => self.fail(err),
        }
    }

    fn fail(&self, err: &StoreError) {
        let mut condition = self.condition.lock().unwrap_or_else(|e| e.into_inner());
        let message = err.to_string();
        if condition.error.as_ref() != Some(&message) {
            tracing::error!(error = %message, "the session store is failing; msbd keeps running and retries every second");
        }
        condition.error = Some(message);
        condition.since_ms.get_or_insert_with(now_ms);
        condition.errors += 1;
    }

    fn healthy(&self) {
        let mut condition = self.condition.lock().unwrap_or_else(|e| e.into_inner());
        if condition.error.take().is_some() {
            tracing::info!(store = %self.path.display(), "the session store takes writes again");
        }
        condition.since_ms = None;
    }
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
