//! Zero-copy views over Ethernet, IPv4, IPv6, ICMP, UDP and TCP headers.
//!
//! Each view checks on construction that its fixed header is present, so
//! accessors cannot fail. IP payloads are bounded by the IP length fields,
//! not by the end of the frame: Ethernet pads short frames (§3.5, Q-7).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::address::Family;
use crate::constants::{ECHO_HEADER_LEN, IPV4_HEADER_LEN, IPV6_HEADER_LEN, PROTOCOL_TCP};
use crate::error::{Error, Result, read};
use crate::ip::{Ipv4Header, Ipv6Header};

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// Octets of an Ethernet header.
pub const ETHERNET_HEADER_LEN: usize = 14;

/// Octet `at` of a buffer a constructor has checked to be long enough.
#[inline(always)]
fn octet(bytes: &[u8], at: usize) -> u8 {
    bytes.get(at).copied().unwrap_or_default()
}

/// Big-endian `u16` at `at` of a checked buffer.
#[inline(always)]
fn word(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([octet(bytes, at), octet(bytes, at + 1)])
}

/// Big-endian `u32` at `at` of a checked buffer.
#[inline(always)]
fn double_word(bytes: &[u8], at: usize) -> u32 {
    u32::from(word(bytes, at)) << 16 | u32::from(word(bytes, at + 2))
}

/// Fails with [`Error::Truncated`] unless `bytes` holds `need` octets.
#[inline(always)]
fn require(bytes: &[u8], need: usize) -> Result<()> {
    if bytes.len() < need {
        return Err(Error::Truncated {
            need,
            have: bytes.len(),
        });
    }
    Ok(())
}

/// An Ethernet II frame.
#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<'a>(&'a [u8]);

impl<'a> EthernetFrame<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        require(bytes, ETHERNET_HEADER_LEN)?;
        Ok(Self(bytes))
    }

    pub fn destination(&self) -> [u8; 6] {
        read::<6>(self.0, 0).unwrap_or_default()
    }

    pub fn source(&self) -> [u8; 6] {
        read::<6>(self.0, 6).unwrap_or_default()
    }

    pub fn ethertype(&self) -> u16 {
        word(self.0, 12)
    }

    /// Everything after the header, padding included.
    pub fn payload(&self) -> &'a [u8] {
        self.0.get(ETHERNET_HEADER_LEN..).unwrap_or_default()
    }

    /// The IP packet the frame carries.
    pub fn ip(&self) -> Result<IpPacket<'a>> {
        match self.ethertype() {
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => IpPacket::new(self.payload()),
            other => Err(Error::LinkProtocol(other)),
        }
    }
}

/// An IPv4 packet, cut to its Total Length.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<'a>(&'a [u8]);

impl<'a> Ipv4Packet<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        require(bytes, IPV4_HEADER_LEN)?;
        let first = octet(bytes, 0);
        if first >> 4 != 4 {
            return Err(Error::IpVersion(first >> 4));
        }
        let header_len = usize::from(first & 0x0F) * 4;
        if header_len < IPV4_HEADER_LEN {
            return Err(Error::HeaderLength(first & 0x0F));
        }
        let total = usize::from(word(bytes, 2));
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
        usize::from(octet(self.0, 0) & 0x0F) * 4
    }

    pub fn tos(&self) -> u8 {
        octet(self.0, 1)
    }

    pub fn total_length(&self) -> u16 {
        word(self.0, 2)
    }

    pub fn identification(&self) -> u16 {
        word(self.0, 4)
    }

    pub fn flags_fragment(&self) -> u16 {
        word(self.0, 6)
    }

    pub fn ttl(&self) -> u8 {
        octet(self.0, 8)
    }

    pub fn protocol(&self) -> u8 {
        octet(self.0, 9)
    }

    pub fn header_checksum(&self) -> u16 {
        word(self.0, 10)
    }

    pub fn source(&self) -> Ipv4Addr {
        Ipv4Addr::from(read::<4>(self.0, 12).unwrap_or_default())
    }

    pub fn destination(&self) -> Ipv4Addr {
        Ipv4Addr::from(read::<4>(self.0, 16).unwrap_or_default())
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

/// An IPv6 packet, cut to its Payload Length (no extension headers walked).
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<'a>(&'a [u8]);

impl<'a> Ipv6Packet<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        require(bytes, IPV6_HEADER_LEN)?;
        let version = octet(bytes, 0) >> 4;
        if version != 6 {
            return Err(Error::IpVersion(version));
        }
        let total = IPV6_HEADER_LEN + usize::from(word(bytes, 4));
        let packet = bytes.get(..total).ok_or(Error::Truncated {
            need: total,
            have: bytes.len(),
        })?;
        Ok(Self(packet))
    }

    pub fn traffic_class(&self) -> u8 {
        // Traffic class spans the low nibble of octet 0 and the high nibble of octet 1.
        ((word(self.0, 0) >> 4) & 0xFF) as u8
    }

    pub fn flow_label(&self) -> u32 {
        double_word(self.0, 0) & 0x000F_FFFF
    }

    pub fn payload_length(&self) -> u16 {
        word(self.0, 4)
    }

    pub fn next_header(&self) -> u8 {
        octet(self.0, 6)
    }

    pub fn hop_limit(&self) -> u8 {
        octet(self.0, 7)
    }

    pub fn source(&self) -> Ipv6Addr {
        Ipv6Addr::from(read::<16>(self.0, 8).unwrap_or_default())
    }

    pub fn destination(&self) -> Ipv6Addr {
        Ipv6Addr::from(read::<16>(self.0, 24).unwrap_or_default())
    }

    /// The payload, without link-layer padding.
    pub fn payload(&self) -> &'a [u8] {
        self.0.get(IPV6_HEADER_LEN..).unwrap_or_default()
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
    pub fn reply_header(&self) -> crate::ip::IpHeader {
        match self {
            Self::V4(p) => crate::ip::IpHeader::V4(p.reply_header()),
            Self::V6(p) => crate::ip::IpHeader::V6(p.reply_header()),
        }
    }
}

/// An ICMP or ICMPv6 message (at least the 8-octet header).
#[derive(Debug, Clone, Copy)]
pub struct IcmpMessage<'a>(&'a [u8]);

impl<'a> IcmpMessage<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        require(bytes, ECHO_HEADER_LEN)?;
        Ok(Self(bytes))
    }

    pub fn icmp_type(&self) -> u8 {
        octet(self.0, 0)
    }

    pub fn code(&self) -> u8 {
        octet(self.0, 1)
    }

    pub fn checksum(&self) -> u16 {
        word(self.0, 2)
    }

    /// Echo identifier (octets 4–5).
    pub fn identifier(&self) -> u16 {
        word(self.0, 4)
    }

    /// Echo sequence (octets 6–7).
    pub fn sequence(&self) -> u16 {
        word(self.0, 6)
    }

    /// The octets after the 8-octet header (an error's quote, an echo's data).
    pub fn body(&self) -> &'a [u8] {
        self.0.get(ECHO_HEADER_LEN..).unwrap_or_default()
    }

    /// The whole message.
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
}

/// A UDP datagram (at least the 8-octet header).
#[derive(Debug, Clone, Copy)]
pub struct UdpDatagram<'a>(&'a [u8]);

impl<'a> UdpDatagram<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        require(bytes, 8)?;
        Ok(Self(bytes))
    }

    pub fn source_port(&self) -> u16 {
        word(self.0, 0)
    }

    pub fn destination_port(&self) -> u16 {
        word(self.0, 2)
    }

    pub fn length(&self) -> u16 {
        word(self.0, 4)
    }

    pub fn checksum(&self) -> u16 {
        word(self.0, 6)
    }

    pub fn payload(&self) -> &'a [u8] {
        self.0.get(8..).unwrap_or_default()
    }
}

/// A TCP segment (at least the 20-octet header; data offset checked).
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a>(&'a [u8]);

impl<'a> TcpSegment<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        require(bytes, 20)?;
        let offset = octet(bytes, 12) >> 4;
        if offset < 5 {
            return Err(Error::DataOffset(offset));
        }
        require(bytes, usize::from(offset) * 4)?;
        Ok(Self(bytes))
    }

    pub fn source_port(&self) -> u16 {
        word(self.0, 0)
    }

    pub fn destination_port(&self) -> u16 {
        word(self.0, 2)
    }

    pub fn sequence(&self) -> u32 {
        double_word(self.0, 4)
    }

    pub fn acknowledgement(&self) -> u32 {
        double_word(self.0, 8)
    }

    /// Header length in octets.
    pub fn header_len(&self) -> usize {
        usize::from(octet(self.0, 12) >> 4) * 4
    }

    pub fn flags(&self) -> u8 {
        octet(self.0, 13)
    }

    pub fn window(&self) -> u16 {
        word(self.0, 14)
    }

    pub fn checksum(&self) -> u16 {
        word(self.0, 16)
    }

    /// Options octets between the fixed header and the data.
    pub fn options(&self) -> &'a [u8] {
        self.0.get(20..self.header_len()).unwrap_or_default()
    }
}

/// An answer to a server probe (§6): the hop that sent it and the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The answer's outer source address, reported to the client.
    pub hop: IpAddr,
    pub probe: crate::answer::ProbeMatch,
}

/// Recognises an answer to a server probe in an IP packet (§4.2, §6):
/// quoting ICMP errors, Echo Replies, TCP RST or SYN+ACK.
pub fn match_answer(packet: &IpPacket<'_>) -> Option<Answer> {
    let family = packet.family();
    let hop = packet.source();
    let probe = match packet.protocol() {
        PROTOCOL_TCP => crate::answer::match_tcp(hop, packet.payload())?,
        p if p == family.icmp_protocol() => {
            let icmp = IcmpMessage::new(packet.payload()).ok()?;
            if crate::answer::is_quoting_error(family, icmp.icmp_type(), icmp.code()) {
                crate::answer::match_quoted(family, icmp.body())?
            } else {
                crate::answer::match_echo_reply(family, hop, icmp.bytes())?
            }
        }
        _ => return None,
    };
    Some(Answer { hop, probe })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal Ethernet frame padded to 60 octets around a 32-octet
    /// request whose IP total length says 32.
    fn padded_request() -> [u8; 60] {
        let mut frame = [0xEE; 60];
        frame[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let ip = [
            0x45, 0, 0, 32, 0, 1, 0, 0, 64, 1, 0, 0, 10, 0, 1, 100, 10, 0, 7, 200, 8, 1, 0, 0, 0,
            1, 0, 0, 5, 17, 4, 210,
        ];
        frame[14..46].copy_from_slice(&ip);
        frame
    }

    #[test]
    fn payload_is_bounded_by_ip_length_not_frame() {
        let frame = padded_request();
        let ip = EthernetFrame::new(&frame)
            .expect("frame")
            .ip()
            .expect("IPv4");
        assert_eq!(
            ip.payload().len(),
            12,
            "Ethernet padding is not payload (Q-7)"
        );
    }

    #[test]
    fn short_request_in_padded_frame_is_truncated() {
        let mut frame = padded_request();
        // Total length 30: two octets of the request header are missing.
        frame[17] = 30;
        let ip = EthernetFrame::new(&frame)
            .expect("frame")
            .ip()
            .expect("IPv4");
        let request = crate::request::Request::decode(Family::V4, ip.payload());
        assert_eq!(request, Err(Error::Truncated { need: 12, have: 10 }));
    }

    #[test]
    fn malformed_ip_headers() {
        let frame = padded_request();
        let ip = &frame[14..46];
        let with = |at: usize, value: u8| {
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(ip);
            bytes[at] = value;
            bytes
        };
        // (bytes, error)
        let cases = [
            (with(0, 0x44), Error::HeaderLength(4)),
            (with(0, 0x55), Error::IpVersion(5)),
            (with(3, 19), Error::IpLength(19)),
            (with(3, 33), Error::Truncated { need: 33, have: 32 }),
        ];
        for (bytes, error) in cases {
            assert_eq!(IpPacket::new(&bytes).map(|_| ()), Err(error));
        }
        assert_eq!(
            IpPacket::new(&[0x60; 39]).map(|_| ()),
            Err(Error::Truncated { need: 40, have: 39 })
        );
        let arp = {
            let mut f = frame;
            f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
            f
        };
        assert_eq!(
            EthernetFrame::new(&arp).expect("frame").ip().map(|_| ()),
            Err(Error::LinkProtocol(0x0806))
        );
    }

    #[test]
    fn ipv6_fields() {
        let mut bytes = [0u8; 48];
        bytes[..4].copy_from_slice(&[0x6A, 0xB1, 0x23, 0x45]);
        bytes[5] = 8;
        bytes[6] = 17;
        bytes[7] = 9;
        let IpPacket::V6(ip) = IpPacket::new(&bytes).expect("IPv6") else {
            panic!("IPv6 expected")
        };
        assert_eq!(
            (
                ip.traffic_class(),
                ip.flow_label(),
                ip.next_header(),
                ip.hop_limit()
            ),
            (0xAB, 0x12345, 17, 9)
        );
        let header = ip.reply_header();
        assert_eq!((header.traffic_class, header.flow_label), (0xAB, 0x12345));
    }
}
