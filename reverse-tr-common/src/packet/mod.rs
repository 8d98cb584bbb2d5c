//! Zero-copy views over Ethernet, IPv4, IPv6, ICMP, UDP and TCP headers,
//! one module per protocol, each with its header's field offsets (`field`)
//! and a view checked on construction.
//!
//! Each view checks on construction that its fixed header is present, so
//! accessors cannot fail. IP payloads are bounded by the IP length fields,
//! not by the end of the frame: Ethernet pads short frames (§3.5, Q-7).
//!
//! | module | view |
//! |---|---|
//! | [`ethernet`] | [`EthernetFrame`], EtherTypes |
//! | [`ipv4`] | [`Ipv4Packet`], cut to its Total Length |
//! | [`ipv6`] | [`Ipv6Packet`], cut to its Payload Length |
//! | [`ip`] | [`IpPacket`], either family by the version nibble |
//! | [`icmp`] | [`IcmpMessage`], ICMP and ICMPv6 |
//! | [`udp`] | [`UdpDatagram`] |
//! | [`tcp`] | [`TcpSegment`], TCP flags |
//! | [`matching`] | [`match_answer`]: an answer to a server probe in an IP packet |

mod bytes;
pub mod ethernet;
pub mod icmp;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod matching;
pub mod tcp;
pub mod udp;

pub use bytes::Field;
pub use ethernet::{
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, EthernetFrame, HEADER_LEN as ETHERNET_HEADER_LEN,
};
pub use icmp::IcmpMessage;
pub use ip::IpPacket;
pub use ipv4::Ipv4Packet;
pub use ipv6::Ipv6Packet;
pub use matching::{Answer, match_answer};
pub use tcp::TcpSegment;
pub use udp::UdpDatagram;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Family;
    use crate::error::Error;

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
