//! IPv4 packets.

use core::net::Ipv4Addr;

use super::bytes::{array, octet, require, word};
use crate::constants::IPV4_HEADER_LEN;
use crate::error::{Error, Result};
use crate::ip::Ipv4Header;

/// Octets of an IPv4 header without options.
pub const HEADER_LEN: usize = IPV4_HEADER_LEN;
/// The "more fragments" flag and the fragment offset in
/// [`field::FLAGS_FRAGMENT`]: a packet is a fragment if any is set.
pub const FRAGMENTED: u16 = 0x3FFF;

/// Where the header's fields lie.
pub mod field {
    use super::super::bytes::Field;

    /// Version (high nibble) and IHL in 32-bit words (low nibble).
    pub const VERSION_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LENGTH: Field = 2..4;
    pub const IDENTIFICATION: Field = 4..6;
    /// Flags (3 bits) and fragment offset (13 bits).
    pub const FLAGS_FRAGMENT: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SOURCE: Field = 12..16;
    pub const DESTINATION: Field = 16..20;
}

/// An IPv4 packet, cut to its Total Length.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<'a>(&'a [u8]);

impl<'a> Ipv4Packet<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        require(bytes, HEADER_LEN)?;
        let first = octet(bytes, field::VERSION_IHL);
        if first >> 4 != 4 {
            return Err(Error::IpVersion(first >> 4));
        }
        let header_len = usize::from(first & 0x0F) * 4;
        if header_len < HEADER_LEN {
            return Err(Error::HeaderLength(first & 0x0F));
        }
        let total = usize::from(word(bytes, field::TOTAL_LENGTH));
        if total < header_len {
            return Err(Error::IpLength(total));
        }
        let packet = bytes.get(..total).ok_or(Error::Truncated {
            need: total,
            have: bytes.len(),
        })?;
        Ok(Self(packet))
    }

    pub fn header_len(&self) -> usize {
        usize::from(octet(self.0, field::VERSION_IHL) & 0x0F) * 4
    }

    pub fn tos(&self) -> u8 {
        octet(self.0, field::TOS)
    }

    pub fn total_length(&self) -> u16 {
        word(self.0, field::TOTAL_LENGTH)
    }

    pub fn identification(&self) -> u16 {
        word(self.0, field::IDENTIFICATION)
    }

    pub fn flags_fragment(&self) -> u16 {
        word(self.0, field::FLAGS_FRAGMENT)
    }

    pub fn ttl(&self) -> u8 {
        octet(self.0, field::TTL)
    }

    pub fn protocol(&self) -> u8 {
        octet(self.0, field::PROTOCOL)
    }

    pub fn header_checksum(&self) -> u16 {
        word(self.0, field::CHECKSUM)
    }

    pub fn source(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.0, field::SOURCE))
    }

    pub fn destination(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.0, field::DESTINATION))
    }

    /// The header octets, options included.
    pub fn header(&self) -> &'a [u8] {
        self.0.get(..self.header_len()).unwrap_or_default()
    }

    /// The payload, without link-layer padding.
    pub fn payload(&self) -> &'a [u8] {
        self.0.get(self.header_len()..).unwrap_or_default()
    }

    /// The header fields a message rewritten from this packet inherits,
    /// addressed back to its source (§3.4, §7.6).
    pub fn reply_header(&self) -> Ipv4Header {
        Ipv4Header {
            source: self.destination(),
            destination: self.source(),
            tos: self.tos(),
            identification: self.identification(),
            flags_fragment: self.flags_fragment(),
        }
    }
}
