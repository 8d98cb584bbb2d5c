//! Request identifiers (§11.5.2, §12.1 item 5). The reference restarts its
//! counter at 1 every run, so a second run within the server's session
//! timeout collides with the first run's leftover sessions and is dropped
//! silently. Here the counter starts at a random point, and an identifier is
//! never handed out again within the server timeout unless a reply to it
//! proved its session gone (then it is reused first, keeping NAT mappings).

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// How long a server keeps a session (§8.2): an identifier sent this long
/// ago without a reply is free again.
pub(super) const SERVER_TIMEOUT: Duration = Duration::from_secs(5);

/// Hands out identifiers 1..=65535 that cannot collide with a live session.
#[derive(Debug)]
pub(crate) struct Identifiers {
    next: u16,
    /// Identifiers answered by the server: free now, most recent last.
    reclaimed: Vec<u16>,
    /// Identifiers handed out and not answered, with when.
    outstanding: HashMap<u16, Instant>,
}

impl Identifiers {
    /// A pool whose counter starts at `start` (0 is taken as 1).
    pub(crate) fn starting_at(start: u16) -> Self {
        Self {
            next: start.max(1),
            reclaimed: Vec::new(),
            outstanding: HashMap::new(),
        }
    }

    /// A pool starting at a random point.
    pub(crate) fn random() -> Self {
        Self::starting_at(rand::random())
    }

    /// The next free identifier at `now`, or None if all 65,535 are in use.
    pub(crate) fn take(&mut self, now: Instant) -> Option<u16> {
        let id = self.reclaimed.pop().or_else(|| self.advance_counter(now))?;
        self.outstanding.insert(id, now);
        Some(id)
    }

    /// Marks `id` answered: its session is gone, it may be reused at once.
    /// Returns false for an identifier this pool has not handed out.
    pub(crate) fn reclaim(&mut self, id: u16) -> bool {
        let known = self.outstanding.remove(&id).is_some();
        if known {
            self.reclaimed.push(id);
        }
        known
    }

    fn advance_counter(&mut self, now: Instant) -> Option<u16> {
        for _ in 0..u16::MAX {
            let id = self.next;
            self.next = if id == u16::MAX { 1 } else { id + 1 };
            let busy = self
                .outstanding
                .get(&id)
                .is_some_and(|&sent| now.duration_since(sent) < SERVER_TIMEOUT);
            if !busy {
                return Some(id);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn never_zero_and_wraps_past_the_top() {
        let now = Instant::now();
        let mut pool = Identifiers::starting_at(65534);
        let ids: Vec<u16> = (0..3).filter_map(|_| pool.take(now)).collect();
        assert_eq!(ids, [65534, 65535, 1]);
        assert_eq!(Identifiers::starting_at(0).take(now), Some(1));
    }

    #[test]
    fn no_reuse_within_the_server_timeout() {
        let now = Instant::now();
        let mut pool = Identifiers::starting_at(100);
        let ids: HashSet<u16> = (0..u16::MAX).filter_map(|_| pool.take(now)).collect();
        assert_eq!(ids.len(), usize::from(u16::MAX));
        assert!(!ids.contains(&0));
        assert_eq!(
            pool.take(now + Duration::from_secs(1)),
            None,
            "every identifier is still live"
        );
        assert_eq!(
            pool.take(now + SERVER_TIMEOUT),
            Some(100),
            "the oldest is free once its session expired"
        );
    }

    #[test]
    fn reclaimed_identifiers_come_back_first_last_in_first_out() {
        let now = Instant::now();
        let mut pool = Identifiers::starting_at(10);
        let (a, b, c) = (pool.take(now), pool.take(now), pool.take(now));
        assert_eq!((a, b, c), (Some(10), Some(11), Some(12)));
        assert!(pool.reclaim(10));
        assert!(pool.reclaim(12));
        assert!(!pool.reclaim(12), "reclaimed twice");
        assert!(!pool.reclaim(500), "never handed out");
        let next: Vec<Option<u16>> = (0..3).map(|_| pool.take(now)).collect();
        assert_eq!(next, [Some(12), Some(10), Some(13)]);
    }

    #[test]
    fn random_starts_differ_between_runs() {
        let now = Instant::now();
        let starts: HashSet<Option<u16>> =
            (0..8).map(|_| Identifiers::random().take(now)).collect();
        assert!(
            starts.len() > 1,
            "eight random pools all started at {starts:?}"
        );
    }
}
