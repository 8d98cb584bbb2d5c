//! UDP datagrams.

use super::bytes::{require, word};
use crate::error::Result;

/// Octets of a UDP header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// Where the header's fields lie.
pub mod field {
    use super::super::bytes::Field;

    pub const SOURCE_PORT: Field = 0..2;
    pub const DESTINATION_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
    /// Where the payload begins.
    pub const PAYLOAD: usize = 8;
}

/// A UDP datagram (at least the 8-octet header).
#[derive(Debug, Clone, Copy)]
pub struct UdpDatagram<'a>(&'a [u8]);

impl<'a> UdpDatagram<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        require(bytes, HEADER_LEN)?;
        Ok(Self(bytes))
    }

    pub fn source_port(&self) -> u16 {
        word(self.0, field::SOURCE_PORT)
    }

    pub fn destination_port(&self) -> u16 {
        word(self.0, field::DESTINATION_PORT)
    }

    pub fn length(&self) -> u16 {
        word(self.0, field::LENGTH)
    }

    pub fn checksum(&self) -> u16 {
        word(self.0, field::CHECKSUM)
    }

    pub fn payload(&self) -> &'a [u8] {
        self.0.get(field::PAYLOAD..).unwrap_or_default()
    }
}
