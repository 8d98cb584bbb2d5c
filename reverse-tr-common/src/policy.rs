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
    constants::{IPV4_HEADER_LEN, IPV6_HEADER_LEN, PROBE_TCP_LEN, RESPONSE_SUCCESS_LEN},
    probe::ProbeProtocol,
};

/// Token units per request: a bucket holds `tokens / TOKEN` requests, and
/// refills by `elapsed_ns × per_second` units, so no division is needed.
pub const TOKEN: u64 = 1_000_000_000;

/// Largest rate and burst the loader accepts; keeps `burst × TOKEN` and
/// `fill_ns × per_second` far from overflowing a u64.
pub const RATE_MAX: u64 = 1_000_000;

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

    /// Whether the bucket is on.
    #[inline(always)]
    pub fn is_on(&self) -> bool {
        self.per_second != 0
    }
}

/// A token bucket's state, kept per source address and per source prefix.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bucket {
    /// Requests left, in [`TOKEN`] units.
    pub tokens: u64,
    /// Monotonic nanoseconds of the last refill.
    pub last_ns: u64,
}

impl Bucket {
    /// A new bucket at `now_ns` that has just admitted one request.
    #[inline(always)]
    pub fn first(rate: &Rate, now_ns: u64) -> Self {
        Self {
            tokens: rate.burst.saturating_sub(1) * TOKEN,
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

/// What the operator admits; all zeros admits everything, as the reference.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// Bucket per source address.
    pub source: Rate,
    /// Bucket per source prefix ([`PREFIX_BITS_V4`], [`PREFIX_BITS_V6`]).
    pub prefix: Rate,
    /// Requests whose IP packet is shorter are dropped, IPv4 then IPv6
    /// (0: off); see [`largest_caused_len`].
    pub min_request_len: [u16; 2],
    /// Bits ([`protocol_bit`]) of the probe protocols refused with state 2.
    pub refused_protocols: u8,
    /// Nonzero: only sources in the allow list are served.
    pub allow_listed_only: u8,
    /// Nonzero: the deny list has entries (an empty one is not looked up).
    pub deny_listed: u8,
    /// Always zero.
    pub padding: u8,
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
}

/// The largest packet a request of `family` can cause (§10.1): its success
/// response (§7.7), which is larger than any probe (§5.8). Requests at
/// least this long are never amplified in octets.
pub const fn largest_caused_len(family: Family) -> u16 {
    let header = match family {
        Family::V4 => IPV4_HEADER_LEN,
        Family::V6 => IPV6_HEADER_LEN,
    };
    let largest = if RESPONSE_SUCCESS_LEN > PROBE_TCP_LEN {
        RESPONSE_SUCCESS_LEN
    } else {
        PROBE_TCP_LEN
    };
    (header + largest) as u16
}

/// [`Policy::min_request_len`] of `--no-amplification`: no request is
/// shorter than anything it can cause (IPv4, IPv6).
pub const NO_AMPLIFICATION: [u16; 2] = [
    largest_caused_len(Family::V4),
    largest_caused_len(Family::V6),
];

/// The bit of `protocol` in [`Policy::refused_protocols`].
#[inline(always)]
pub fn protocol_bit(protocol: ProbeProtocol) -> u8 {
    match protocol {
        ProbeProtocol::Icmp => 1,
        ProbeProtocol::Udp => 2,
        ProbeProtocol::Tcp => 4,
    }
}

/// The key of a source's per-prefix bucket: its 16-octet (IPv4-mapped)
/// address with the host bits zeroed.
#[inline(always)]
pub fn prefix_key(family: Family, mut address: [u8; 16]) -> [u8; 16] {
    // Whole octets: /24 keeps 12 + 3 octets of a mapped address, /48 six.
    let keep = match family {
        Family::V4 => 12 + PREFIX_BITS_V4 as usize / 8,
        Family::V6 => PREFIX_BITS_V6 as usize / 8,
    };
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

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `repr(C)` structs of integers and octet arrays with
    // explicit padding fields: every bit pattern is valid.
    unsafe impl aya::Pod for super::Policy {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Bucket {}
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
    fn the_largest_caused_packet_is_the_success_response() {
        assert_eq!(largest_caused_len(Family::V4), 56);
        assert_eq!(largest_caused_len(Family::V6), 76);
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
