//! Address families and the 16-octet address form of responses (§7.4).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::constants::{
    ICMP_DESTINATION_UNREACHABLE, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_TIME_EXCEEDED,
    ICMPV6_DESTINATION_UNREACHABLE, ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, ICMPV6_TIME_EXCEEDED,
    PROTOCOL_ICMP, PROTOCOL_ICMPV6,
};
use crate::error::{Error, Result};

/// IPv4/ICMP or IPv6/ICMPv6: every code point that differs between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Family {
    V4 = 4,
    V6 = 6,
}

impl Family {
    /// The family of an address.
    #[inline(always)]
    pub fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }

    /// IP protocol number of the family's ICMP (1 or 58).
    #[inline(always)]
    pub fn icmp_protocol(self) -> u8 {
        match self {
            Self::V4 => PROTOCOL_ICMP,
            Self::V6 => PROTOCOL_ICMPV6,
        }
    }

    /// Echo Request type (8 or 128).
    #[inline(always)]
    pub fn echo_request(self) -> u8 {
        match self {
            Self::V4 => ICMP_ECHO_REQUEST,
            Self::V6 => ICMPV6_ECHO_REQUEST,
        }
    }

    /// Echo Reply type (0 or 129).
    #[inline(always)]
    pub fn echo_reply(self) -> u8 {
        match self {
            Self::V4 => ICMP_ECHO_REPLY,
            Self::V6 => ICMPV6_ECHO_REPLY,
        }
    }

    /// Time Exceeded type (11 or 3).
    #[inline(always)]
    pub fn time_exceeded(self) -> u8 {
        match self {
            Self::V4 => ICMP_TIME_EXCEEDED,
            Self::V6 => ICMPV6_TIME_EXCEEDED,
        }
    }

    /// Destination Unreachable type (3 or 1).
    #[inline(always)]
    pub fn destination_unreachable(self) -> u8 {
        match self {
            Self::V4 => ICMP_DESTINATION_UNREACHABLE,
            Self::V6 => ICMPV6_DESTINATION_UNREACHABLE,
        }
    }
}

/// The 16-octet form of an address: IPv6 as is, IPv4 as `::ffff:a.b.c.d`.
#[inline(always)]
pub fn to_mapped(address: IpAddr) -> [u8; 16] {
    match address {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The address of `family` in a 16-octet field; for IPv4 the field must be
/// IPv4-mapped.
#[inline(always)]
pub fn from_mapped(family: Family, octets: [u8; 16]) -> Result<IpAddr> {
    let v6 = Ipv6Addr::from(octets);
    match family {
        Family::V6 => Ok(IpAddr::V6(v6)),
        Family::V4 => v6.to_ipv4_mapped().map(IpAddr::V4).ok_or(Error::NotMapped),
    }
}

/// The address of `family` from its wire octets (4 or 16 used).
#[inline(always)]
pub(crate) fn address_at(family: Family, bytes: &[u8], at: usize) -> Result<IpAddr> {
    match family {
        Family::V4 => crate::error::read::<4>(bytes, at).map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        Family::V6 => crate::error::read::<16>(bytes, at).map(|o| IpAddr::V6(Ipv6Addr::from(o))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_and_unmaps_ipv4() {
        let address = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
        let octets = to_mapped(address);
        assert_eq!(
            octets,
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 7]
        );
        assert_eq!(from_mapped(Family::V4, octets), Ok(address));
    }

    #[test]
    fn refuses_unmapped_ipv4() {
        let octets = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).octets();
        assert_eq!(from_mapped(Family::V4, octets), Err(Error::NotMapped));
        assert_eq!(
            from_mapped(Family::V6, octets),
            Ok(IpAddr::V6(Ipv6Addr::from(octets)))
        );
    }
}
