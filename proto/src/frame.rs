//! Framing: a 4-byte big-endian length, then a bincode body. The length is checked against
//! the limit before anything is allocated, so a hostile length costs nothing.

use serde::{de::DeserializeOwned, Serialize};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

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
    let mut out = vec![0u8; 4];
    let body = bincode::serde::encode_to_vec(value, config())
        .map_err(|e| FrameError::Encode(e.to_string()))?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len: body.len(),
            max: MAX_FRAME,
        });
    }
    out.extend_from_slice(&body);
    let len = u32::try_from(body.len()).map_err(|e| FrameError::Encode(e.to_string()))?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out)
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
    let frame = encode(value)?;
    writer.write_all(&frame).await?;
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
    read_frame_limited(reader, max, None).await
}

/// Reads one frame as [`read_frame`] does, waiting any time for it to start but at most
/// `within` for the rest once it has: a peer that sends half a frame and stops is an error
/// (`Io` with `TimedOut`), not a reader held forever.
pub async fn read_frame_within<R, T>(
    reader: &mut R,
    max: usize,
    within: Duration,
) -> Result<Option<T>, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    read_frame_limited(reader, max, Some(within)).await
}

async fn read_frame_limited<R, T>(
    reader: &mut R,
    max: usize,
    within: Option<Duration>,
) -> Result<Option<T>, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut len_buf = [0u8; 4];
    let n = reader.read(&mut len_buf).await?;
    if n == 0 {
        return Ok(None);
    }
    let rest = read_rest(reader, len_buf, n, max);
    let Some(within) = within else {
        return rest.await.map(Some);
    };
    match tokio::time::timeout(within, rest).await {
        Ok(read) => read.map(Some),
        Err(_) => Err(FrameError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("a frame was not finished within {}s", within.as_secs()),
        ))),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Request, ResumeRequest, TaskSelection};

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
}
