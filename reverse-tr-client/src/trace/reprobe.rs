//! Telling loss and rate limiting from silence, and when to ask again.
//!
//! A router that never answered in the run is silent: asking it again only
//! costs timeouts, so it is never re-probed. A router that answered some
//! probes and not others, or a hop whose probes were all lost while deeper
//! hops answer, lost packets or rate-limited its ICMP errors (Linux: a
//! burst of 6 per destination, then one per second). Asking again at once
//! would meet the same empty bucket, so a re-probe waits [`PAUSE`] after
//! the hop's last probe; a single loss in a batch is plain loss and is
//! retried at once.

use std::{collections::HashMap, time::Duration};

use tokio::time::{Instant, sleep_until};

use crate::trace::probe::ProbeSpec;

/// How long after a hop's last probe a rate-limited router is asked again:
/// Linux refills one error per second.
pub(super) const PAUSE: Duration = Duration::from_secs(1);

/// Whether the losses of a batch at a hop that answered look like a rate
/// limit (more than one missing) rather than one lost packet.
pub(super) fn looks_rate_limited(lost: usize) -> bool {
    lost > 1
}

/// When each hop (by TTL) was last probed.
#[derive(Debug, Default)]
pub(crate) struct LastSent(HashMap<u8, Instant>);

impl LastSent {
    pub(crate) fn note(&mut self, probes: &[ProbeSpec], at: Instant) {
        for probe in probes {
            self.0.insert(probe.ttl, at);
        }
    }

    /// Waits until `PAUSE` has passed since `ttl` was last probed.
    pub(crate) async fn pause(&self, ttl: u8) {
        if let Some(&last) = self.0.get(&ttl) {
            sleep_until(last + PAUSE).await;
        }
    }

    /// Whether `PAUSE` has passed since `ttl` was last probed.
    pub(crate) fn rested(&self, ttl: u8) -> bool {
        self.0
            .get(&ttl)
            .is_none_or(|&last| last + PAUSE <= Instant::now())
    }
}

/// Single-path hops whose probes were all lost, waiting to ride along with
/// the next hops' batches, each at most `retry` times and never sooner
/// than the pause after its last probe: a ride never waits (so a silent
/// hop costs no wait of its own beyond its first timeout), it is skipped
/// while the hop is not rested.
#[derive(Debug, Default)]
pub(super) struct Pending {
    hops: Vec<(u8, u32)>,
}

impl Pending {
    /// The hop at `ttl` was all lost: ask again up to `retry` times.
    pub(super) fn add(&mut self, ttl: u8, retry: u32) {
        if retry > 0 && !self.hops.iter().any(|&(known, _)| known == ttl) {
            self.hops.push((ttl, retry));
        }
    }

    /// The TTLs to re-probe with the next batch (those `rested`), each
    /// try counted.
    pub(super) fn take(&mut self, rested: impl Fn(u8) -> bool) -> Vec<u8> {
        let mut ttls = Vec::new();
        for (ttl, left) in &mut self.hops {
            if rested(*ttl) {
                ttls.push(*ttl);
                *left -= 1;
            }
        }
        self.hops.retain(|&(_, left)| left > 0);
        ttls
    }

    /// The hop at `ttl` answered: no more re-probes.
    pub(super) fn answered(&mut self, ttl: u8) {
        self.hops.retain(|&(known, _)| known != ttl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_hops_ride_along_at_most_retry_times() {
        let mut pending = Pending::default();
        pending.add(2, 2);
        pending.add(2, 2);
        pending.add(3, 1);
        pending.add(4, 0);
        assert_eq!(pending.take(|ttl| ttl != 3), [2]);
        assert_eq!(pending.take(|_| true), [2, 3]);
        assert!(pending.take(|_| true).is_empty());
        pending.add(5, 3);
        pending.answered(5);
        assert!(pending.take(|_| true).is_empty());
    }
}
