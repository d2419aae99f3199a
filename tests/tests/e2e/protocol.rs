//! Hostile and broken clients: each gets an error or a closed connection, and the daemon
//! keeps answering everybody else.

use msb_proto::frame::{decode, encode};
use msb_proto::{ErrorCode, HandshakeReply, Hello, Request, Response, MAX_FRAME, PROTOCOL};
use msb_tests::Daemon;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn connect(daemon: &Daemon) -> UnixStream {
    let stream = UnixStream::connect(&daemon.socket).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream
}

/// Reads one frame body, or `None` once the daemon has closed the connection.
fn read_body(stream: &mut UnixStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).ok()?;
    Some(body)
}

/// True when the daemon closed the connection (a reset counts: it closed with our unread
/// bytes still queued); false when it kept it open past the read timeout.
fn closed(stream: &mut UnixStream) -> bool {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(err) => err.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

fn hello(protocol: u32) -> Vec<u8> {
    encode(&Hello {
        protocol,
        client: "e2e".into(),
    })
    .expect("encode hello")
}

fn handshake(daemon: &Daemon) -> UnixStream {
    let mut stream = connect(daemon);
    stream.write_all(&hello(PROTOCOL)).expect("hello");
    let reply: HandshakeReply = decode(&read_body(&mut stream).expect("welcome")).expect("decode");
    assert!(matches!(reply, HandshakeReply::Welcome(_)), "{reply:?}");
    stream
}

fn still_serving(daemon: &Daemon) {
    assert_eq!(daemon.ctl(&["status"]).code, 0, "msbd stopped answering");
}

#[test]
fn garbage_gets_an_error_and_a_closed_connection() {
    let daemon = Daemon::start(&[]);
    let mut stream = connect(&daemon);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    if let Some(body) = read_body(&mut stream) {
        let reply: HandshakeReply = decode(&body).expect("an error frame");
        assert!(matches!(reply, HandshakeReply::Refused(_)), "{reply:?}");
    }
    assert!(closed(&mut stream));
    still_serving(&daemon);

    // Garbage of a plausible length after a good handshake.
    let mut stream = handshake(&daemon);
    stream
        .write_all(&[0, 0, 0, 4, 0xff, 0xfe, 0xfd, 0xfc])
        .expect("write");
    let reply: Response = decode(&read_body(&mut stream).expect("error frame")).expect("decode");
    assert!(
        matches!(&reply, Response::Error(e) if e.code == ErrorCode::BadRequest),
        "{reply:?}"
    );
    assert!(closed(&mut stream));
    still_serving(&daemon);
    daemon.finish();
}

#[test]
fn an_oversized_frame_is_refused_before_it_is_read() {
    let daemon = Daemon::start(&[]);
    let mut stream = handshake(&daemon);
    let len = (MAX_FRAME as u32 + 1).to_be_bytes();
    stream.write_all(&len).expect("write length only");
    let reply: Response = decode(&read_body(&mut stream).expect("error frame")).expect("decode");
    assert!(
        matches!(&reply, Response::Error(e) if e.code == ErrorCode::FrameTooLarge),
        "{reply:?}"
    );
    assert!(closed(&mut stream));
    still_serving(&daemon);
    daemon.finish();
}

#[test]
fn a_truncated_frame_closes_only_its_connection() {
    let daemon = Daemon::start(&[]);
    let mut stream = handshake(&daemon);
    let frame = encode(&Request::Status(Default::default())).expect("encode");
    stream.write_all(&frame[..frame.len() - 1]).expect("write");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    assert!(closed(&mut stream));
    still_serving(&daemon);
    daemon.finish();
}

fn status_request() -> Vec<u8> {
    encode(&Request::Status(Default::default())).expect("encode status")
}

#[test]
fn the_hello_and_the_first_request_travel_in_one_write() {
    let daemon = Daemon::start(&[]);
    let mut stream = connect(&daemon);
    stream
        .write_all(&[hello(PROTOCOL), status_request()].concat())
        .expect("hello and request");
    let reply: HandshakeReply = decode(&read_body(&mut stream).expect("welcome")).expect("decode");
    assert!(matches!(reply, HandshakeReply::Welcome(_)), "{reply:?}");
    let answer: Response = decode(&read_body(&mut stream).expect("answer")).expect("decode");
    assert!(matches!(answer, Response::Status(_)), "{answer:?}");
    // The connection serves on as after a handshake of its own.
    stream.write_all(&status_request()).expect("request");
    let answer: Response = decode(&read_body(&mut stream).expect("answer")).expect("decode");
    assert!(matches!(answer, Response::Status(_)), "{answer:?}");
    daemon.finish();
}

#[test]
fn a_wrong_protocol_number_is_named_in_the_refusal() {
    let daemon = Daemon::start(&[]);
    // Alone, and with a request behind it as a client of this protocol sends it: the
    // refusal comes all the same, and the request is never read.
    for sent in [hello(999), [hello(999), status_request()].concat()] {
        let mut stream = connect(&daemon);
        stream.write_all(&sent).expect("hello");
        let reply: HandshakeReply =
            decode(&read_body(&mut stream).expect("refusal")).expect("decode");
        match reply {
            HandshakeReply::Refused(body) => {
                assert_eq!(body.code, ErrorCode::ProtocolMismatch);
                assert!(
                    body.message.contains("999")
                        && body.message.contains(&format!("protocol {PROTOCOL}")),
                    "{body:?}"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(closed(&mut stream));
    }
    still_serving(&daemon);
    daemon.finish();
}

#[test]
fn a_silent_client_does_not_block_others() {
    let daemon = Daemon::start(&[]);
    let _idle = connect(&daemon);
    let _half = handshake(&daemon);
    still_serving(&daemon);
    daemon.finish();
}
