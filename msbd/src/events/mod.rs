//! The event bus: every part of the daemon tells it what happened (`emit`), and it keeps the
//! most recent events for `msbctl events` and hands each one to every follower. Emitting
//! never waits for anyone: a follower gets events through a bounded broadcast channel, and
//! one that falls behind loses the oldest and is told how many. Each event is also counted
//! (`Tally`), for the metrics.
//!
//! A leaf like the store: the managers emit into it, and it imports none of them.

mod tally;

pub use tally::{Tally, TaskLabel};

use crate::clock::now_ms;
use msb_proto::{CycleReport, Event, EventKind};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::broadcast;

/// A handle to the bus; cheap to clone.
#[derive(Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

struct Inner {
    /// A plain mutex: held to push one event, or to copy the recent ones and subscribe, so
    /// that a new follower sees every event exactly once.
    bus: Mutex<Bus>,
    tally: Tally,
}

struct Bus {
    recent: VecDeque<Event>,
    /// How many events are kept, and how many a follower may lag behind.
    capacity: usize,
    /// `None` once msbd stops: followers then end after the last events.
    sender: Option<broadcast::Sender<Event>>,
}

/// The recent events, and a receiver of every later one (`None` when msbd is stopping).
pub type Subscription = (Vec<Event>, Option<broadcast::Receiver<Event>>);

impl Events {
    /// A bus that keeps the last `capacity` events and lets a follower lag as many behind.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            inner: Arc::new(Inner {
                bus: Mutex::new(Bus {
                    recent: VecDeque::with_capacity(capacity),
                    capacity,
                    sender: Some(broadcast::channel(capacity).0),
                }),
                tally: Tally::default(),
            }),
        }
    }

    fn bus(&self) -> MutexGuard<'_, Bus> {
        self.inner.bus.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that `kind` happened now.
    pub fn emit(&self, kind: EventKind) {
        self.inner.tally.count(&kind);
        let event = Event {
            at_ms: now_ms(),
            kind,
        };
        let mut bus = self.bus();
        if bus.recent.len() == bus.capacity {
            bus.recent.pop_front();
        }
        if let Some(sender) = &bus.sender {
            // An error only means nobody follows.
            let _ = sender.send(event.clone());
        }
        bus.recent.push_back(event);
    }

    /// Records that a cycle ended now, and how long it took: exactly, for the metrics,
    /// where the report's whole milliseconds would make a cycle of microseconds take none.
    pub fn emit_cycle(&self, report: CycleReport, took: Duration) {
        self.inner.tally.cycle(&report.task, took);
        self.emit(EventKind::Cycle { report });
    }

    /// The recent events, oldest first, and a receiver of every later one.
    pub fn subscribe(&self) -> Subscription {
        let bus = self.bus();
        (
            bus.recent.iter().cloned().collect(),
            bus.sender.as_ref().map(broadcast::Sender::subscribe),
        )
    }

    /// Ends every follow once it has had the events emitted so far; for the shutdown.
    pub fn close(&self) {
        self.bus().sender = None;
    }

    pub fn tally(&self) -> &Tally {
        &self.inner.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use broadcast::error::RecvError;

    fn created(id: &str) -> EventKind {
        EventKind::SessionCreated {
            session_id: id.into(),
            template: "default".into(),
            flavor: msb_proto::Flavor::Small,
            owner: None,
        }
    }

    fn id(event: &Event) -> &str {
        match &event.kind {
            EventKind::SessionCreated { session_id, .. } => session_id,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_follower_sees_every_event_once_and_is_told_what_it_missed() {
        let events = Events::new(2);
        events.emit(created("a"));
        events.emit(created("b"));
        events.emit(created("c"));
        let (recent, follow) = events.subscribe();
        assert_eq!(
            recent.iter().map(id).collect::<Vec<_>>(),
            ["b", "c"],
            "the last two are kept"
        );
        let mut follow = follow.expect("following");
        events.emit(created("d"));
        assert_eq!(id(&follow.recv().await.expect("d")), "d");
        for name in ["e", "f", "g"] {
            events.emit(created(name));
        }
        assert_eq!(follow.recv().await, Err(RecvError::Lagged(1)));
        assert_eq!(id(&follow.recv().await.expect("f")), "f");
        assert_eq!(id(&follow.recv().await.expect("g")), "g");
        events.close();
        assert_eq!(follow.recv().await, Err(RecvError::Closed));
        assert!(events.subscribe().1.is_none(), "no follow once closed");
    }
}
