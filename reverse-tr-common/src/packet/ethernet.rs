//! Ethernet II frames.

use super::bytes::{array, require, word};
use super::ip::IpPacket;
use crate::error::{Error, Result};

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// Octets of an Ethernet header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// Where the header's fields lie.
pub mod field {
    use super::super::bytes::Field;

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    /// Where the payload begins.
    pub const PAYLOAD: usize = 14;
}

/// An Ethernet II frame.
#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<'a>(&'a [u8]);

impl<'a> EthernetFrame<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        require(bytes, HEADER_LEN)?;
        Ok(Self(bytes))
    }

    pub fn destination(&self) -> [u8; 6] {
        array(self.0, field::DESTINATION)
    }

    pub fn source(&self) -> [u8; 6] {
        array(self.0, field::SOURCE)
    }

    pub fn ethertype(&self) -> u16 {
        word(self.0, field::ETHERTYPE)
    }

    /// Everything after the header, padding included.
    pub fn payload(&self) -> &'a [u8] {
        self.0.get(field::PAYLOAD..).unwrap_or_default()
    }

    /// The IP packet the frame carries.
    pub fn ip(&self) -> Result<IpPacket<'a>> {
        match self.ethertype() {
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => IpPacket::new(self.payload()),
            other => Err(Error::LinkProtocol(other)),
        }
    }
}
