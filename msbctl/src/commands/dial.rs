//! `msbctl dial-stdio` (hidden): joins stdin and stdout to msbd's socket, byte for byte, so
//! that a client on another host reaches msbd through ssh (`msbctl -H ssh://…` runs it).

use crate::exit;
use msb_proto::{ErrorBody, ErrorCode, HandshakeReply};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;

pub fn dial_stdio(socket: &Path) -> u8 {
    let stream = match UnixStream::connect(socket) {
        Ok(stream) => stream,
        Err(err) => return cannot_connect(socket, &err),
    };
    let mut up = match stream.try_clone() {
        Ok(up) => up,
        Err(err) => {
            eprintln!(
                "msbctl: cannot use the connection to {}: {err}",
                socket.display()
            );
            return exit::FAILED;
        }
    };
    // The client's bytes go to msbd on a thread of their own; their end half-closes the
    // connection, so msbd sees the client leave.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut up);
        let _ = up.shutdown(Shutdown::Write);
    });
    // msbd's bytes go out as they come, until msbd closes; then msbctl exits, whatever its
    // stdin still holds.
    let mut down = stream;
    let mut stdout = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match down.read(&mut buf) {
            Ok(0) => return exit::OK,
            Ok(n) => {
                if stdout
                    .write_all(&buf[..n])
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    return exit::OK;
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => {
                eprintln!(
                    "msbctl: the connection to {} failed: {err}",
                    socket.display()
                );
                return exit::FAILED;
            }
        }
    }
}

/// Says why the socket could not be opened. Permission denied is told to the client in the
/// protocol's own words (a refused handshake), so it is never taken for an msbd that is not
/// running; anything else ends the connection, and the message on stderr says why.
fn cannot_connect(socket: &Path, err: &std::io::Error) -> u8 {
    if err.kind() == std::io::ErrorKind::PermissionDenied {
        let message = super::denied(socket, err);
        let refusal =
            HandshakeReply::Refused(ErrorBody::new(ErrorCode::PermissionDenied, &message));
        if let Ok(frame) = msb_proto::frame::encode(&refusal) {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(&frame).and_then(|()| stdout.flush());
        }
        eprintln!("msbctl: {message}");
    } else {
        eprintln!("msbctl: cannot reach msbd at {}: {err}", socket.display());
    }
    exit::UNREACHABLE
}
