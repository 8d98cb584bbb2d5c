//! The server's session table entries (§8), shared by the eBPF program and
//! the loader.
//!
//! Sessions live in a preallocated hash keyed by [`SessionKey`]; each
//! creation also queues a [`Deadline`] in a FIFO that one sweeper timer
//! drains (DESIGN.md "Session expiry": one timer per session runs out of
//! memory after a few hundred arms).

/// Key of a session: the client and the request's identifier (§8.1, REF-1).
///
/// IPv4 clients are stored IPv4-mapped (`::ffff:a.b.c.d`) so one table
/// serves both families without collisions.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SessionKey {
    /// Client address, 16 octets (IPv4-mapped for IPv4).
    pub address: [u8; 16],
    /// The request's echo identifier, raw octets as on the wire.
    pub identifier: [u8; 2],
    /// Always zero; part of the key so the hash never sees stray octets.
    pub padding: [u8; 2],
}

impl SessionKey {
    /// The key of `identifier` from `address`.
    #[inline(always)]
    pub fn new(address: [u8; 16], identifier: [u8; 2]) -> Self {
        Self {
            address,
            identifier,
            padding: [0; 2],
        }
    }
}

/// What the answer path needs to check and answer a session.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Session {
    /// Monotonic nanoseconds when the request arrived (start of the span, §7.5).
    pub t0: u64,
    /// Monotonic nanoseconds after which the sweeper removes the session.
    pub deadline: u64,
    /// The address the probe was sent from (the request's destination):
    /// answers must quote it as source or be addressed to it.
    pub source: [u8; 16],
    /// The probe's random octets (§5.5; for TCP the first two are the
    /// sequence number's high half): an answer that shows them must echo
    /// them ([`crate::answer::Proof`]).
    pub random: [u8; 6],
    /// The probe's flow field octets after defaults (§5.6), checked in
    /// quoted answers.
    pub flow: [u8; 2],
    /// The probe's IP protocol (1, 58, 17 or 6).
    pub protocol: u8,
    /// Always zero.
    pub padding: [u8; 7],
}

/// A FIFO entry: the session created with `key` expires at `deadline`.
///
/// Answered sessions leave their entry behind; the sweeper discards it
/// because no session with that key and deadline exists any more.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deadline {
    /// The session's key.
    pub key: SessionKey,
    /// Always zero (alignment of `deadline`).
    pub padding: [u8; 4],
    /// Equal to [`Session::deadline`] while the session lives.
    pub deadline: u64,
}

/// Entries of the deadline FIFO per session of capacity.
///
/// The FIFO also holds entries of sessions answered before their deadline,
/// so it must be longer than the table: with 4× it takes four table fills
/// within one timeout before a push fails (the request is then refused,
/// never leaked).
pub const DEADLINES_PER_SESSION: u32 = 4;

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `repr(C)` structs of integers and octet arrays with
    // explicit padding fields: every bit pattern is valid.
    unsafe impl aya::Pod for super::SessionKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Session {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Deadline {}
}
