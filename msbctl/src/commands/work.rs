//! `msbctl sessions exec`, `run` and `cp`: work inside a session. Output streams live to
//! msbctl's own stdout and stderr and msbctl exits with the command's status; with `--json`
//! the output is collected into one document.

use crate::cli::RunArgs;
use crate::output::{written, Failure, Out};
use crate::{exit, render};
use msb_proto::{
    Client, CopyRequest, CreateSession, EnvVar, ExecCommand, ExecEvent, ExecExit, ExecRequest,
    ExecStdin, Execution, Input, OutputMode, OutputStream,
};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// What msbctl exits with when the command was cancelled with Ctrl-C (as a shell does).
const INTERRUPTED: u8 = 130;
/// Stdin and archives travel in chunks of this size.
const CHUNK: usize = 32 * 1024;

/// The request of `exec` or `run`, before its stdin is known.
pub struct Work {
    pub id: Option<String>,
    pub run: RunArgs,
    pub command: ExecCommand,
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
}

impl Work {
    fn request(self, stdin: ExecStdin, output: OutputMode) -> ExecRequest {
        ExecRequest {
            session_id: self.id.unwrap_or_default(),
            command: self.command,
            env: self
                .env
                .into_iter()
                .map(|(name, value)| EnvVar { name, value })
                .collect(),
            workdir: self.workdir,
            stdin,
            timeout_ms: self.run.timeout.map(|t| t.as_millis() as u64),
            output,
            create: self.run.create.then_some(CreateSession {
                template: self.run.template,
                flavor: self.run.flavor,
                id: None,
                labels: self.run.labels.into_iter().collect(),
            }),
        }
    }
}

/// `sessions exec`: stdin forwarded with `interactive`.
pub async fn exec(
    client: &mut Client,
    work: Work,
    interactive: bool,
    out: &Out,
) -> Result<u8, Failure> {
    if out.json {
        let stdin = if interactive {
            ExecStdin::Bytes(read_all_stdin().await?)
        } else {
            ExecStdin::None
        };
        return collected(client, work.request(stdin, OutputMode::Collect), out).await;
    }
    let stdin = if interactive {
        ExecStdin::Streamed
    } else {
        ExecStdin::None
    };
    let execution = client.exec(work.request(stdin, OutputMode::Stream)).await?;
    live(&execution, interactive).await
}

/// `sessions run`: the code goes to the interpreter on stdin.
pub async fn run(client: &mut Client, work: Work, file: &Path, out: &Out) -> Result<u8, Failure> {
    let code = if file == Path::new("-") {
        read_all_stdin().await?
    } else {
        std::fs::read(file)
            .map_err(|e| Failure::Local(format!("cannot read {}: {e}", file.display())))?
    };
    let stdin = ExecStdin::Bytes(code);
    if out.json {
        return collected(client, work.request(stdin, OutputMode::Collect), out).await;
    }
    let execution = client.exec(work.request(stdin, OutputMode::Stream)).await?;
    live(&execution, false).await
}

async fn collected(client: &mut Client, request: ExecRequest, out: &Out) -> Result<u8, Failure> {
    let result = client.exec_to_end(request, |_| {}).await?;
    // Only in --json mode: there is no table of a command's output.
    out.show(&result, |_| String::new())?;
    Ok(result.exit_code.clamp(0, 255) as u8)
}

/// Prints the command's output as it comes, forwards stdin and Ctrl-C, and returns its
/// status.
async fn live(execution: &Execution<'_>, interactive: bool) -> Result<u8, Failure> {
    let output = async {
        loop {
            match execution.next().await? {
                ExecEvent::Output(chunk) => write_chunk(chunk.stream, &chunk.data)?,
                ExecEvent::Exit(exit) => return Ok::<ExecExit, Failure>(exit),
                ExecEvent::Copied(_) => {
                    return Err(Failure::Local("msbd answered an exec with a copy".into()))
                }
            }
        }
    };
    let input = async {
        if interactive {
            forward_stdin(execution).await?;
        }
        // Ctrl-C cancels the command; its exit still comes, with what it printed. A second
        // Ctrl-C stops waiting for it.
        if tokio::signal::ctrl_c().await.is_ok() {
            execution.input(Input::Cancel).await?;
            let _ = tokio::signal::ctrl_c().await;
        }
        Ok::<(), Failure>(())
    };
    let exit = tokio::select! {
        exit = output => exit?,
        interrupted = input => return interrupted.map(|()| INTERRUPTED),
    };
    Ok(if exit.cancelled {
        INTERRUPTED
    } else {
        exit.status().clamp(0, 255) as u8
    })
}

/// Sends msbctl's stdin to the command, then its end.
async fn forward_stdin(execution: &Execution<'_>) -> Result<(), Failure> {
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = stdin
            .read(&mut buf)
            .await
            .map_err(|e| Failure::Local(format!("cannot read stdin: {e}")))?;
        if n == 0 {
            return Ok(execution.input(Input::End).await?);
        }
        execution.input(Input::Data(buf[..n].to_vec())).await?;
    }
}

async fn read_all_stdin() -> Result<Vec<u8>, Failure> {
    let mut data = Vec::new();
    tokio::io::stdin()
        .read_to_end(&mut data)
        .await
        .map_err(|e| Failure::Local(format!("cannot read stdin: {e}")))?;
    Ok(data)
}

fn write_chunk(stream: OutputStream, data: &[u8]) -> Result<(), Failure> {
    written(match stream {
        OutputStream::Stdout => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(data).and_then(|()| stdout.flush())
        }
        OutputStream::Stderr => {
            let mut stderr = std::io::stderr().lock();
            stderr.write_all(data).and_then(|()| stderr.flush())
        }
    })
}

/// One side of `cp`: `ID:PATH` in a session, or a local path.
enum Side {
    Session { id: String, path: String },
    Local(PathBuf),
}

/// `ID:PATH` when what comes before the first `:` could be a session id (no `/`); a local
/// path holding a `:` is written `./a:b`.
fn side(text: &str) -> Side {
    match text.split_once(':') {
        Some((id, path)) if !id.is_empty() && !id.contains('/') => Side::Session {
            id: id.to_string(),
            path: path.to_string(),
        },
        _ => Side::Local(PathBuf::from(text)),
    }
}

/// `sessions cp SRC DST`.
pub async fn cp(client: &mut Client, src: &str, dst: &str, out: &Out) -> Result<u8, Failure> {
    let report = match (side(src), side(dst)) {
        (Side::Local(local), Side::Session { id, path }) => {
            let execution = client
                .copy_in(CopyRequest {
                    session_id: id,
                    path,
                })
                .await?;
            upload(&execution, local).await?
        }
        (Side::Session { id, path }, Side::Local(local)) => {
            let execution = client
                .copy_out(CopyRequest {
                    session_id: id,
                    path,
                })
                .await?;
            download(&execution, local).await?
        }
        _ => {
            return Err(Failure::Usage(
                "exactly one of SRC and DST must be ID:PATH (a path in a session)".into(),
            ))
        }
    };
    out.show(&report, render::copied)?;
    Ok(exit::OK)
}

/// Packs `local` on a thread of its own and sends the archive as it is made.
async fn upload(
    execution: &Execution<'_>,
    local: PathBuf,
) -> Result<msb_proto::CopyReport, Failure> {
    std::fs::symlink_metadata(&local)
        .map_err(|e| Failure::Local(format!("cannot copy {}: {e}", local.display())))?;
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
    let packer = std::thread::spawn(move || {
        let mut writer = std::io::BufWriter::with_capacity(CHUNK, ChunkWriter(tx));
        msb_proto::archive::pack(&local, &mut writer)
            .and_then(|()| writer.flush())
            .map_err(|e| format!("cannot pack {}: {e}", local.display()))
    });
    while let Some(chunk) = rx.recv().await {
        execution.input(Input::Data(chunk)).await?;
    }
    match packer.join() {
        Ok(Ok(())) => execution.input(Input::End).await?,
        Ok(Err(message)) => {
            execution.input(Input::Cancel).await?;
            return Err(Failure::Local(message));
        }
        Err(_) => return Err(Failure::Local("the archive packer panicked".into())),
    }
    loop {
        match execution.next().await? {
            ExecEvent::Copied(report) => return Ok(report),
            ExecEvent::Output(_) => {}
            ExecEvent::Exit(_) => {
                return Err(Failure::Local("msbd answered a copy with an exit".into()))
            }
        }
    }
}

/// Unpacks the archive at `local` on a thread of its own as it arrives.
async fn download(
    execution: &Execution<'_>,
    local: PathBuf,
) -> Result<msb_proto::CopyReport, Failure> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(4);
    let target = local.clone();
    let unpacker = std::thread::spawn(move || {
        msb_proto::archive::unpack(ChunkReader::new(rx), &target)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))
    });
    let received = async {
        loop {
            match execution.next().await? {
                ExecEvent::Output(chunk) => {
                    // An unpacker that stopped has its error to tell below.
                    let _ = tx.send(Ok(chunk.data));
                }
                ExecEvent::Copied(report) => return Ok(report),
                ExecEvent::Exit(_) => {
                    return Err(Failure::Local("msbd answered a copy with an exit".into()))
                }
            }
        }
    }
    .await;
    if received.is_err() {
        // A copy cut short must not land half-written: the unpacker fails and cleans up.
        let _ = tx.send(Err(std::io::Error::other("the copy was cut short")));
    }
    drop(tx);
    let unpacked = unpacker.join();
    let report = received?;
    match unpacked {
        Ok(Ok(_)) => Ok(report),
        Ok(Err(message)) => Err(Failure::Local(message)),
        Err(_) => Err(Failure::Local("the archive unpacker panicked".into())),
    }
}

/// Writes into a channel, one chunk a write (the `BufWriter` around it makes them large).
struct ChunkWriter(mpsc::Sender<Vec<u8>>);

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(buf.to_vec())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the copy ended"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads what a channel brings, chunk by chunk, until it closes or brings an error.
struct ChunkReader {
    rx: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    current: std::io::Cursor<Vec<u8>>,
}

impl ChunkReader {
    fn new(rx: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>) -> Self {
        Self {
            rx,
            current: std::io::Cursor::new(Vec::new()),
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = Read::read(&mut self.current, buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.rx.recv() {
                Ok(chunk) => self.current = std::io::Cursor::new(chunk?),
                Err(_) => return Ok(0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_side_is_in_a_session_when_it_starts_with_an_id() {
        assert!(
            matches!(side("s-1:/work/a"), Side::Session { id, path } if id == "s-1" && path == "/work/a")
        );
        assert!(matches!(side("./a:b"), Side::Local(p) if p == Path::new("./a:b")));
        assert!(matches!(side("/tmp/x"), Side::Local(_)));
        assert!(matches!(side(":x"), Side::Local(_)));
    }
}
