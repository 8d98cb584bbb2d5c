//! IPv6 packets (no extension headers walked).

use core::net::Ipv6Addr;

use super::bytes::{array, double_word, octet, require, word};
use crate::constants::IPV6_HEADER_LEN;
use crate::error::{Error, Result};
use crate::ip::Ipv6Header;

/// Octets of an IPv6 header.
pub const HEADER_LEN: usize = IPV6_HEADER_LEN;
/// The flow label's bits in [`field::VERSION_CLASS_FLOW`].
pub const FLOW_LABEL: u32 = 0x000F_FFFF;
/// Where the traffic class lies in [`field::VERSION_CLASS_FLOW`]: shifted
/// right by this, its low 8 bits.
pub const TRAFFIC_CLASS_SHIFT: u32 = 20;

/// Where the header's fields lie.
pub mod field {
    use super::super::bytes::Field;

    /// Version (4 bits), traffic class (8 bits), flow label (20 bits).
    pub const VERSION_CLASS_FLOW: Field = 0..4;
    /// Version in its high nibble.
    pub const VERSION: usize = 0;
    pub const PAYLOAD_LENGTH: Field = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SOURCE: Field = 8..24;
    pub const DESTINATION: Field = 24..40;
}

/// An IPv6 packet, cut to its Payload Length (no extension headers walked).
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<'a>(&'a [u8]);

impl<'a> Ipv6Packet<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        require(bytes, HEADER_LEN)?;
        let version = octet(bytes, field::VERSION) >> 4;
        if version != 6 {
            return Err(Error::IpVersion(version));
        }
        let total = HEADER_LEN + usize::from(word(bytes, field::PAYLOAD_LENGTH));
        let packet = bytes.get(..total).ok_or(Error::Truncated {
            need: total,
            have: bytes.len(),
        })?;
        Ok(Self(packet))
    }

    pub fn traffic_class(&self) -> u8 {
        // Traffic class spans the low nibble of octet 0 and the high nibble of octet 1.
        ((double_word(self.0, field::VERSION_CLASS_FLOW) >> TRAFFIC_CLASS_SHIFT) & 0xFF) as u8
    }

    pub fn flow_label(&self) -> u32 {
        double_word(self.0, field::VERSION_CLASS_FLOW) & FLOW_LABEL
    }

    pub fn payload_length(&self) -> u16 {
        word(self.0, field::PAYLOAD_LENGTH)
    }

    pub fn next_header(&self) -> u8 {
        octet(self.0, field::NEXT_HEADER)
    }

    pub fn hop_limit(&self) -> u8 {
        octet(self.0, field::HOP_LIMIT)
    }

    pub fn source(&self) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(self.0, field::SOURCE))
    }

    pub fn destination(&self) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(self.0, field::DESTINATION))
    }

    /// The payload, without link-layer padding.
    pub fn payload(&self) -> &'a [u8] {
        self.0.get(HEADER_LEN..).unwrap_or_default()
    }

    /// The header fields a message rewritten from this packet inherits,
    /// addressed back to its source (§3.4, §7.6).
    pub fn reply_header(&self) -> Ipv6Header {
        Ipv6Header {
            source: self.destination(),
            destination: self.source(),
            traffic_class: self.traffic_class(),
            flow_label: self.flow_label(),
        }
    }
}
