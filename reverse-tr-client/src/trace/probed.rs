//! The flows a multipath step probed at the next hop, and which of them
//! count towards a stopping point.
//!
//! A router whose ICMP error burst is spent (Linux: 6, then one a second)
//! refuses the rest of a hop's flows. Those flows are handed back: never
//! chosen again, but counted for no stopping point, so the step probes
//! others in their place at once instead of waiting a second for the
//! bucket to refill. The answers that count are then skewed away from the
//! spent router, towards the other vertices, seen or not, so the chance of
//! missing a vertex stays within ε.

use std::collections::BTreeSet;

#[derive(Debug, Clone, Default)]
pub(crate) struct Probed {
    sent: BTreeSet<u16>,
    handed_back: BTreeSet<u16>,
}

impl Probed {
    /// Whether `flow` was sent: it is not chosen again.
    pub(crate) fn sent(&self, flow: u16) -> bool {
        self.sent.contains(&flow)
    }

    /// Whether `flow` was sent and counts towards a stopping point.
    pub(crate) fn counts(&self, flow: u16) -> bool {
        self.sent(flow) && !self.handed_back.contains(&flow)
    }

    /// How many flows count.
    pub(crate) fn count(&self) -> usize {
        self.sent.len() - self.handed_back.len()
    }

    pub(crate) fn send(&mut self, flows: impl IntoIterator<Item = u16>) {
        self.sent.extend(flows);
    }

    /// `flows` went unanswered behind a spent rate limit.
    pub(crate) fn hand_back(&mut self, flows: impl IntoIterator<Item = u16>) {
        self.handed_back
            .extend(flows.into_iter().filter(|flow| self.sent.contains(flow)));
    }
}

impl FromIterator<u16> for Probed {
    fn from_iter<I: IntoIterator<Item = u16>>(flows: I) -> Self {
        let mut probed = Self::default();
        probed.send(flows);
        probed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handed_back_flows_are_never_chosen_again_and_count_for_nothing() {
        let mut probed: Probed = [1, 2, 3].into_iter().collect();
        probed.hand_back([2, 9]);
        assert!(probed.sent(2) && !probed.counts(2));
        assert!(probed.counts(1) && !probed.sent(9));
        assert_eq!(probed.count(), 2);
        probed.send([4]);
        assert_eq!(probed.count(), 3);
    }
}
