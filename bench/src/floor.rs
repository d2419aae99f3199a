//! The floor of a client round trip: a bare tokio echo server on a Unix socket, and the floor
//! client, this executable run as `msb-bench floor-client SOCKET`: exec, connect, send 64
//! bytes, read them back, exit. msbctl cannot do less for one request.

use crate::{Context, Result};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The size of one echo request (and of its answer).
pub const MESSAGE: usize = 64;

/// An echo server on a socket in a temporary directory, served by its own runtime (which the
/// load section also drives its clients on); both end when it is dropped.
pub struct Echo {
    pub socket: PathBuf,
    pub runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Echo {
    pub fn start() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("msb-bench-echo-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let socket = dir.path().join("echo.sock");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the echo server's runtime")?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::UnixListener::bind(&socket).context("cannot bind the echo socket")?
        };
        runtime.spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; MESSAGE];
                    while stream.read_exact(&mut buf).await.is_ok() {
                        if stream.write_all(&buf).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Ok(Self {
            socket,
            runtime,
            _dir: dir,
        })
    }

    /// The command that runs the floor client against this server.
    pub fn client(&self) -> Result<Command> {
        let exe = std::env::current_exe().context("cannot find this executable's path")?;
        let mut cmd = Command::new(exe);
        cmd.arg("floor-client").arg(&self.socket);
        Ok(cmd)
    }
}

/// The floor client's whole work: one round trip of [`MESSAGE`] bytes.
pub fn client(socket: &Path) -> Result<()> {
    let mut stream = UnixStream::connect(socket).context("cannot reach the echo server")?;
    let mut buf = [7u8; MESSAGE];
    stream.write_all(&buf).context("echo write")?;
    stream.read_exact(&mut buf).context("echo read")?;
    Ok(())
}
