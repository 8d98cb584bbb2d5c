//! Reading session events from the program's ring buffer and printing
//! them as the reference does (§9.2 item 5), with the hop and span of
//! answers added.

use std::net::IpAddr;

use aya::maps::{MapData, RingBuf};
use reverse_tr_common::event::{Event, EventKind};
use tokio::io::{Interest, unix::AsyncFd};

use crate::{error::Result, server::io_error};

/// The client address of a 16-octet session address: IPv4 if mapped.
pub fn address(octets: [u8; 16]) -> IpAddr {
    IpAddr::V6(octets.into()).to_canonical()
}

/// The log line of an event: `[address, identifier] | text`, the address
/// right-aligned in 16 columns (46 for IPv6), the identifier in host
/// order in 5.
pub fn line(event: &Event) -> String {
    let Some(kind) = EventKind::from_raw(event.kind) else {
        return format!("unknown event kind {}", event.kind);
    };
    let client = address(event.key.address);
    let width = if client.is_ipv4() { 16 } else { 46 };
    let identifier = u16::from_be_bytes(event.key.identifier);
    let mut line = format!("[{client:>width$}, {identifier:>5}] | {}", kind.text());
    if kind == EventKind::Answered {
        let span_ms = event.span_ns as f64 / 1e6;
        line.push_str(&format!(" hop {}, {span_ms:.3} ms", address(event.hop)));
    }
    line
}

/// Decodes one ring-buffer record; `None` if it has the wrong size.
pub fn decode(record: &[u8]) -> Option<Event> {
    if record.len() != size_of::<Event>() {
        return None;
    }
    // SAFETY: the length matches and `Event` is plain data valid for any
    // bits (aya::Pod); read_unaligned copes with the record's alignment.
    Some(unsafe { record.as_ptr().cast::<Event>().read_unaligned() })
}

/// Most events handled per batch: a flood of events (tens of thousands
/// in the ring) is logged in slices, so the daemon's other work (metrics
/// scrapes, signals, the watchdog) is served in between.
const BATCH: usize = 1024;

/// Events as they arrive.
pub struct Events {
    ring: AsyncFd<RingBuf<MapData>>,
    /// The last batch stopped at [`BATCH`] with events left in the ring.
    behind: bool,
}

impl Events {
    /// Wraps the ring buffer for async reading (needs a tokio runtime).
    pub fn new(ring: RingBuf<MapData>) -> Result<Self> {
        let interest = Interest::READABLE;
        // SAFETY: the ring buffer owns its map descriptor, which stays open
        // and the same for as long as the AsyncFd owns the ring buffer.
        let ring = unsafe { AsyncFd::register_with_interest(ring, interest) }
            .map_err(|error| io_error("polling the event ring buffer")(error.into()))?;
        Ok(Self {
            ring,
            behind: false,
        })
    }

    /// Hands each event already in the ring to `each`, without waiting:
    /// the program wakes the reader only once per sweeper tick, so the
    /// last events before a stop may not have woken it yet.
    pub fn drain(&mut self, each: impl FnMut(Event)) {
        self.take(usize::MAX, each);
    }

    /// Hands up to `limit` events to `each`; true if it stopped at `limit`.
    fn take(&mut self, limit: usize, mut each: impl FnMut(Event)) -> bool {
        let ring = self.ring.get_mut();
        for _ in 0..limit {
            let Some(record) = ring.next() else {
                return false;
            };
            if let Some(event) = decode(&record) {
                each(event);
            }
        }
        true
    }

    /// Waits for events and hands each to `each`; returns after one batch
    /// of at most [`BATCH`].
    pub async fn next_batch(&mut self, each: impl FnMut(Event)) -> Result<()> {
        if self.behind {
            // Events wait already; let the caller's other work go first.
            tokio::task::yield_now().await;
        } else {
            // Cleared before reading: an event that lands meanwhile is read
            // now or sets the readiness again, never left waiting.
            self.ring
                .readable_mut()
                .await
                .map_err(io_error("polling the event ring buffer"))?
                .clear_ready();
        }
        self.behind = self.take(BATCH, each);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use reverse_tr_common::{
        event::{Event, EventKind},
        session::SessionKey,
    };

    use super::line;

    fn key(address: [u8; 16]) -> SessionKey {
        SessionKey::new(address, [0x01, 0x02])
    }

    const MAPPED: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10];
    const V6: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    #[test]
    fn lines_follow_the_reference_layout() {
        let cases = [
            (
                Event::new(EventKind::Created, key(MAPPED)),
                "[      192.0.2.10,   258] | session created.",
            ),
            (
                Event::new(EventKind::TimedOut, key(V6)),
                "[                                  2001:db8::10,   258] | session timed out.",
            ),
            (
                Event {
                    hop: MAPPED,
                    span_ns: 1_234_567,
                    ..Event::new(EventKind::Answered, key(MAPPED))
                },
                "[      192.0.2.10,   258] | probe answer received. hop 192.0.2.10, 1.235 ms",
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(line(&event), expected);
        }
    }

    #[test]
    fn unknown_kinds_are_named_not_trusted() {
        let event = Event {
            kind: 99,
            ..Event::new(EventKind::Created, key(V6))
        };
        assert_eq!(line(&event), "unknown event kind 99");
    }
}
