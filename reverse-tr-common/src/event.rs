//! Session events the eBPF program reports to the loader through a ring
//! buffer (§8.4). Only transitions of sessions are events; refused requests
//! (duplicates, a full table, limits) are counters, so a flood of them
//! writes nothing to the ring.

use crate::session::SessionKey;

/// A session transition.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A session was inserted and its probe sent.
    Created = 1,
    /// An answer matched the session; the response was sent.
    Answered = 4,
    /// The session expired without an answer.
    TimedOut = 5,
}

impl EventKind {
    /// The kind of a raw `kind` field, if it is one.
    #[inline(always)]
    pub fn from_raw(raw: u32) -> Option<Self> {
        Some(match raw {
            1 => Self::Created,
            4 => Self::Answered,
            5 => Self::TimedOut,
            _ => return None,
        })
    }

    /// The loader's text for the event (REF-1 wording, §8.4).
    pub fn text(self) -> &'static str {
        match self {
            Self::Created => "session created.",
            Self::Answered => "probe answer received.",
            Self::TimedOut => "session timed out.",
        }
    }
}

/// One ring-buffer record.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Event {
    /// An [`EventKind`] as `u32`.
    pub kind: u32,
    /// The session the event is about.
    pub key: SessionKey,
    /// Answered: the hop address (IPv4-mapped for IPv4); otherwise zero.
    pub hop: [u8; 16],
    /// Answered: the span in nanoseconds (§7.5); otherwise zero.
    pub span_ns: u64,
}

impl Event {
    /// An event about `key` with no hop.
    #[inline(always)]
    pub fn new(kind: EventKind, key: SessionKey) -> Self {
        Self {
            kind: kind as u32,
            key,
            hop: [0; 16],
            span_ns: 0,
        }
    }
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `repr(C)` struct of integers and octet arrays without
    // implicit padding (4 + 20 + 16 = 40, then a u64): every bit pattern is valid.
    unsafe impl aya::Pod for super::Event {}
}

#[cfg(test)]
mod tests {
    use super::EventKind;

    #[test]
    fn kinds_round_trip_through_raw() {
        for kind in [EventKind::Created, EventKind::Answered, EventKind::TimedOut] {
            assert_eq!(EventKind::from_raw(kind as u32), Some(kind));
        }
        assert_eq!(EventKind::from_raw(0), None);
        // The kinds of refusals REF-1 logged are counters here.
        assert_eq!(EventKind::from_raw(2), None);
        assert_eq!(EventKind::from_raw(3), None);
        assert_eq!(EventKind::from_raw(6), None);
    }
}
