//! Framing: a 4-byte big-endian length, then a bincode body. The length is checked against
//! the limit before anything is allocated, so a hostile length costs nothing.

use serde::{de::DeserializeOwned, Serialize};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Largest frame body either side accepts.
pub const MAX_FRAME: usize = 1 << 20;

/// bincode's own allocation limit matches the frame limit, so a body that claims a huge
/// collection cannot make the decoder allocate beyond it either.
fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_FRAME>,
> {
    bincode::config::standard().with_limit::<MAX_FRAME>()
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("i/o error on the socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {len} bytes is over the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("frame could not be decoded: {0}")]
    Decode(String),
    #[error("frame could not be encoded: {0}")]
    Encode(String),
}

/// Encodes one value as a complete frame (length prefix included).
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Appends one value to `out` as a complete frame: the body is encoded in place behind its
/// length, so several frames (a hello and its first request) go out in one buffer and write.
pub fn encode_into<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), FrameError> {
    let start = out.len();
    out.extend_from_slice(&[0u8; 4]);
    let encoded = bincode::serde::encode_into_std_write(value, out, config())
        .map_err(|e| FrameError::Encode(e.to_string()));
    let len = match encoded {
        Ok(len) if len <= MAX_FRAME => len,
        Ok(len) => {
            out.truncate(start);
            return Err(FrameError::TooLarge {
                len,
                max: MAX_FRAME,
            });
        }
        Err(err) => {
            out.truncate(start);
            return Err(err);
        }
    };
    let len = u32::try_from(len).map_err(|e| FrameError::Encode(e.to_string()))?;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Decodes a frame body (without its length prefix).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (value, used) = bincode::serde::decode_from_slice(body, config())
        .map_err(|e| FrameError::Decode(e.to_string()))?;
    if used != body.len() {
        return Err(FrameError::Decode(format!(
            "{} trailing bytes after the message",
            body.len() - used
        )));
    }
    Ok(value)
}

pub async fn write_frame<W, T>(writer: &mut W, value: &T) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    write_frame_in(writer, value, &mut Vec::new()).await
}

/// Writes one frame as [`write_frame`] does, encoding it in `buf` (cleared first): a writer
/// of many frames keeps one, so that once it has grown, writing a frame allocates nothing.
pub async fn write_frame_in<W, T>(
    writer: &mut W,
    value: &T,
    buf: &mut Vec<u8>,
) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    buf.clear();
    encode_into(value, buf)?;
    writer.write_all(buf).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads one frame. A clean end of stream before a frame starts is `Ok(None)`; an end
/// inside a frame is `Truncated`.
pub async fn read_frame<R, T>(reader: &mut R, max: usize) -> Result<Option<T>, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut len_buf = [0u8; 4];
    let n = reader.read(&mut len_buf).await?;
    if n == 0 {
        return Ok(None);
    }
    read_rest(reader, len_buf, n, max).await.map(Some)
}

/// The rest of a frame whose first `filled` length bytes are in `len_buf`.
async fn read_rest<R, T>(
    reader: &mut R,
    mut len_buf: [u8; 4],
    mut filled: usize,
    max: usize,
) -> Result<T, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    while filled < len_buf.len() {
        let n = reader.read(&mut len_buf[filled..]).await?;
        if n == 0 {
            return Err(FrameError::Truncated);
        }
        filled += n;
    }
    let len = u32::from_be_bytes(len_buf) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut body = vec![0u8; len];
    reader
        .read_exact(&mut body)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => FrameError::Truncated,
            _ => FrameError::Io(e),
        })?;
    decode(&body)
}

/// Reads frames through a buffer of its own: frames that arrive together cost one read,
/// a frame's body is decoded where it lies, and a read cancelled midway loses nothing (what
/// has arrived stays in the buffer for the next call). For a peer that is read while other
/// work waits on it, as msbd reads its clients.
pub struct FrameReader<R> {
    reader: R,
    /// Read but not yet taken: `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max: usize,
    /// When the frame now arriving in part began to, for `next_within`.
    began: Option<Instant>,
}

/// What the buffer starts at and shrinks back to once a larger frame has been taken.
const BUFFER: usize = 8 * 1024;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Frames of at most `max` bytes from `reader`.
    pub fn new(reader: R, max: usize) -> Self {
        Self {
            reader,
            buf: vec![0; BUFFER],
            start: 0,
            end: 0,
            max,
            began: None,
        }
    }

    /// The reader itself, for what is read past the frames.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Reads one frame as [`read_frame`] does. Cancel-safe.
    pub async fn next<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        loop {
            if let Some(value) = self.take()? {
                return Ok(Some(value));
            }
            if self.fill().await? == 0 {
                return self.ended();
            }
        }
    }

    /// Reads one frame as [`next`](Self::next) does, waiting any time for it to start but at
    /// most `within` for the rest once it has: a peer that sends half a frame and stops is
    /// an error (`Io` with `TimedOut`), not a reader held forever. Cancel-safe; the time
    /// runs from the frame's first byte, across calls.
    pub async fn next_within<T: DeserializeOwned>(
        &mut self,
        within: Duration,
    ) -> Result<Option<T>, FrameError> {
        loop {
            if let Some(value) = self.take()? {
                return Ok(Some(value));
            }
            // Only a frame that came in part needs a timer; a whole one was taken above.
            let read = if self.start == self.end {
                self.fill().await?
            } else {
                let began = *self.began.get_or_insert_with(Instant::now);
                match tokio::time::timeout_at(began + within, self.fill()).await {
                    Ok(read) => read?,
                    Err(_) => {
                        return Err(FrameError::Io(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("a frame was not finished within {}s", within.as_secs()),
                        )))
                    }
                }
            };
            if read == 0 {
                return self.ended();
            }
        }
    }

    /// The end of the stream: clean between frames, `Truncated` inside one.
    fn ended<T>(&self) -> Result<Option<T>, FrameError> {
        if self.start == self.end {
            Ok(None)
        } else {
            Err(FrameError::Truncated)
        }
    }

    /// Decodes the first frame in the buffer if it is whole, and makes room for it if not.
    fn take<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        let have = self.end - self.start;
        if have < 4 {
            self.room(4);
            return Ok(None);
        }
        let mut len_buf = [0u8; 4];
        len_buf.copy_from_slice(&self.buf[self.start..self.start + 4]);
        let len = u32::from_be_bytes(len_buf) as usize;
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        if have < 4 + len {
            self.room(4 + len);
            return Ok(None);
        }
        let body = &self.buf[self.start + 4..self.start + 4 + len];
        self.start += 4 + len;
        self.began = None;
        let value = decode(body);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > BUFFER {
                self.buf.truncate(BUFFER);
                self.buf.shrink_to_fit();
            }
        }
        value.map(Some)
    }

    /// Makes room for a frame of `need` bytes (length included) from `start`; `need` is
    /// within the limit, so nothing larger is ever allocated.
    fn room(&mut self, need: usize) {
        if self.start + need <= self.buf.len() {
            return;
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if need > self.buf.len() {
            self.buf.resize(need, 0);
        }
    }

    /// One read into the free end of the buffer; 0 at the end of the stream.
    async fn fill(&mut self) -> Result<usize, FrameError> {
        let n = self.reader.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Request, ResumeRequest, TaskSelection};
    use tokio::io::AsyncWriteExt;

    fn roundtrip(bytes: &[u8], max: usize) -> Result<Option<Request>, FrameError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let mut reader = bytes;
        rt.block_on(read_frame(&mut reader, max))
    }

    #[test]
    fn a_frame_round_trips() {
        let req = Request::Resume(ResumeRequest {
            tasks: TaskSelection::Named(vec!["orphan-cleanup".into()]),
        });
        let frame = encode(&req).expect("encode");
        let back = roundtrip(&frame, MAX_FRAME).expect("decode");
        assert_eq!(back, Some(req));
    }

    #[test]
    fn clean_end_of_stream_is_none() {
        assert!(matches!(roundtrip(&[], MAX_FRAME), Ok(None)));
    }

    #[test]
    fn end_inside_the_length_or_body_is_truncated() {
        assert!(matches!(
            roundtrip(&[0, 0], MAX_FRAME),
            Err(FrameError::Truncated)
        ));
        assert!(matches!(
            roundtrip(&[0, 0, 0, 9, 1, 2], MAX_FRAME),
            Err(FrameError::Truncated)
        ));
    }

    #[test]
    fn an_oversized_length_is_refused_before_reading_the_body() {
        let frame = u32::MAX.to_be_bytes();
        assert!(matches!(
            roundtrip(&frame, MAX_FRAME),
            Err(FrameError::TooLarge { len, max }) if len == u32::MAX as usize && max == MAX_FRAME
        ));
    }

    #[test]
    fn garbage_body_is_a_decode_error() {
        let frame = [0, 0, 0, 3, 0xff, 0xff, 0xff];
        assert!(matches!(
            roundtrip(&frame, MAX_FRAME),
            Err(FrameError::Decode(_))
        ));
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime")
    }

    fn request(n: usize) -> Request {
        Request::Resume(ResumeRequest {
            tasks: TaskSelection::Named(vec![format!("task-{n}")]),
        })
    }

    #[test]
    fn the_frame_reader_takes_frames_that_came_together_or_in_pieces() {
        runtime().block_on(async {
            let mut bytes = Vec::new();
            for n in 0..3 {
                encode_into(&request(n), &mut bytes).expect("encode");
            }
            let (mut tx, rx) = tokio::io::duplex(4096);
            let mut frames = FrameReader::new(rx, MAX_FRAME);
            // The first two whole at once, the third a byte at a time.
            let split = bytes.len() - encode(&request(2)).expect("encode").len();
            tx.write_all(&bytes[..split]).await.expect("write");
            assert_eq!(frames.next().await.expect("frame"), Some(request(0)));
            assert_eq!(frames.next().await.expect("frame"), Some(request(1)));
            for byte in &bytes[split..] {
                tx.write_all(std::slice::from_ref(byte))
                    .await
                    .expect("write");
            }
            drop(tx);
            assert_eq!(frames.next().await.expect("frame"), Some(request(2)));
            assert!(matches!(frames.next::<Request>().await, Ok(None)));
        });
    }

    #[test]
    fn the_frame_reader_loses_nothing_when_a_read_is_cancelled() {
        runtime().block_on(async {
            let frame = encode(&request(7)).expect("encode");
            let (mut tx, rx) = tokio::io::duplex(4096);
            let mut frames = FrameReader::new(rx, MAX_FRAME);
            tx.write_all(&frame[..3]).await.expect("write");
            let cancelled =
                tokio::time::timeout(Duration::from_secs(1), frames.next::<Request>()).await;
            assert!(cancelled.is_err(), "half a frame is not a frame");
            tx.write_all(&frame[3..]).await.expect("write");
            assert_eq!(frames.next().await.expect("frame"), Some(request(7)));
        });
    }

    #[test]
    fn the_frame_reader_times_out_a_frame_left_half_sent_but_not_a_silent_peer() {
        runtime().block_on(async {
            let (mut tx, rx) = tokio::io::duplex(4096);
            let mut frames = FrameReader::new(rx, MAX_FRAME);
            let within = Duration::from_secs(10);
            let silent = tokio::time::timeout(
                Duration::from_secs(60),
                frames.next_within::<Request>(within),
            )
            .await;
            assert!(silent.is_err(), "waiting for a frame to start has no limit");
            let frame = encode(&request(1)).expect("encode");
            tx.write_all(&frame[..5]).await.expect("write");
            match frames.next_within::<Request>(within).await {
                Err(FrameError::Io(err)) => {
                    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut)
                }
                other => panic!("expected a timeout, got {other:?}"),
            }
        });
    }

    #[test]
    fn the_frame_reader_refuses_an_oversized_length_and_a_truncated_frame() {
        runtime().block_on(async {
            let huge = u32::MAX.to_be_bytes();
            let mut frames = FrameReader::new(&huge[..], MAX_FRAME);
            assert!(matches!(
                frames.next::<Request>().await,
                Err(FrameError::TooLarge { len, .. }) if len == u32::MAX as usize
            ));
            let mut frames = FrameReader::new(&[0u8, 0, 0, 9, 1, 2][..], MAX_FRAME);
            assert!(matches!(
                frames.next::<Request>().await,
                Err(FrameError::Truncated)
            ));
        });
    }
}
