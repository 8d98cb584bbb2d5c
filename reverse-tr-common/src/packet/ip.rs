//! An IP packet of either family, told apart by its version nibble.

use core::net::IpAddr;

use super::ipv4::Ipv4Packet;
use super::ipv6::Ipv6Packet;
use crate::address::Family;
use crate::error::{Error, Result, read};
use crate::ip::IpHeader;

/// An IP packet of either family.
#[derive(Debug, Clone, Copy)]
pub enum IpPacket<'a> {
    V4(Ipv4Packet<'a>),
    V6(Ipv6Packet<'a>),
}

impl<'a> IpPacket<'a> {
    /// Parses by the version nibble.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        let first = read::<1>(bytes, 0)?[0];
        match first >> 4 {
            4 => Ipv4Packet::new(bytes).map(Self::V4),
            6 => Ipv6Packet::new(bytes).map(Self::V6),
            other => Err(Error::IpVersion(other)),
        }
    }

    pub fn family(&self) -> Family {
        match self {
            Self::V4(_) => Family::V4,
            Self::V6(_) => Family::V6,
        }
    }

    pub fn source(&self) -> IpAddr {
        match self {
            Self::V4(p) => IpAddr::V4(p.source()),
            Self::V6(p) => IpAddr::V6(p.source()),
        }
    }

    pub fn destination(&self) -> IpAddr {
        match self {
            Self::V4(p) => IpAddr::V4(p.destination()),
            Self::V6(p) => IpAddr::V6(p.destination()),
        }
    }

    /// Transport protocol: IPv4 Protocol or IPv6 Next Header.
    pub fn protocol(&self) -> u8 {
        match self {
            Self::V4(p) => p.protocol(),
            Self::V6(p) => p.next_header(),
        }
    }

    /// TTL or hop limit.
    pub fn ttl(&self) -> u8 {
        match self {
            Self::V4(p) => p.ttl(),
            Self::V6(p) => p.hop_limit(),
        }
    }

    pub fn payload(&self) -> &'a [u8] {
        match self {
            Self::V4(p) => p.payload(),
            Self::V6(p) => p.payload(),
        }
    }

    /// See [`Ipv4Packet::reply_header`].
    pub fn reply_header(&self) -> IpHeader {
        match self {
            Self::V4(p) => IpHeader::V4(p.reply_header()),
            Self::V6(p) => IpHeader::V6(p.reply_header()),
        }
    }
}
