//! The statistics of one monitored vertex: probes sent and answered, the
//! round-trip times in brief (last, mean, best, worst, standard deviation)
//! and a short history for a sparkline.

use std::{collections::VecDeque, time::Duration};

/// Results kept for the latency history (one a cycle: a minute at 1 s).
pub(super) const HISTORY: usize = 60;

/// Probes and round-trip times of one vertex.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RttStats {
    sent: u32,
    received: u32,
    last: Option<Duration>,
    best: Option<Duration>,
    worst: Option<Duration>,
    /// Running mean and sum of squared deviations in seconds (Welford's
    /// method: no list of samples grows over hours of monitoring).
    mean: f64,
    squares: f64,
    /// The latest results, oldest first; `None` is a probe unanswered.
    history: VecDeque<Option<Duration>>,
}

impl RttStats {
    /// A probe answered after `rtt`.
    pub(crate) fn answered(&mut self, rtt: Duration) {
        self.sent += 1;
        self.received += 1;
        self.last = Some(rtt);
        self.best = Some(self.best.map_or(rtt, |best| best.min(rtt)));
        self.worst = Some(self.worst.map_or(rtt, |worst| worst.max(rtt)));
        let seconds = rtt.as_secs_f64();
        let delta = seconds - self.mean;
        self.mean += delta / f64::from(self.received);
        self.squares += delta * (seconds - self.mean);
        self.remember(Some(rtt));
    }

    /// A probe that got no answer from this vertex.
    pub(crate) fn lost(&mut self) {
        self.sent += 1;
        self.remember(None);
    }

    fn remember(&mut self, result: Option<Duration>) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(result);
    }

    pub(crate) fn sent(&self) -> u32 {
        self.sent
    }

    pub(crate) fn received(&self) -> u32 {
        self.received
    }

    /// Share of the probes sent that got no answer, in percent (0 before
    /// the first probe).
    pub(crate) fn loss_percent(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            100.0 * f64::from(self.sent - self.received) / f64::from(self.sent)
        }
    }

    pub(crate) fn last(&self) -> Option<Duration> {
        self.last
    }

    pub(crate) fn best(&self) -> Option<Duration> {
        self.best
    }

    pub(crate) fn worst(&self) -> Option<Duration> {
        self.worst
    }

    pub(crate) fn mean(&self) -> Option<Duration> {
        (self.received > 0).then(|| Duration::from_secs_f64(self.mean))
    }

    /// The population standard deviation of the RTTs (as mtr's StDev).
    pub(crate) fn stdev(&self) -> Option<Duration> {
        (self.received > 0)
            .then(|| Duration::from_secs_f64((self.squares / f64::from(self.received)).sqrt()))
    }

    /// The latest results, oldest first (at most [`HISTORY`]).
    pub(crate) fn history(&self) -> impl ExactSizeIterator<Item = Option<Duration>> + '_ {
        self.history.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn summarises_answers_and_losses() {
        let mut stats = RttStats::default();
        assert_eq!((stats.mean(), stats.stdev()), (None, None));
        for rtt in [2, 4, 4, 4, 5, 5, 7, 9] {
            stats.answered(ms(rtt));
        }
        stats.lost();
        stats.lost();
        assert_eq!((stats.sent(), stats.received()), (10, 8));
        assert!((stats.loss_percent() - 20.0).abs() < 1e-9);
        assert_eq!(stats.last(), Some(ms(9)));
        assert_eq!((stats.best(), stats.worst()), (Some(ms(2)), Some(ms(9))));
        let micros = |d: Option<Duration>| d.map(|d| d.as_micros());
        assert_eq!(micros(stats.mean()), Some(5000));
        // The textbook example: population deviation 2.
        assert_eq!(micros(stats.stdev()), Some(2000));
        let history: Vec<_> = stats.history().collect();
        assert_eq!(history.len(), 10);
        assert_eq!(history[0], Some(ms(2)));
        assert_eq!(history[9], None);
    }

    #[test]
    fn history_keeps_the_latest_results_only() {
        let mut stats = RttStats::default();
        for n in 0..HISTORY as u64 + 5 {
            stats.answered(ms(n));
        }
        let history: Vec<_> = stats.history().collect();
        assert_eq!(history.len(), HISTORY);
        assert_eq!(history[0], Some(ms(5)));
        assert_eq!(stats.sent(), HISTORY as u32 + 5);
    }
}
