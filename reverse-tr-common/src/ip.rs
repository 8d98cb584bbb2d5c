//! Writing IP headers of the messages we build (probes §5.1, responses
//! §7.6, requests §11.5.1).
//!
//! An [`IpHeader`] holds what a message takes from elsewhere — addresses and
//! the fields inherited from the packet it is rewritten from (§3.4, Q-14);
//! TTL, protocol and length are given per message.

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::address::Family;
use crate::checksum::{Writer, pseudo_header_v4, pseudo_header_v6};
use crate::constants::{IPV4_HEADER_LEN, IPV6_HEADER_LEN, PROTOCOL_ICMP};

/// Largest IP header we write.
pub const IP_HEADER_MAX_LEN: usize = IPV6_HEADER_LEN;

/// IPv4 header fields taken from elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Header {
    pub source: Ipv4Addr,
    pub destination: Ipv4Addr,
    /// Type of service, inherited.
    pub tos: u8,
    /// Identification, inherited.
    pub identification: u16,
    /// Flags and fragment offset, inherited.
    pub flags_fragment: u16,
}

/// IPv6 header fields taken from elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Header {
    pub source: Ipv6Addr,
    pub destination: Ipv6Addr,
    /// Traffic class, inherited.
    pub traffic_class: u8,
    /// Flow label (low 20 bits), inherited.
    pub flow_label: u32,
}

/// The IP header template of a message of either family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpHeader {
    V4(Ipv4Header),
    V6(Ipv6Header),
}

impl IpHeader {
    /// The family of the header.
    #[inline(always)]
    pub fn family(&self) -> Family {
        match self {
            Self::V4(_) => Family::V4,
            Self::V6(_) => Family::V6,
        }
    }

    /// Octets the written header takes (20 or 40).
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        match self {
            Self::V4(_) => IPV4_HEADER_LEN,
            Self::V6(_) => IPV6_HEADER_LEN,
        }
    }

    /// Sum of the pseudo-header an upper-layer message of `protocol` and
    /// `length` octets is checksummed with; IPv4 ICMP has none (0).
    #[inline(always)]
    pub fn pseudo_header_sum(&self, protocol: u8, length: u16) -> u32 {
        match self {
            Self::V4(_) if protocol == PROTOCOL_ICMP => 0,
            Self::V4(h) => pseudo_header_v4(
                &h.source.octets(),
                &h.destination.octets(),
                protocol,
                length,
            ),
            Self::V6(h) => pseudo_header_v6(
                &h.source.octets(),
                &h.destination.octets(),
                u32::from(length),
                protocol,
            ),
        }
    }

    /// Writes the header into `out` (IPv4 with a valid header checksum) and
    /// returns its length.
    #[inline(always)]
    pub fn write(
        &self,
        out: &mut [u8; IP_HEADER_MAX_LEN],
        protocol: u8,
        ttl: u8,
        payload_len: u16,
    ) -> usize {
        match self {
            Self::V4(h) => {
                let Some(header) = out.first_chunk_mut::<IPV4_HEADER_LEN>() else {
                    return 0;
                };
                let total = payload_len.wrapping_add(IPV4_HEADER_LEN as u16);
                let mut header = Writer::new(header, 0);
                header.octets(0, 0x45, h.tos);
                header.u16(2, total);
                header.u16(4, h.identification);
                header.u16(6, h.flags_fragment);
                header.octets(8, ttl, protocol);
                header.u32(12, h.source.to_bits());
                header.u32(16, h.destination.to_bits());
                header.seal(10);
                IPV4_HEADER_LEN
            }
            Self::V6(h) => {
                let word =
                    0x6000_0000 | (u32::from(h.traffic_class) << 20) | (h.flow_label & 0x000F_FFFF);
                out[0..4].copy_from_slice(&word.to_be_bytes());
                out[4..6].copy_from_slice(&payload_len.to_be_bytes());
                out[6] = protocol;
                out[7] = ttl;
                out[8..24].copy_from_slice(&h.source.octets());
                out[24..40].copy_from_slice(&h.destination.octets());
                IPV6_HEADER_LEN
            }
        }
    }

    /// The message area of a packet buffer: the `M` octets after this
    /// header. Builders write the message there in place, then call
    /// [`Self::finish`]; no intermediate buffers, so the eBPF stack holds
    /// only `out`.
    #[inline(always)]
    pub(crate) fn message_area<'a, const M: usize, const O: usize>(
        &self,
        out: &'a mut [u8; O],
    ) -> Option<&'a mut [u8; M]> {
        const {
            assert!(
                O >= IP_HEADER_MAX_LEN + M,
                "output holds an IPv6 header and the message"
            )
        };
        out.get_mut(self.header_len()..)?.first_chunk_mut::<M>()
    }

    /// Writes the header in front of a message of `message_len` octets
    /// written by [`Self::message_area`]; returns the packet length.
    #[inline(always)]
    pub(crate) fn finish<const O: usize>(
        &self,
        out: &mut [u8; O],
        protocol: u8,
        ttl: u8,
        message_len: usize,
    ) -> usize {
        let Some(header) = out.first_chunk_mut::<IP_HEADER_MAX_LEN>() else {
            return 0;
        };
        // Messages are at most 128 octets (checksummed arrays). The header
        // ends where the message area starts, so it leaves the message intact.
        self.write(header, protocol, ttl, message_len as u16) + message_len
    }
}
