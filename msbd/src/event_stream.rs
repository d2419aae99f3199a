//! The `Events` stream: the events the bus keeps, then with `follow` each new one as it is
//! emitted, until the client goes away or msbd stops; an `Ack` ends it.
//!
//! A follower never holds anything up, not even its own stream: a new event is queued only
//! if the connection's buffer has room, and otherwise counted as missed at once (so the
//! metrics show it while the follower is stuck). The follower is told how many it missed as
//! soon as there is room again, before the next event.

use crate::context::Context;
use crate::reply::Reply;
use msb_proto::{EventsRequest, Response};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How often a follower that missed events is offered the count while no event comes.
const RETELL: Duration = Duration::from_millis(200);

pub async fn events(ctx: &Context, req: EventsRequest, reply: &Reply) {
    let (recent, follow) = ctx.events.subscribe();
    for event in recent {
        if reply.send(Response::Event(event)).await.is_err() {
            return;
        }
    }
    let mut missed = 0;
    let end = match follow {
        Some(mut follow) if req.follow => loop {
            let next = tokio::select! {
                () = reply.closed() => return,
                next = follow.recv() => Some(next),
                () = tokio::time::sleep(RETELL), if missed > 0 => None,
            };
            let lost = match next {
                Some(Ok(event)) => {
                    if missed > 0 && reply.offer(Response::EventsMissed(missed)) {
                        missed = 0;
                    }
                    if missed == 0 && reply.offer(Response::Event(event)) {
                        0
                    } else {
                        1
                    }
                }
                Some(Err(RecvError::Lagged(lagged))) => lagged,
                Some(Err(RecvError::Closed)) => break "msbd is stopping",
                None => {
                    if reply.offer(Response::EventsMissed(missed)) {
                        missed = 0;
                    }
                    0
                }
            };
            missed += lost;
            ctx.events.tally().missed.inc_by(lost);
        },
        _ if req.follow => "msbd is stopping",
        _ => "end of the recent events",
    };
    // The end waits for room: it is the last frame. A client that went away misses it;
    // there is nobody left to tell.
    if missed > 0 && reply.send(Response::EventsMissed(missed)).await.is_err() {
        return;
    }
    let _ = reply.send(Response::Ack(end.into())).await;
}
