//! The probe rate limit: one send slot every `gap`, shared by every prober
//! of a run (two-way traces share it), so routers on the way are never
//! asked faster than the user allowed.

use std::{sync::Mutex, time::Duration};

use tokio::time::{Instant, sleep_until};

/// Hands out send slots `gap` apart.
#[derive(Debug)]
pub struct Pacer {
    gap: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn new(gap: Duration) -> Self {
        Self {
            gap,
            next: Mutex::new(None),
        }
    }

    /// Waits for the next free slot.
    pub async fn wait(&self) {
        let slot = {
            // A poisoned lock only means another prober panicked between two
            // plain assignments; the instant inside is still valid.
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let slot = next.map_or(now, |next| next.max(now));
            *next = Some(slot + self.gap);
            slot
        };
        sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_a_gap_apart_and_never_bunch_up() {
        let pacer = Pacer::new(Duration::from_millis(10));
        let start = Instant::now();
        for expected in [0, 10, 20] {
            pacer.wait().await;
            assert_eq!(start.elapsed(), Duration::from_millis(expected));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        pacer.wait().await;
        pacer.wait().await;
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(130),
            "an idle pacer gives no burst credit"
        );
    }
}
