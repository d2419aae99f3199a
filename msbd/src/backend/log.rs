//! A sandbox's own log on disk: its command's stdout and stderr, merged in the order they were
//! written, kept bounded. The writer appends to `NAME.log` and, once that has passed `LIMIT`,
//! renames it over `NAME.log.1` and starts afresh, so the two files together always hold at
//! least the last `LIMIT` bytes. Beside them, `NAME.exit` says how the command ended (empty
//! until it has). Readers take what is kept, then follow the log as it grows, across
//! rotations.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// How much of a log is kept.
pub const LIMIT: usize = 1024 * 1024;

/// The files of one sandbox's log.
#[derive(Debug, Clone)]
pub struct LogFiles {
    pub log: PathBuf,
    pub rotated: PathBuf,
    pub exit: PathBuf,
}

impl LogFiles {
    /// The files of the log at `log`: its rotated part and exit status lie beside it.
    pub fn of(log: &Path) -> Self {
        let mut rotated = log.as_os_str().to_owned();
        rotated.push(".1");
        Self {
            log: log.to_path_buf(),
            rotated: rotated.into(),
            exit: log.with_extension("exit"),
        }
    }

    /// Removes the log's files; false when one is still there.
    pub fn remove(&self) -> bool {
        let mut gone = true;
        for path in [&self.log, &self.rotated, &self.exit] {
            if let Err(err) = std::fs::remove_file(path) {
                gone &= err.kind() == std::io::ErrorKind::NotFound;
            }
        }
        gone
    }
}

/// The sandbox a file in a logs directory belongs to: `NAME.log`, `NAME.log.1`, `NAME.exit`.
pub fn sandbox_of(file: &str) -> Option<&str> {
    [".log", ".log.1", ".exit"]
        .iter()
        .find_map(|suffix| file.strip_suffix(suffix))
}

/// How a sandbox's command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    Killed(i32),
}

impl Ending {
    /// Records it for msbd, which may not be the keeper's parent (an adopted sandbox), in
    /// the file made for it.
    pub fn record(self, to: &mut File) -> std::io::Result<()> {
        to.write_all(self.text().as_bytes())
    }

    /// What `record` wrote; `None` when nothing (or something unreadable) was.
    pub fn read(path: &Path) -> Option<Self> {
        Self::parse(&std::fs::read_to_string(path).ok()?)
    }

    /// One line: `exited CODE` or `killed SIGNAL`.
    pub fn text(self) -> String {
        match self {
            Self::Exited(code) => format!("exited {code}\n"),
            Self::Killed(signal) => format!("killed {signal}\n"),
        }
    }

    /// What `text` made; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (how, number) = text.trim().split_once(' ')?;
        let number = number.parse().ok()?;
        match how {
            "exited" => Some(Self::Exited(number)),
            "killed" => Some(Self::Killed(number)),
            _ => None,
        }
    }
}

/// Appends to a log, rotating it at `LIMIT`.
#[derive(Debug)]
pub struct Writer {
    files: LogFiles,
    file: File,
    size: usize,
}

impl Writer {
    pub fn create(files: LogFiles) -> std::io::Result<Self> {
        let file = append(&files.log)?;
        let size = file.metadata()?.len() as usize;
        Ok(Self { files, file, size })
    }

    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.size >= LIMIT {
            std::fs::rename(&self.files.log, &self.files.rotated)?;
            self.file = append(&self.files.log)?;
            self.size = 0;
        }
        self.file.write_all(data)?;
        self.size += data.len();
        Ok(())
    }
}

fn append(path: &Path) -> std::io::Result<File> {
    File::options().create(true).append(true).open(path)
}

/// What follows a log from where it was opened.
pub trait Follow: Send {
    /// What was written since the last read, at most `max` bytes; empty when nothing was.
    /// It may block briefly (a read of a file): call it off the runtime's threads.
    fn next(&mut self, max: usize) -> std::io::Result<Vec<u8>>;
}

/// Reads a log: what is kept when it is opened, then what is written after.
#[derive(Debug)]
pub struct Reader {
    files: LogFiles,
    /// The file being followed; a rotation leaves it at `rotated` (or unlinked), where its
    /// last bytes are still read before the new log is opened.
    current: Option<File>,
}

impl Reader {
    /// The reader, at the end of the log, and what is kept of it (its last `LIMIT` bytes).
    pub fn open(files: LogFiles) -> std::io::Result<(Self, Vec<u8>)> {
        // The current file first: a rotation in between then shows as the same file twice,
        // never as a part missing.
        let current = open_if_exists(&files.log)?;
        let rotated = open_if_exists(&files.rotated)?
            .filter(|rotated| !current.as_ref().is_some_and(|c| same_file(c, rotated)));
        let mut kept = Vec::new();
        for file in [rotated.as_ref(), current.as_ref()].into_iter().flatten() {
            let mut file = file;
            file.read_to_end(&mut kept)?;
        }
        if kept.len() > LIMIT {
            kept.drain(..kept.len() - LIMIT);
        }
        Ok((Self { files, current }, kept))
    }
}

impl Follow for Reader {
    fn next(&mut self, max: usize) -> std::io::Result<Vec<u8>> {
        let read = read_up_to(self.current.as_ref(), max)?;
        if !read.is_empty() {
            return Ok(read);
        }
        // Nothing more in ours: the log may have been rotated, or made at last.
        match open_if_exists(&self.files.log)? {
            Some(log) if !self.current.as_ref().is_some_and(|c| same_file(c, &log)) => {
                let read = read_up_to(Some(&log), max)?;
                self.current = Some(log);
                Ok(read)
            }
            _ => Ok(Vec::new()),
        }
    }
}

fn open_if_exists(path: &Path) -> std::io::Result<Option<File>> {
    match File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

fn same_file(a: &File, b: &File) -> bool {
    match (a.metadata(), b.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn read_up_to(file: Option<&File>, max: usize) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    if let Some(file) = file {
        file.take(max as u64).read_to_end(&mut data)?;
    }
    Ok(data)
}

/// The last `lines` lines of `text`; a last line without its newline counts as one.
pub fn last_lines(text: &[u8], lines: u64) -> &[u8] {
    if lines == 0 {
        return &[];
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut seen = 0;
    for (at, byte) in body.iter().enumerate().rev() {
        if *byte == b'\n' {
            seen += 1;
            if seen == lines {
                return &text[at + 1..];
            }
        }
    }
    text
}

/// Lines of its log told with a sandbox's end, and how long each may be, so that a list of
/// ended sessions stays well under a frame.
const TAIL_LINES: u64 = 10;
const TAIL_LINE_CHARS: usize = 200;

/// The last lines of a log, told with its sandbox's end.
pub fn ending_tail(kept: &[u8]) -> Vec<String> {
    as_lines(last_lines(kept, TAIL_LINES))
        .into_iter()
        .map(|line| line.chars().take(TAIL_LINE_CHARS).collect())
        .collect()
}

/// `text` as lines of text, without their newlines; invalid UTF-8 is replaced.
pub fn as_lines(text: &[u8]) -> Vec<String> {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    if body.is_empty() && text.is_empty() {
        return Vec::new();
    }
    body.split(|b| *b == b'\n')
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_count_a_line_without_its_newline() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(last_lines(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(last_lines(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(last_lines(b"a\nb\n", 0), b"");
        assert_eq!(last_lines(b"", 3), b"");
        assert_eq!(last_lines(b"\n\n", 1), b"\n");
    }

    #[test]
    fn lines_lose_their_newlines() {
        assert_eq!(as_lines(b"a\nb\n"), ["a", "b"]);
        assert_eq!(as_lines(b"a\n\nb"), ["a", "", "b"]);
        assert_eq!(as_lines(b"\n"), [""]);
        assert!(as_lines(b"").is_empty());
    }

    #[test]
    fn files_are_named_for_their_sandbox() {
        let files = LogFiles::of(Path::new("/logs/msb-a-1.log"));
        assert_eq!(files.rotated, Path::new("/logs/msb-a-1.log.1"));
        assert_eq!(files.exit, Path::new("/logs/msb-a-1.exit"));
        for file in ["msb-a-1.log", "msb-a-1.log.1", "msb-a-1.exit"] {
            assert_eq!(sandbox_of(file), Some("msb-a-1"));
        }
        assert_eq!(sandbox_of("other"), None);
    }

    #[test]
    fn endings_read_back_as_recorded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.exit");
        assert_eq!(Ending::read(&path), None);
        for ending in [Ending::Exited(3), Ending::Killed(9)] {
            let mut file = std::fs::File::create(&path).expect("create");
            assert_eq!(Ending::read(&path), None, "made, not yet written");
            ending.record(&mut file).expect("record");
            assert_eq!(Ending::read(&path), Some(ending));
        }
        std::fs::write(&path, "garbage").expect("write");
        assert_eq!(Ending::read(&path), None);
    }

    #[test]
    fn the_last_limit_bytes_are_kept_and_followed_across_rotations() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = LogFiles::of(&dir.path().join("s.log"));
        let (mut reader, kept) = Reader::open(files.clone()).expect("open before any log");
        assert!(kept.is_empty());
        let mut writer = Writer::create(files.clone()).expect("writer");
        let chunk = vec![b'x'; 64 * 1024];
        let mut followed = 0;
        let mut written = 0;
        for round in 0..40u8 {
            let mut data = chunk.clone();
            data[0] = round;
            writer.write(&data).expect("write");
            written += data.len();
            loop {
                let read = reader.next(16 * 1024).expect("follow");
                if read.is_empty() {
                    break;
                }
                followed += read.len();
            }
        }
        assert_eq!(followed, written, "a follower misses nothing");
        assert!(files.rotated.exists());
        let (_, kept) = Reader::open(files.clone()).expect("open");
        assert_eq!(kept.len(), LIMIT);
        assert_eq!(
            kept[kept.len() - chunk.len()],
            39,
            "ends with the last chunk"
        );
        let on_disk = std::fs::metadata(&files.log).expect("log").len()
            + std::fs::metadata(&files.rotated).expect("rotated").len();
        assert!(on_disk as usize <= 2 * LIMIT + chunk.len(), "{on_disk}");
    }
}
