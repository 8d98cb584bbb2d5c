//! The program's per-CPU counters, held apart from the rest of the loaded
//! program so a metrics scrape can read them beside the daemon's loop,
//! with one map lookup per counter and no walk of the session table.

use std::sync::Arc;

use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray},
};
use reverse_tr_common::counter::Counter;

use crate::{
    error::Result,
    maps::{map_error, take_map},
};

/// A shared handle on the counters; clones read the same map.
#[derive(Clone)]
pub struct Counters(Arc<PerCpuArray<MapData, u64>>);

impl Counters {
    /// Takes the counter map out of the loaded object (once).
    pub(crate) fn take(ebpf: &mut Ebpf) -> Result<Self> {
        let map = take_map(ebpf, "COUNTERS")?;
        let array = PerCpuArray::try_from(map).map_err(map_error("COUNTERS"))?;
        Ok(Self(Arc::new(array)))
    }

    /// The total of one counter over all CPUs.
    pub fn get(&self, counter: Counter) -> Result<u64> {
        let values = self
            .0
            .get(&(counter as u32), 0)
            .map_err(map_error("reading a counter"))?;
        Ok(values.iter().sum())
    }

    /// Totals of every counter, in [`Counter::ALL`] order.
    pub fn totals(&self) -> Result<Totals> {
        Counter::ALL
            .iter()
            .map(|counter| Ok((*counter, self.get(*counter)?)))
            .collect::<Result<_>>()
            .map(Totals)
    }
}

/// Every counter's total, read at one moment (counter by counter, so two
/// totals may be a few packets apart under traffic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals(pub Vec<(Counter, u64)>);

impl Totals {
    /// The total of `counter` (0 if absent).
    pub fn get(&self, counter: Counter) -> u64 {
        self.0
            .iter()
            .find_map(|(c, value)| (*c == counter).then_some(*value))
            .unwrap_or_default()
    }

    /// Sessions pending: every created session ends answered or timed out
    /// (a session is created exactly when its probe is counted). Read
    /// counter by counter, an end may be seen before its creation: the
    /// difference saturates at 0.
    pub fn active_sessions(&self) -> u64 {
        self.get(Counter::Probes)
            .saturating_sub(self.get(Counter::Answers))
            .saturating_sub(self.get(Counter::TimedOut))
    }

    /// What moved since `before`, in words (`12 requests, 3 table full`),
    /// sweeps left out (they move every 20 ms); `None` if nothing did.
    pub fn moved_since(&self, before: &Self) -> Option<String> {
        let moved: Vec<String> = self
            .0
            .iter()
            .filter(|(counter, _)| *counter != Counter::Sweeps)
            .filter_map(|(counter, value)| {
                let count = value.saturating_sub(before.get(*counter));
                (count > 0).then(|| format!("{count} {}", counter.name()))
            })
            .collect();
        (!moved.is_empty()).then(|| moved.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use reverse_tr_common::counter::Counter;

    use super::Totals;

    #[test]
    fn active_sessions_are_created_minus_ended() {
        let totals = |probes, answers, timed_out| {
            Totals(vec![
                (Counter::Probes, probes),
                (Counter::Answers, answers),
                (Counter::TimedOut, timed_out),
                (Counter::Exists, 1000),
            ])
        };
        assert_eq!(totals(10, 3, 4).active_sessions(), 3);
        assert_eq!(totals(10, 6, 4).active_sessions(), 0);
        // An end counted before the creation it ends was read.
        assert_eq!(totals(10, 7, 4).active_sessions(), 0);
    }

    #[test]
    fn a_summary_names_what_moved() {
        let before = Totals(vec![(Counter::RateLimited, 5), (Counter::TableFull, 2)]);
        let now = Totals(vec![
            (Counter::RateLimited, 17),
            (Counter::TableFull, 2),
            (Counter::RefusedLoopback, 1),
            (Counter::Sweeps, 100),
        ]);
        assert_eq!(
            now.moved_since(&before).as_deref(),
            Some("12 rate limited, 1 loopback sources")
        );
        assert_eq!(now.moved_since(&now), None);
    }
}
