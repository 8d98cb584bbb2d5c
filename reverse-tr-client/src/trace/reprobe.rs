//! Telling loss and rate limiting from silence, and when to ask again.
//!
//! A hop whose probes were all lost while deeper hops answer is silent, or
//! its router's ICMP rate limit was spent (Linux: a burst of 6 errors per
//! destination, then one per second, and a run right after another finds
//! the burst gone). Asking again at once would meet the same empty bucket,
//! so such a hop is asked once more [`PAUSE`] after its last probe, riding
//! along with later batches where it can, else at the end of the discovery;
//! it is reported silent only if it never answered in the run. Losses at a
//! hop that answered are plain loss, retried at once, unless they look like
//! a rate limit: a burst answered, then nothing, from routers that by their
//! answers are out of errors ([`ErrorBudget`]). Those flows are
//! [`Deferred`]: discovery goes on, and they are asked again once the pause
//! has passed, at the end, with every other hop's in one batch.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::IpAddr,
    time::Duration,
};

use tokio::time::Instant;

use crate::trace::probe::ProbeSpec;

/// How long after a hop's last probe a rate-limited router is asked again:
/// Linux refills one error per second.
pub(super) const PAUSE: Duration = Duration::from_secs(1);

/// How many errors a Linux router sends one destination at once before
/// its rate limit holds it to one per [`PAUSE`] (`XRLIM_BURST_FACTOR`).
const BURST: f64 = 6.0;

/// The errors each router that answered has left for us, by Linux's
/// default limit as seen from its answers: a full burst at first sight,
/// one fewer per answer, one more per [`PAUSE`]. A router that has none
/// left most likely refused a probe it did not answer, so a loss at its
/// hop is taken for a refusal at once, without a retry to prove it. Other
/// routers may allow more; then the guess only swaps a retry for a new
/// flow, which serves the stopping rule as well.
#[derive(Debug, Default)]
pub(crate) struct ErrorBudget(HashMap<IpAddr, (f64, Instant)>);

impl ErrorBudget {
    /// `router` answered at `at`.
    pub(crate) fn spend(&mut self, router: IpAddr, at: Instant) {
        let (left, last) = self.0.entry(router).or_insert((BURST, at));
        *left = (refilled(*left, *last, at) - 1.0).max(0.0);
        *last = at;
    }

    /// Whether `router` has no error left at `now`.
    pub(crate) fn spent(&self, router: IpAddr, now: Instant) -> bool {
        self.0
            .get(&router)
            .is_some_and(|&(left, last)| refilled(left, last, now) < 1.0)
    }
}

/// `left` errors at `last`, refilled up to `now`.
fn refilled(left: f64, last: Instant, now: Instant) -> f64 {
    (left + now.saturating_duration_since(last).as_secs_f64() / PAUSE.as_secs_f64()).min(BURST)
}

/// Whether the losses among `sent` (flows in the order sent) look like a
/// rate limit rather than random loss: more than one lost, and every lost
/// one sent after every answered one, as when a router's burst runs out.
/// Random loss leaves gaps among the answers and is retried at once.
pub(super) fn looks_rate_limited(sent: &[u16], answered: &BTreeSet<u16>) -> bool {
    let first_lost = sent.iter().position(|flow| !answered.contains(flow));
    first_lost.is_some_and(|first| {
        sent.len() - first > 1 && sent[first..].iter().all(|flow| !answered.contains(flow))
    })
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

    /// When `PAUSE` will have passed since `ttl` was last probed.
    pub(crate) fn rested_at(&self, ttl: u8) -> Instant {
        self.0
            .get(&ttl)
            .map_or_else(Instant::now, |&last| last + PAUSE)
    }

    /// Whether `PAUSE` has passed since `ttl` was last probed.
    pub(crate) fn rested(&self, ttl: u8) -> bool {
        self.rested_at(ttl) <= Instant::now()
    }
}

/// Flows (by TTL) of hops that answered, refused by a spent rate limit and
/// waiting to be asked again after the pause: once, as what answers then
/// (an unseen vertex among them has its own budget) is all a second pause
/// would add, bar the one error a second of the spent routers.
#[derive(Debug, Default)]
pub(crate) struct Deferred(BTreeMap<u8, BTreeSet<u16>>);

impl Deferred {
    /// Defers `flows` at `ttl`; none leaves `ttl` off the TTLs waiting.
    pub(crate) fn add(&mut self, ttl: u8, flows: impl IntoIterator<Item = u16>) {
        let mut flows = flows.into_iter().peekable();
        if flows.peek().is_some() {
            self.0.entry(ttl).or_default().extend(flows);
        }
    }

    /// The TTLs waiting.
    pub(crate) fn ttls(&self) -> impl Iterator<Item = u8> + '_ {
        self.0.keys().copied()
    }

    /// Drops the flows waiting at `ttl`, a hop that needs them no more;
    /// returns how many there were.
    pub(crate) fn withdraw(&mut self, ttl: u8) -> usize {
        self.0.remove(&ttl).map_or(0, |flows| flows.len())
    }

    /// The probes waiting, taken to be sent.
    pub(crate) fn take(&mut self) -> Vec<ProbeSpec> {
        std::mem::take(&mut self.0)
            .into_iter()
            .flat_map(|(ttl, flows)| flows.into_iter().map(move |flow| ProbeSpec { ttl, flow }))
            .collect()
    }
}

/// Hops whose probes were all lost while waiting to be asked again: in
/// single-path each rides along with the next hops' batches, at most
/// `retry` times and never sooner than the pause after its last probe (a
/// ride never waits, it is skipped while the hop is not rested); whatever
/// is left when the discovery ends is asked once more, after the pause.
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

    /// The hops waiting.
    pub(super) fn ttls(&self) -> impl Iterator<Item = u8> + '_ {
        self.hops.iter().map(|&(ttl, _)| ttl)
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

    #[test]
    fn deferred_flows_are_taken_once_unless_withdrawn() {
        let mut deferred = Deferred::default();
        deferred.add(3, [8, 7]);
        deferred.add(2, [5]);
        deferred.add(3, [7]);
        deferred.add(4, []);
        deferred.add(5, [1]);
        assert_eq!(deferred.withdraw(5), 1);
        assert_eq!(deferred.withdraw(6), 0);
        assert_eq!(deferred.ttls().collect::<Vec<_>>(), [2, 3]);
        let probe = |ttl, flow| ProbeSpec { ttl, flow };
        assert_eq!(deferred.take(), [probe(2, 5), probe(3, 7), probe(3, 8)]);
        assert!(deferred.take().is_empty());
    }

    #[test]
    fn a_router_is_spent_after_its_burst_until_a_pause_refills_one_error() {
        let router = IpAddr::from([10, 0, 0, 1]);
        let other = IpAddr::from([10, 0, 0, 2]);
        let start = Instant::now();
        let mut budget = ErrorBudget::default();
        for _ in 0..5 {
            budget.spend(router, start);
        }
        assert!(!budget.spent(router, start), "one error left");
        budget.spend(router, start);
        assert!(budget.spent(router, start));
        assert!(budget.spent(router, start + PAUSE / 2));
        assert!(!budget.spent(router, start + PAUSE));
        assert!(!budget.spent(other, start), "never seen: nothing known");
        // A router that answers one error a second never runs out.
        let mut budget = ErrorBudget::default();
        for second in 0..20 {
            budget.spend(router, start + PAUSE * second);
        }
        assert!(!budget.spent(router, start + PAUSE * 19));
    }

    #[test]
    fn a_burst_then_silence_looks_rate_limited_and_scattered_loss_does_not() {
        let answered = |flows: &[u16]| flows.iter().copied().collect::<BTreeSet<u16>>();
        let sent = [1, 2, 3, 4, 5, 6, 7, 8];
        assert!(looks_rate_limited(&sent, &answered(&[1, 2, 3, 4, 5, 6])));
        assert!(looks_rate_limited(&sent, &answered(&[])));
        assert!(!looks_rate_limited(
            &sent,
            &answered(&[1, 2, 3, 4, 5, 6, 7])
        ));
        assert!(!looks_rate_limited(&sent, &answered(&[1, 3, 4, 5, 6, 7])));
        assert!(!looks_rate_limited(&sent, &answered(&[1, 2, 4, 5, 6, 8])));
        assert!(!looks_rate_limited(&sent, &answered(&sent)));
    }
}
