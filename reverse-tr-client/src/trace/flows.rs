//! The lazy stream of new flows of one hop pair (PROTOCOL.md §11.10.3):
//! every flow of the range the hop does not know yet, in uniformly random
//! order. The flows it knows come first in §11.10.3; here the hop step takes
//! those per vertex itself (`mda`), so the stream holds only the rest.

use std::{
    collections::{BTreeSet, HashMap},
    ops::RangeInclusive,
};

use rand::Rng;

/// Flows multipath discovery draws from (§11.10.3, §12.1 item 16).
pub(crate) const FLOW_RANGE: RangeInclusive<u16> = 10_000..=u16::MAX;

/// Yields each flow of the range not in `known`, never one twice, until the
/// range is exhausted.
pub(crate) struct FlowStream<R> {
    skip: BTreeSet<u16>,
    first: u16,
    /// A Fisher–Yates shuffle of offsets into the range, done one draw at a
    /// time: offsets below `remaining` are undrawn, and `moved` holds the
    /// few positions whose offset differs from the position itself, so a
    /// hop pair that needs a handful of flows costs a handful of steps.
    remaining: usize,
    moved: HashMap<usize, usize>,
    rng: R,
}

impl<R: Rng> FlowStream<R> {
    pub(crate) fn new(known: &BTreeSet<u16>, range: RangeInclusive<u16>, rng: R) -> Self {
        let remaining = if range.is_empty() {
            0
        } else {
            usize::from(*range.end() - *range.start()) + 1
        };
        Self {
            skip: known.clone(),
            first: *range.start(),
            remaining,
            moved: HashMap::new(),
            rng,
        }
    }

    /// The next offset of the shuffle, `None` once all were drawn.
    fn draw(&mut self) -> Option<usize> {
        let last = self.remaining.checked_sub(1)?;
        let position = self.rng.random_range(0..self.remaining);
        let offset = self.moved.remove(&position).unwrap_or(position);
        if position != last {
            let last_offset = self.moved.remove(&last).unwrap_or(last);
            self.moved.insert(position, last_offset);
        }
        self.remaining = last;
        Some(offset)
    }
}

impl<R: Rng> Iterator for FlowStream<R> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        loop {
            // Offsets are below the range's length, so the sum stays a u16.
            let flow = self.first + u16::try_from(self.draw()?).ok()?;
            if !self.skip.contains(&flow) {
                return Some(flow);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    fn stream(known: &[u16], range: RangeInclusive<u16>) -> FlowStream<StdRng> {
        FlowStream::new(
            &known.iter().copied().collect(),
            range,
            StdRng::seed_from_u64(7),
        )
    }

    #[test]
    fn rest_of_the_range_once_each_then_exhausted() {
        let known = [10_005, 12_000, 40_000];
        let mut flows: Vec<u16> = stream(&known, FLOW_RANGE).collect();
        assert_eq!(flows.len(), FLOW_RANGE.count() - known.len());
        flows.sort_unstable();
        flows.dedup();
        let rest: Vec<u16> = FLOW_RANGE.filter(|flow| !known.contains(flow)).collect();
        assert_eq!(flows, rest);
    }

    #[test]
    fn rest_is_shuffled() {
        let flows: Vec<u16> = stream(&[], FLOW_RANGE).take(100).collect();
        let mut sorted = flows.clone();
        sorted.sort_unstable();
        assert_ne!(flows, sorted);
        assert!(flows.iter().all(|flow| FLOW_RANGE.contains(flow)));
    }

    #[test]
    fn small_range_exhausts() {
        let mut flows: Vec<u16> = stream(&[3], 1..=5).collect();
        flows.sort_unstable();
        assert_eq!(flows, [1, 2, 4, 5]);
    }
}
