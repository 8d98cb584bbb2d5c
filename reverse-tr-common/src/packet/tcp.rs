//! TCP segments.

use super::bytes::{double_word, octet, require, word};
use crate::error::{Error, Result};

/// Octets of a TCP header without options.
pub const HEADER_LEN: usize = field::OPTIONS;

/// Flag SYN in [`field::FLAGS`].
pub const SYN: u8 = 0x02;
/// Flag RST in [`field::FLAGS`].
pub const RST: u8 = 0x04;
/// Flag ACK in [`field::FLAGS`].
pub const ACK: u8 = 0x10;

/// Where the header's fields lie.
pub mod field {
    use super::super::bytes::Field;

    pub const SOURCE_PORT: Field = 0..2;
    pub const DESTINATION_PORT: Field = 2..4;
    pub const SEQUENCE: Field = 4..8;
    pub const ACKNOWLEDGEMENT: Field = 8..12;
    /// Data offset in 32-bit words (high nibble).
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
    /// Where the options begin.
    pub const OPTIONS: usize = 20;
}

/// A TCP segment (at least the 20-octet header; data offset checked).
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a>(&'a [u8]);

impl<'a> TcpSegment<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        require(bytes, HEADER_LEN)?;
        let offset = octet(bytes, field::DATA_OFFSET) >> 4;
        if offset < 5 {
            return Err(Error::DataOffset(offset));
        }
        require(bytes, usize::from(offset) * 4)?;
        Ok(Self(bytes))
    }

    pub fn source_port(&self) -> u16 {
        word(self.0, field::SOURCE_PORT)
    }

    pub fn destination_port(&self) -> u16 {
        word(self.0, field::DESTINATION_PORT)
    }

    pub fn sequence(&self) -> u32 {
        double_word(self.0, field::SEQUENCE)
    }

    pub fn acknowledgement(&self) -> u32 {
        double_word(self.0, field::ACKNOWLEDGEMENT)
    }

    /// Header length in octets.
    pub fn header_len(&self) -> usize {
        usize::from(octet(self.0, field::DATA_OFFSET) >> 4) * 4
    }

    pub fn flags(&self) -> u8 {
        octet(self.0, field::FLAGS)
    }

    pub fn window(&self) -> u16 {
        word(self.0, field::WINDOW)
    }

    pub fn checksum(&self) -> u16 {
        word(self.0, field::CHECKSUM)
    }

    /// Options octets between the fixed header and the data.
    pub fn options(&self) -> &'a [u8] {
        self.0
            .get(field::OPTIONS..self.header_len())
            .unwrap_or_default()
    }
}
