//! Which source addresses can be a requester (§10.2): a request from an
//! address that can never have sent it, or never receive its probe and
//! response, is forged, and serving it would only send traffic somewhere
//! it was not asked for. The check is built in; private and unique-local
//! sources are served unless the operator refuses them (intranets and the
//! lab use them).
//!
//! Addresses are in the 16-octet form (IPv4 mapped, `::ffff:a.b.c.d`).
//! Link-local sources are served: their probes and responses cannot leave
//! the link. Documentation ranges are served too (tests use them).

use crate::address::Family;

/// Why a source cannot be a requester.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `240.0.0.0/4` (with the broadcast address), and IPv6 outside the
    /// ranges assigned for unicast (`2000::/3`, `fc00::/7`, `fe80::/10`).
    Reserved,
    /// IPv6 forms that embed an IPv4 address, behind which any IPv4 host
    /// can hide: `::ffff:0:0/96` (mapped), `::/96` (compatible),
    /// `64:ff9b::/96` and `64:ff9b:1::/48` (NAT64), `2002::/16` (6to4),
    /// `2001::/32` (Teredo). All but the last two lie in `::/8`.
    Embedded,
    /// Private or shared: `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`,
    /// `100.64.0.0/10`, `fc00::/7`; refused only on request.
    Private,
}

/// Why `source` (16 octets) of a `family` packet cannot be a requester,
/// if it cannot; `refuse_private` adds [`Refusal::Private`]. An IPv6
/// packet from an IPv4-mapped address is [`Refusal::Embedded`].
#[inline(always)]
pub fn refusal(family: Family, source: &[u8; 16], refuse_private: bool) -> Option<Refusal> {
    let refusal = match family {
        Family::V4 => v4(source[12], source[13]),
        Family::V6 => v6(source),
    }?;
    (refusal != Refusal::Private || refuse_private).then_some(refusal)
}

/// An IPv4 source by its first two octets.
#[inline(always)]
fn v4(first: u8, second: u8) -> Option<Refusal> {
    Some(match first {
        0 => Refusal::Unspecified,
        127 => Refusal::Loopback,
        224..=239 => Refusal::Multicast,
        240..=255 => Refusal::Reserved,
        10 => Refusal::Private,
        100 if second & 0xC0 == 64 => Refusal::Private,
        172 if second & 0xF0 == 16 => Refusal::Private,
        192 if second == 168 => Refusal::Private,
        _ => return None,
    })
}

/// An IPv6 source that is not IPv4-mapped.
#[inline(always)]
fn v6(source: &[u8; 16]) -> Option<Refusal> {
    let first = source[0];
    if first == 0 {
        // `::/8`: only special forms live here.
        let zero_to_14 = source[..15].iter().all(|octet| *octet == 0);
        return Some(match source[15] {
            0 if zero_to_14 => Refusal::Unspecified,
            1 if zero_to_14 => Refusal::Loopback,
            _ => Refusal::Embedded,
        });
    }
    match first {
        0xFF => Some(Refusal::Multicast),
        0x20 if source[1] == 0x02 => Some(Refusal::Embedded),
        0x20 if source[1] == 0x01 && source[2] == 0 && source[3] == 0 => Some(Refusal::Embedded),
        0x20..=0x3F => None,
        0xFC | 0xFD => Some(Refusal::Private),
        0xFE if source[1] & 0xC0 == 0x80 => None,
        _ => Some(Refusal::Reserved),
    }
}

#[cfg(test)]
mod tests {
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::to_mapped;

    fn check(address: &str, refuse_private: bool) -> Option<Refusal> {
        let address: IpAddr = address.parse().expect("an address");
        refusal(Family::of(address), &to_mapped(address), refuse_private)
    }

    #[test]
    fn sources_that_can_never_request_are_refused() {
        use Refusal::*;
        let cases = [
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("127.0.0.1", Some(Loopback)),
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.255", Some(Multicast)),
            ("240.0.0.1", Some(Reserved)),
            ("255.255.255.255", Some(Reserved)),
            ("192.0.2.10", None),
            ("8.8.8.8", None),
            ("169.254.1.1", None),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            ("172.15.0.1", None),
            ("172.32.0.1", None),
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            ("::2", Some(Embedded)),
            ("::192.0.2.1", Some(Embedded)),
            ("::ffff:0:192.0.2.1", Some(Embedded)),
            ("64:ff9b::c000:201", Some(Embedded)),
            ("64:ff9b:1::1", Some(Embedded)),
            ("2002:c000:201::1", Some(Embedded)),
            ("2001:0:4136:e378::1", Some(Embedded)),
            ("2001:db8::10", None),
            ("2001:4860::1", None),
            ("3fff::1", None),
            ("fe80::1", None),
            ("fec0::1", Some(Reserved)),
            ("ff02::1", Some(Multicast)),
            ("100::1", Some(Reserved)),
            ("4000::1", Some(Reserved)),
        ];
        for (address, expected) in cases {
            assert_eq!(check(address, false), expected, "{address}");
            assert_eq!(check(address, true), expected, "{address} refusing private");
        }
    }

    #[test]
    fn private_sources_are_served_unless_refused() {
        for address in [
            "10.0.1.100",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "fd00::100",
            "fc00::1",
        ] {
            assert_eq!(check(address, false), None, "{address}");
            assert_eq!(check(address, true), Some(Refusal::Private), "{address}");
        }
        // An IPv6 packet from an IPv4-mapped address hides an IPv4 host.
        let mapped = Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped().octets();
        assert_eq!(refusal(Family::V6, &mapped, false), Some(Refusal::Embedded));
        assert_eq!(refusal(Family::V4, &mapped, false), None);
        let unspecified = Ipv6Addr::UNSPECIFIED.octets();
        assert_eq!(
            refusal(Family::V6, &unspecified, false),
            Some(Refusal::Unspecified)
        );
    }
}
