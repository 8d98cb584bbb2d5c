//! ICMP and ICMPv6 messages: the 8-octet header both share.

use super::bytes::{octet, require, word};
use crate::constants::ECHO_HEADER_LEN;
use crate::error::Result;

/// Octets of the header (type, code, checksum and four more: an echo's
/// identifier and sequence, an error's unused or pointer octets).
pub const HEADER_LEN: usize = ECHO_HEADER_LEN;

/// Where the header's fields lie.
pub mod field {
    use super::super::bytes::Field;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// An echo's identifier.
    pub const IDENTIFIER: Field = 4..6;
    /// An echo's sequence.
    pub const SEQUENCE: Field = 6..8;
    /// Where the body begins: an error's quote, an echo's data.
    pub const BODY: usize = 8;
}

/// An ICMP or ICMPv6 message (at least the 8-octet header).
#[derive(Debug, Clone, Copy)]
pub struct IcmpMessage<'a>(&'a [u8]);

impl<'a> IcmpMessage<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        require(bytes, HEADER_LEN)?;
        Ok(Self(bytes))
    }

    pub fn icmp_type(&self) -> u8 {
        octet(self.0, field::TYPE)
    }

    pub fn code(&self) -> u8 {
        octet(self.0, field::CODE)
    }

    pub fn checksum(&self) -> u16 {
        word(self.0, field::CHECKSUM)
    }

    /// Echo identifier (octets 4–5).
    pub fn identifier(&self) -> u16 {
        word(self.0, field::IDENTIFIER)
    }

    /// Echo sequence (octets 6–7).
    pub fn sequence(&self) -> u16 {
        word(self.0, field::SEQUENCE)
    }

    /// The octets after the 8-octet header (an error's quote, an echo's data).
    pub fn body(&self) -> &'a [u8] {
        self.0.get(field::BODY..).unwrap_or_default()
    }

    /// The whole message.
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
}
