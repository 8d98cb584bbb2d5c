//! The operator's policy (§10.3, §10.4), shared by the eBPF program and the
//! loader: request rate limits, the shortest request admitted, the probe
//! protocols offered, and the keys of the allow/deny prefix lists and of
//! the token buckets.
//!
//! The loader writes one [`Policy`] into a one-element array map, so it can
//! change it (SIGHUP) without reloading the program. All zeros is the
//! reference's behaviour: no limits, every request size, every protocol.

use crate::{
    address::Family,
    constants::{
        IPV4_HEADER_LEN, IPV6_HEADER_LEN, PROBE_SHORT_LEN, PROBE_TCP_LEN, PROTOCOL_TCP,
        REQUEST_LEN, RESPONSE_SUCCESS_LEN,
    },
    probe::ProbeProtocol,
};

/// Octets of the RST a host stack sends (a TCP header without options).
const TCP_HEADER_LEN: usize = 20;

/// Token units per request: a bucket holds `tokens / TOKEN` requests, and
/// refills by `elapsed_ns × per_second` units, so no division is needed.
pub const TOKEN: u64 = 1_000_000_000;

/// Largest rate and burst the loader accepts; keeps `burst × TOKEN` and
/// `fill_ns × per_second` far from overflowing a u64.
pub const RATE_MAX: u64 = 1_000_000;

/// Prefix length of per-source state for IPv6: one host's /64 (a host can
/// pick any address in it, so a finer key would give it fresh state at
/// will).
pub const SOURCE_BITS_V6: u32 = 64;

/// Prefix length of a per-prefix bucket: /24 for IPv4, /48 for IPv6.
pub const PREFIX_BITS_V4: u32 = 24;
/// See [`PREFIX_BITS_V4`].
pub const PREFIX_BITS_V6: u32 = 48;

/// A token bucket's parameters; `per_second` 0 switches the bucket off.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rate {
    /// Requests per second refilled.
    pub per_second: u64,
    /// Most requests admitted back to back.
    pub burst: u64,
    /// Nanoseconds an empty bucket takes to fill: longer idle times add
    /// nothing, which bounds the refill product.
    pub fill_ns: u64,
}

impl Rate {
    /// No limit.
    pub const OFF: Self = Self {
        per_second: 0,
        burst: 0,
        fill_ns: 0,
    };

    /// `per_second` requests per second with bursts of `burst`; `None` if
    /// either is 0 or above [`RATE_MAX`].
    pub fn new(per_second: u64, burst: u64) -> Option<Self> {
        if !(1..=RATE_MAX).contains(&per_second) || !(1..=RATE_MAX).contains(&burst) {
            return None;
        }
        Some(Self {
            per_second,
            burst,
            fill_ns: burst * TOKEN / per_second,
        })
    }

    /// [`Self::new`] for constants: fails to compile if out of range.
    pub const fn of(per_second: u64, burst: u64) -> Self {
        assert!(per_second >= 1 && per_second <= RATE_MAX && burst >= 1 && burst <= RATE_MAX);
        Self {
            per_second,
            burst,
            fill_ns: burst * TOKEN / per_second,
        }
    }

    /// Whether the bucket is on.
    #[inline(always)]
    pub fn is_on(&self) -> bool {
        self.per_second != 0
    }
}

/// Time of refill a new bucket starts with (besides the request that
/// creates it): a source seen for the first time gets a quarter second of
/// its rate, not its whole burst, so sources spoofed afresh for every
/// request gain little each (issue: "new buckets start small").
pub const FIRST_FILL_NS: u64 = 250_000_000;

/// A token bucket's state, kept per source, per source prefix and
/// server-wide.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bucket {
    /// Requests left, in [`TOKEN`] units.
    pub tokens: u64,
    /// Monotonic nanoseconds of the last refill.
    pub last_ns: u64,
}

impl Bucket {
    /// A new bucket at `now_ns` that has just admitted one request: it
    /// holds what [`FIRST_FILL_NS`] of refill gives, at most the burst.
    #[inline(always)]
    pub fn first(rate: &Rate, now_ns: u64) -> Self {
        let fill = FIRST_FILL_NS.min(rate.fill_ns) * rate.per_second;
        Self {
            tokens: fill.min(rate.burst.saturating_sub(1) * TOKEN),
            last_ns: now_ns,
        }
    }

    /// Refills the bucket for the time since its last refill and takes one
    /// request from it; false if it is empty.
    #[inline(always)]
    pub fn take(&mut self, rate: &Rate, now_ns: u64) -> bool {
        let elapsed = now_ns.saturating_sub(self.last_ns).min(rate.fill_ns);
        let tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst * TOKEN);
        self.last_ns = now_ns;
        let admitted = tokens >= TOKEN;
        self.tokens = if admitted { tokens - TOKEN } else { tokens };
        admitted
    }
}

/// What the program keeps per source (/32, /64): its buckets for all
/// requests and for unpadded ones.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceState {
    /// Bucket of [`Policy::source`].
    pub requests: Bucket,
    /// Bucket of [`Policy::unpadded_source`].
    pub unpadded: Bucket,
}

/// Index of the server-wide bucket of [`Policy::sessions`].
pub const GLOBAL_SESSIONS: u32 = 0;
/// Index of the server-wide bucket of [`Policy::new_sources`].
pub const GLOBAL_NEW_SOURCES: u32 = 1;
/// Index of the server-wide bucket of [`Policy::unpadded`].
pub const GLOBAL_UNPADDED: u32 = 2;
/// Server-wide buckets.
pub const GLOBAL_BUCKETS: u32 = 3;

/// What the operator admits; all zeros admits everything, as the reference.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// Bucket per source: its address for IPv4, its /64 for IPv6
    /// ([`source_key`]).
    pub source: Rate,
    /// Bucket per source prefix ([`PREFIX_BITS_V4`], [`PREFIX_BITS_V6`]).
    pub prefix: Rate,
    /// Server-wide bucket of sessions created (probes sent): bounds the
    /// table's fill to `rate × timeout + burst` whatever the sources.
    pub sessions: Rate,
    /// Server-wide bucket of sources taken on: a request from a source
    /// without per-source state (new, or forgotten) takes from it first,
    /// so sources spoofed at random cannot crowd out known ones.
    pub new_sources: Rate,
    /// Server-wide bucket of unpadded requests (see [`padded_len`]).
    pub unpadded: Rate,
    /// Bucket per source of unpadded requests.
    pub unpadded_source: Rate,
    /// Most sessions pending per source (0: no cap).
    pub source_sessions: u32,
    /// Most sessions pending per source prefix (0: no cap).
    pub prefix_sessions: u32,
    /// Requests whose IP packet is shorter are dropped, IPv4 then IPv6
    /// (0: off); see also [`Self::refuse_unpadded`].
    pub min_request_len: [u16; 2],
    /// Bits ([`protocol_bit`]) of the probe protocols refused with state 2.
    pub refused_protocols: u8,
    /// Nonzero: only sources in the allow list are served.
    pub allow_listed_only: u8,
    /// Nonzero: the deny list has entries (an empty one is not looked up).
    pub deny_listed: u8,
    /// Nonzero: private and shared sources (RFC 1918, RFC 6598, RFC 4193)
    /// are refused ([`crate::requester`]).
    pub refuse_private: u8,
    /// Nonzero: the loader keeps the host's addresses in the program's
    /// address map, and only requests to one of them are served.
    pub local_only: u8,
    /// Nonzero: unpadded requests are dropped.
    pub refuse_unpadded: u8,
    /// Always zero.
    pub padding: [u8; 6],
}

impl Policy {
    /// The shortest request of `family` admitted.
    #[inline(always)]
    pub fn min_request_len(&self, family: Family) -> usize {
        usize::from(match family {
            Family::V4 => self.min_request_len[0],
            Family::V6 => self.min_request_len[1],
        })
    }

    /// Whether requests for `protocol` are served.
    #[inline(always)]
    pub fn offers(&self, protocol: ProbeProtocol) -> bool {
        self.refused_protocols & protocol_bit(protocol) == 0
    }

    /// Whether any per-source state is kept.
    #[inline(always)]
    pub fn tracks_sources(&self) -> bool {
        self.source.is_on() || self.unpadded_source.is_on() || self.new_sources.is_on()
    }
}

/// The recommended policy of a server on the Internet: with the default
/// capacity (100,000) and timeout (5 s) the session rate fills at most
/// 4,000 × 5 + 4,000 = 24,000 sessions, a quarter of the table; no source
/// holds more than 1,000 of them nor a prefix more than 4,000. Our client
/// (400 probes/s, padded) fits the per-source rate; the reference client
/// (10 unpadded requests/s) fits the unpadded budget per source.
pub const DEFAULT_POLICY: Policy = Policy {
    source: Rate::of(400, 1000),
    prefix: Rate::of(1600, 4000),
    sessions: Rate::of(4000, 4000),
    new_sources: Rate::of(1000, 1000),
    unpadded: Rate::of(100, 100),
    unpadded_source: Rate::of(10, 20),
    source_sessions: 1000,
    prefix_sessions: 4000,
    min_request_len: [0; 2],
    refused_protocols: 0,
    allow_listed_only: 0,
    deny_listed: 0,
    refuse_private: 0,
    local_only: 1,
    refuse_unpadded: 0,
    padding: [0; 6],
};

/// The most octets a request of `family` asking for `protocol` (a
/// request's Protocol field) makes the server host send to the request's
/// source (§10.1): its probe and success response, and for TCP the RST
/// the host stack sends when the probed port answers with a SYN-ACK
/// (§6.5). A request at least this long (its IP packet) is padded: it
/// costs whoever its source names no more than it cost the sender.
/// Unsupported protocols cost what an ICMP probe does (their error
/// response is shorter).
#[inline(always)]
pub const fn padded_len(family: Family, protocol: u8) -> usize {
    let header = match family {
        Family::V4 => IPV4_HEADER_LEN,
        Family::V6 => IPV6_HEADER_LEN,
    };
    let replies = header + PROBE_SHORT_LEN + header + RESPONSE_SUCCESS_LEN;
    if protocol == PROTOCOL_TCP {
        replies + (PROBE_TCP_LEN - PROBE_SHORT_LEN) + header + TCP_HEADER_LEN
    } else {
        replies
    }
}

/// The bit of `protocol` in [`Policy::refused_protocols`].
#[inline(always)]
pub fn protocol_bit(protocol: ProbeProtocol) -> u8 {
    match protocol {
        ProbeProtocol::Icmp => 1,
        ProbeProtocol::Udp => 2,
        ProbeProtocol::Tcp => 4,
    }
}

/// The key of a source's per-source state: its 16-octet (IPv4-mapped)
/// address, for IPv6 with the bits past [`SOURCE_BITS_V6`] zeroed.
#[inline(always)]
pub fn source_key(family: Family, address: [u8; 16]) -> [u8; 16] {
    match family {
        Family::V4 => address,
        Family::V6 => keep_octets(address, SOURCE_BITS_V6 as usize / 8),
    }
}

/// The key of a source's per-prefix state: its 16-octet (IPv4-mapped)
/// address with the host bits zeroed.
#[inline(always)]
pub fn prefix_key(family: Family, address: [u8; 16]) -> [u8; 16] {
    // Whole octets: /24 keeps 12 + 3 octets of a mapped address, /48 six.
    let keep = match family {
        Family::V4 => 12 + PREFIX_BITS_V4 as usize / 8,
        Family::V6 => PREFIX_BITS_V6 as usize / 8,
    };
    keep_octets(address, keep)
}

/// `address` with every octet from `keep` on zeroed.
#[inline(always)]
fn keep_octets(mut address: [u8; 16], keep: usize) -> [u8; 16] {
    let mut at = keep;
    while at < 16 {
        address[at] = 0;
        at += 1;
    }
    address
}

/// Prefix length of an allow/deny list entry over 16-octet addresses:
/// IPv4 prefixes lie under the 96 bits of `::ffff:0:0/96`.
#[inline(always)]
pub fn list_prefix_len(family: Family, prefix_len: u8) -> u32 {
    match family {
        Family::V4 => 96 + u32::from(prefix_len),
        Family::V6 => u32::from(prefix_len),
    }
}

/// The zero padding (§3.7) that makes a request of `family` asking for
/// `protocol`, without IPv4 options, a padded one ([`padded_len`]).
#[inline(always)]
pub const fn request_padding(family: Family, protocol: u8) -> usize {
    let header = match family {
        Family::V4 => IPV4_HEADER_LEN,
        Family::V6 => IPV6_HEADER_LEN,
    };
    padded_len(family, protocol) - header - REQUEST_LEN
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `repr(C)` structs of integers and octet arrays with
    // explicit padding fields: every bit pattern is valid.
    unsafe impl aya::Pod for super::Policy {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Bucket {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SourceState {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_its_burst_then_its_rate() {
        let rate = Rate::new(100, 5).expect("valid rate");
        let mut bucket = Bucket::first(&rate, 0);
        let admitted = (0..10).filter(|_| bucket.take(&rate, 0)).count();
        assert_eq!(admitted, 4, "the first request plus four more of the burst");
        // 10 ms at 100/s refill exactly one request.
        assert!(bucket.take(&rate, 10_000_000));
        assert!(!bucket.take(&rate, 10_000_000));
        // A long idle time refills to the burst, never more.
        let admitted = (0..10).filter(|_| bucket.take(&rate, u64::MAX / 2)).count();
        assert_eq!(admitted, 5);
    }

    #[test]
    fn rates_out_of_range_are_refused() {
        for (per_second, burst) in [(0, 1), (1, 0), (RATE_MAX + 1, 1), (1, RATE_MAX + 1)] {
            assert_eq!(Rate::new(per_second, burst), None, "{per_second}/{burst}");
        }
        assert!(Rate::new(RATE_MAX, RATE_MAX).is_some());
    }

    #[test]
    fn prefix_keys_keep_24_and_48_bits() {
        let v4 = core::net::Ipv4Addr::new(192, 0, 2, 77)
            .to_ipv6_mapped()
            .octets();
        let expected = core::net::Ipv4Addr::new(192, 0, 2, 0)
            .to_ipv6_mapped()
            .octets();
        assert_eq!(prefix_key(Family::V4, v4), expected);
        let v6 = core::net::Ipv6Addr::new(0x2001, 0xdb8, 7, 8, 9, 10, 11, 12).octets();
        let expected = core::net::Ipv6Addr::new(0x2001, 0xdb8, 7, 0, 0, 0, 0, 0).octets();
        assert_eq!(prefix_key(Family::V6, v6), expected);
    }

    #[test]
    fn a_new_bucket_starts_with_a_quarter_second_not_its_burst() {
        // 400/s: 100 requests of refill plus the one that created it.
        let rate = Rate::new(400, 1000).expect("valid rate");
        let mut bucket = Bucket::first(&rate, 0);
        assert_eq!((0..1000).filter(|_| bucket.take(&rate, 0)).count(), 100);
        // 10/s: the first request and two more; a burst below the quarter
        // second's refill caps it.
        let rate = Rate::new(10, 10).expect("valid rate");
        let mut bucket = Bucket::first(&rate, 0);
        assert_eq!((0..10).filter(|_| bucket.take(&rate, 0)).count(), 2);
        let rate = Rate::new(1000, 3).expect("valid rate");
        let mut bucket = Bucket::first(&rate, 0);
        assert_eq!((0..10).filter(|_| bucket.take(&rate, 0)).count(), 2);
    }

    #[test]
    fn padded_lengths_cover_probe_response_and_reset() {
        // IPv4: 36-octet probe + 56-octet response (+ 44 − 36 for the
        // longer TCP probe, + a 40-octet RST).
        assert_eq!(padded_len(Family::V4, 17), 92);
        assert_eq!(padded_len(Family::V4, 1), 92);
        assert_eq!(padded_len(Family::V4, 6), 140);
        assert_eq!(padded_len(Family::V6, 58), 132);
        assert_eq!(padded_len(Family::V6, 6), 200);
        assert_eq!(request_padding(Family::V4, 17), 60);
        assert_eq!(request_padding(Family::V6, 6), 148);
        assert!(request_padding(Family::V6, 6) <= crate::request::REQUEST_MAX_PADDING);
    }

    #[test]
    fn ipv6_sources_are_keyed_by_their_64() {
        let v6 = core::net::Ipv6Addr::new(0x2001, 0xdb8, 7, 8, 9, 10, 11, 12).octets();
        let expected = core::net::Ipv6Addr::new(0x2001, 0xdb8, 7, 8, 0, 0, 0, 0).octets();
        assert_eq!(source_key(Family::V6, v6), expected);
        let v4 = core::net::Ipv4Addr::new(192, 0, 2, 77)
            .to_ipv6_mapped()
            .octets();
        assert_eq!(source_key(Family::V4, v4), v4);
    }

    #[test]
    fn the_zero_policy_offers_everything() {
        let policy = Policy::default();
        for protocol in [ProbeProtocol::Icmp, ProbeProtocol::Udp, ProbeProtocol::Tcp] {
            assert!(policy.offers(protocol));
            let refusing = Policy {
                refused_protocols: protocol_bit(protocol),
                ..policy
            };
            assert!(!refusing.offers(protocol));
        }
    }
}
