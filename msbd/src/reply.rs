//! Both directions of a request that is being answered. The `Reply` is the sink its answer
//! goes into: one frame, or a stream of them (shutdown progress, exec output, logs) that the
//! connection writes out in order. The buffer is bounded, so a client that reads slowly slows
//! only its own stream, and a client that goes away is noticed, so work that was only for it
//! can end. The `Inbox` is what the client sends while a stream runs (stdin, a cancel).

use msb_proto::{ErrorBody, Input, Request, Response};
use tokio::sync::{mpsc, oneshot, watch};

/// A frame read from the client: a request, or the error that ends the connection.
pub type Incoming = Result<Request, ErrorBody>;

/// The client's frames that arrive while its request is being answered.
pub struct Inbox<'a> {
    frames: &'a mut mpsc::Receiver<Incoming>,
}

impl<'a> Inbox<'a> {
    pub fn new(frames: &'a mut mpsc::Receiver<Incoming>) -> Self {
        Self { frames }
    }

    /// The client's next `Input`; `None` once it has gone away or broken the protocol.
    /// Another request in the middle of a stream is a client's mistake: it is dropped.
    pub async fn input(&mut self) -> Option<Input> {
        loop {
            match self.frames.recv().await? {
                Ok(Request::Input(input)) => return Some(input),
                Ok(other) => {
                    tracing::debug!(request = ?std::mem::discriminant(&other), "a request in the middle of a stream was dropped");
                }
                Err(_) => return None,
            }
        }
    }
}

/// Frames a stream may have queued before its handler waits for the client to read.
pub const BUFFERED_FRAMES: usize = 16;

/// The connection is over: nothing more can be written to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the client has gone away")]
pub struct Gone;

/// What a connection's writer receives from a handler.
#[derive(Debug)]
pub enum Outgoing {
    Frame(Box<Response>),
    /// Answered once every frame queued before it has been written.
    Flush(oneshot::Sender<()>),
}

/// The handler's end. Cloning it lets a stream outlive the handler (a shutdown keeps it
/// until its final report is written); the connection's writer ends when every clone is gone.
#[derive(Debug, Clone)]
pub struct Reply {
    frames: mpsc::Sender<Outgoing>,
    gone: watch::Receiver<bool>,
}

impl Reply {
    /// A reply and the receiving end its connection drains. `gone` turns true when the
    /// client has closed its end or can no longer be written to.
    pub fn new(gone: watch::Receiver<bool>) -> (Self, mpsc::Receiver<Outgoing>) {
        let (frames, outbox) = mpsc::channel(BUFFERED_FRAMES);
        (Self { frames, gone }, outbox)
    }

    pub fn is_closed(&self) -> bool {
        *self.gone.borrow()
    }

    /// Queues a frame, waiting while the buffer is full. A client that only closed its
    /// sending side still gets it.
    pub async fn send(&self, response: Response) -> Result<(), Gone> {
        self.frames
            .send(Outgoing::Frame(Box::new(response)))
            .await
            .map_err(|_| Gone)
    }

    /// Queues a frame if there is room now; never waits. For progress that must not slow
    /// the work it reports on.
    pub fn offer(&self, response: Response) -> bool {
        self.frames
            .try_send(Outgoing::Frame(Box::new(response)))
            .is_ok()
    }

    /// Returns once everything sent so far has been written to the client.
    pub async fn flush(&self) -> Result<(), Gone> {
        let (done, written) = oneshot::channel();
        self.frames
            .send(Outgoing::Flush(done))
            .await
            .map_err(|_| Gone)?;
        written.await.map_err(|_| Gone)
    }

    /// Resolves when the client has gone away.
    pub async fn closed(&self) {
        let mut gone = self.gone.clone();
        // An error means the connection itself is over, which is the same thing.
        let _ = gone.wait_for(|gone| *gone).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_buffer_makes_send_wait_and_offer_refuse() {
        let (_gone_tx, gone) = watch::channel(false);
        let (reply, mut outbox) = Reply::new(gone);
        for _ in 0..BUFFERED_FRAMES {
            reply.send(Response::Ack("x".into())).await.expect("room");
        }
        assert!(!reply.offer(Response::Ack("dropped".into())));
        let waiting = tokio::spawn({
            let reply = reply.clone();
            async move { reply.send(Response::Ack("last".into())).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "send waits for the reader");
        outbox.recv().await.expect("a frame");
        waiting
            .await
            .expect("join")
            .expect("sent once there was room");
    }

    #[tokio::test]
    async fn a_client_that_went_away_is_noticed() {
        let (gone_tx, gone) = watch::channel(false);
        let (reply, outbox) = Reply::new(gone);
        let waiter = tokio::spawn({
            let reply = reply.clone();
            async move { reply.closed().await }
        });
        gone_tx.send_replace(true);
        waiter.await.expect("closed resolves");
        assert!(reply.is_closed());
        drop(outbox);
        assert_eq!(reply.send(Response::Ack("x".into())).await, Err(Gone));
        assert!(!reply.offer(Response::Ack("x".into())));
    }
}
