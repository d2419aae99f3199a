//! Sandboxes that end by themselves (a crash, a guest that powered off, `msb stop` from
//! outside, the idle clock): while any sandbox is watched, this instance's sandboxes are
//! listed every `EVERY`, one `msb ls` for all of them (rather than a waiting `msb` process
//! per sandbox), and each watched one found ended, or gone, is reported.

use super::Shared;
use std::sync::Arc;
use std::time::Duration;

/// How often the watched sandboxes are looked at.
const EVERY: Duration = Duration::from_secs(2);

/// Runs for the daemon's life; sleeps while no sandbox is watched.
pub(super) async fn ends(shared: Arc<Shared>) {
    loop {
        let watching = shared.known().values().any(|k| k.watched);
        if !watching {
            shared.watch_wake.notified().await;
            continue;
        }
        tokio::time::sleep(EVERY).await;
        let listed = match shared.listing().await {
            Ok(listed) => listed,
            Err(err) => {
                tracing::warn!(error = %err, "cannot list the sandboxes to see which ended");
                continue;
            }
        };
        let ended: Vec<(String, String)> = {
            let mut known = shared.known();
            known
                .iter_mut()
                .filter_map(|(name, known)| {
                    let listing = listed.iter().find(|l| l.name == *name);
                    if let Some(listing) = listing {
                        known.ended = listing.ended();
                    }
                    let over = listing.is_none_or(|l| l.ended());
                    let report = over && known.watched && !known.stopping && !known.creating;
                    if !report {
                        return None;
                    }
                    known.watched = false;
                    known.ended = true;
                    Some((name.clone(), known.session_id.clone()))
                })
                .collect()
        };
        for (name, session) in ended {
            tokio::spawn(shared.clone().ended_by_itself(name, session));
        }
    }
}
