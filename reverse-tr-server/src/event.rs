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

/// Events as they arrive.
pub struct Events {
    ring: AsyncFd<RingBuf<MapData>>,
}

impl Events {
    /// Wraps the ring buffer for async reading (needs a tokio runtime).
    pub fn new(ring: RingBuf<MapData>) -> Result<Self> {
        let interest = Interest::READABLE;
        // SAFETY: the ring buffer owns its map descriptor, which stays open
        // and the same for as long as the AsyncFd owns the ring buffer.
        let ring = unsafe { AsyncFd::register_with_interest(ring, interest) }
            .map_err(|error| io_error("polling the event ring buffer")(error.into()))?;
        Ok(Self { ring })
    }

    /// Waits for events and hands each to `each`; returns after one batch.
    pub async fn next_batch(&mut self, mut each: impl FnMut(Event)) -> Result<()> {
        let mut guard = self
            .ring
            .readable_mut()
            .await
            .map_err(io_error("polling the event ring buffer"))?;
        let ring = guard.get_inner_mut();
        while let Some(record) = ring.next() {
            if let Some(event) = decode(&record) {
                each(event);
            }
        }
        guard.clear_ready();
        Ok(())
    }
}
