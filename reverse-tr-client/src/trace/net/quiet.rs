//! When a batch may stop waiting. `--timeout` is the longest wait for one
//! probe; but once some probes of a batch were answered, the rest are most
//! likely lost (loss, or a router's ICMP rate limit) rather than slow, and
//! waiting the full timeout for them is what made lossy and rate-limited
//! paths slow. So a batch that has answers ends after it has been quiet for
//! a while: four times its slowest answer, at least [`QUIET_FLOOR`], never
//! longer than the timeout. A batch without any answer (a silent hop) waits
//! the full timeout, once.

use std::time::Duration;

use tokio::time::Instant;

use crate::trace::probe::Within;

/// The shortest quiet period that ends a batch with answers: well above
/// the answer time of any hop the answers so far came from, so that a
/// slower branch of the same TTL is still waited for.
const QUIET_FLOOR: Duration = Duration::from_millis(100);

/// How slow, relative to the slowest answer, a missing answer may be before
/// it is given up.
const QUIET_FACTOR: u32 = 4;

/// The waiting state of one batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wait {
    last_send: Instant,
    timeout: Duration,
    /// How long a batch without any answer waits: the timeout, or less
    /// for probes to hops known to answer.
    silence: Duration,
    last_answer: Option<Instant>,
    slowest: Duration,
    /// How many answers end the batch at once.
    enough: usize,
}

impl Wait {
    pub(crate) fn new(last_send: Instant, timeout: Duration) -> Self {
        Self {
            last_send,
            timeout,
            silence: timeout,
            last_answer: None,
            slowest: Duration::ZERO,
            enough: usize::MAX,
        }
    }

    /// A batch to hops known to answer: without any answer `patience`
    /// after its last probe, the rest is lost; with `enough` answers, the
    /// rest is not needed.
    pub(crate) fn within(self, within: Within) -> Self {
        Self {
            silence: within.patience.min(self.timeout),
            enough: within.enough,
            ..self
        }
    }

    /// Whether `answered` probes end the batch whatever the rest do.
    pub(crate) fn enough(&self, answered: usize) -> bool {
        answered >= self.enough
    }

    /// An answer arrived `at`, `rtt` after its probe left.
    pub(crate) fn answered(&mut self, at: Instant, rtt: Duration) {
        self.last_answer = Some(self.last_answer.map_or(at, |last| last.max(at)));
        self.slowest = self.slowest.max(rtt);
    }

    /// When to give up on the probes still unanswered.
    pub(crate) fn until(&self) -> Instant {
        let full = self.last_send + self.timeout;
        match self.last_answer {
            None => self.last_send + self.silence,
            Some(answer) => {
                let quiet = (self.slowest * QUIET_FACTOR)
                    .max(QUIET_FLOOR)
                    .min(self.timeout);
                full.min(answer.max(self.last_send) + quiet)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(2);

    #[tokio::test(start_paused = true)]
    async fn a_batch_without_answers_waits_the_timeout() {
        let sent = Instant::now();
        assert_eq!(Wait::new(sent, TIMEOUT).until(), sent + TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_to_hops_known_to_answer_waits_its_patience_for_the_first_answer() {
        let sent = Instant::now();
        let patience = Duration::from_millis(100);
        let within = Within {
            patience,
            enough: 2,
        };
        let mut wait = Wait::new(sent, TIMEOUT).within(within);
        assert_eq!(wait.until(), sent + patience);
        assert!(!wait.enough(1) && wait.enough(2), "two answers are enough");
        assert!(
            !Wait::new(sent, TIMEOUT).enough(1000),
            "else all are waited for"
        );
        // An answer turns the wait into the quiet period of any batch.
        wait.answered(sent + Duration::from_millis(10), Duration::from_millis(10));
        assert_eq!(wait.until(), sent + Duration::from_millis(10) + QUIET_FLOOR);
        let longer = Within {
            patience: 3 * TIMEOUT,
            ..within
        };
        assert_eq!(
            Wait::new(sent, TIMEOUT).within(longer).until(),
            sent + TIMEOUT,
            "never beyond the timeout"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn answers_end_the_batch_after_a_quiet_period() {
        let sent = Instant::now();
        let mut wait = Wait::new(sent, TIMEOUT);
        let ms = Duration::from_millis;
        wait.answered(sent + ms(1), ms(1));
        assert_eq!(wait.until(), sent + ms(1) + QUIET_FLOOR);
        // A slow branch stretches the quiet period to four of its answers.
        wait.answered(sent + ms(150), ms(150));
        assert_eq!(wait.until(), sent + ms(150) + ms(600));
        // Never beyond the timeout of the last probe sent.
        wait.answered(sent + ms(900), ms(900));
        assert_eq!(wait.until(), sent + TIMEOUT);
    }
}
