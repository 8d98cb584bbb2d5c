//! Helpers shared by the integration tests: reading the reference captures
//! and a verifier of every checksum of a packet (over the crate's plain
//! RFC 1071 sum, [`checksum::of`], which its unit tests check against RFC
//! 1071's worked example, not over the builders' `Writer`).

#![allow(dead_code, reason = "each test binary uses a part")]

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use reverse_tr_common::checksum;

/// The directory of the reference captures: `shared/vectors` beside the
/// repository (where CI puts it), or `REVERSE_TR_VECTORS` if set.
pub fn vectors() -> PathBuf {
    std::env::var_os("REVERSE_TR_VECTORS").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors")),
        PathBuf::from,
    )
}

/// The IP packets of a capture (link layer removed, padding kept), in order.
/// Handles Ethernet and Linux cooked captures (v1 and v2).
pub fn ip_packets(name: &str) -> Vec<Vec<u8>> {
    let path = vectors().join(name);
    let file = File::open(&path)
        .unwrap_or_else(|error| panic!("cannot open the capture {}: {error}", path.display()));
    let mut reader = PcapReader::new(file).expect("pcap header");
    let datalink = reader.header().datalink;
    let mut packets = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.expect("pcap record");
        let data = packet.data.as_ref();
        // (offset of the EtherType / protocol field, header length)
        let (protocol_at, header_len) = match datalink {
            DataLink::ETHERNET => (12, 14),
            DataLink::LINUX_SLL => (14, 16),
            DataLink::LINUX_SLL2 => (0, 20),
            other => panic!("{name}: unexpected link type {other:?}"),
        };
        let protocol = u16::from_be_bytes([data[protocol_at], data[protocol_at + 1]]);
        if protocol == 0x0800 || protocol == 0x86DD {
            packets.push(data[header_len..].to_vec());
        }
    }
    packets
}

/// Checks every checksum of an IP packet we built: the IPv4 header
/// checksum and the ICMP / UDP / TCP checksum (with pseudo-header).
pub fn assert_checksums_verify(packet: &[u8]) {
    let (header_len, protocol, source, destination, payload_len) = match packet[0] >> 4 {
        4 => {
            let header_len = usize::from(packet[0] & 0x0F) * 4;
            assert_eq!(
                checksum::of(&[&packet[..header_len]]),
                0,
                "IPv4 header checksum"
            );
            let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
            assert_eq!(total, packet.len(), "IPv4 total length");
            (
                header_len,
                packet[9],
                &packet[12..16],
                &packet[16..20],
                total - header_len,
            )
        }
        6 => {
            let payload = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
            assert_eq!(payload + 40, packet.len(), "IPv6 payload length");
            (40, packet[6], &packet[8..24], &packet[24..40], payload)
        }
        version => panic!("IP version {version}"),
    };
    let upper = &packet[header_len..];
    let length = u32::try_from(payload_len).expect("small packet");
    let pseudo: Vec<u8> = if packet[0] >> 4 == 4 {
        [
            source,
            destination,
            &[0, protocol],
            &(length as u16).to_be_bytes(),
        ]
        .concat()
    } else {
        [
            source,
            destination,
            &length.to_be_bytes(),
            &[0, 0, 0, protocol],
        ]
        .concat()
    };
    let sum = if protocol == 1 {
        checksum::of(&[upper])
    } else {
        checksum::of(&[&pseudo, upper])
    };
    assert_eq!(sum, 0, "transport checksum of protocol {protocol}");
}

/// The lab of the captures (vectors/README.md), per family.
#[derive(Debug, Clone, Copy)]
pub struct Lab {
    pub client: IpAddr,
    pub server: IpAddr,
    pub r1: IpAddr,
    pub r2a: IpAddr,
    pub r2b: IpAddr,
    pub r3: IpAddr,
    pub r4: IpAddr,
}

pub const LAB_V4: Lab = Lab {
    client: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 100)),
    server: IpAddr::V4(Ipv4Addr::new(10, 0, 7, 200)),
    r1: IpAddr::V4(Ipv4Addr::new(10, 255, 0, 1)),
    r2a: IpAddr::V4(Ipv4Addr::new(10, 255, 0, 21)),
    r2b: IpAddr::V4(Ipv4Addr::new(10, 255, 0, 22)),
    r3: IpAddr::V4(Ipv4Addr::new(10, 255, 0, 3)),
    r4: IpAddr::V4(Ipv4Addr::new(10, 255, 0, 4)),
};

pub const LAB_V6: Lab = Lab {
    client: IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 1, 0, 0, 0, 0, 0x100)),
    server: IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 7, 0, 0, 0, 0, 0x200)),
    r1: IpAddr::V6(Ipv6Addr::new(0xfd00, 0x255, 0, 0, 0, 0, 0, 1)),
    r2a: IpAddr::V6(Ipv6Addr::new(0xfd00, 0x255, 0, 0, 0, 0, 0, 0x21)),
    r2b: IpAddr::V6(Ipv6Addr::new(0xfd00, 0x255, 0, 0, 0, 0, 0, 0x22)),
    r3: IpAddr::V6(Ipv6Addr::new(0xfd00, 0x255, 0, 0, 0, 0, 0, 3)),
    r4: IpAddr::V6(Ipv6Addr::new(0xfd00, 0x255, 0, 0, 0, 0, 0, 4)),
};

impl Lab {
    /// The hops a probe from the server to the client with `ttl` can reach.
    pub fn reverse_hops(&self, ttl: u8) -> Vec<IpAddr> {
        match ttl {
            1 => vec![self.r4],
            2 => vec![self.r3],
            3 => vec![self.r2a, self.r2b],
            4 => vec![self.r1],
            _ => vec![self.client],
        }
    }

    /// The hops a probe from the client to the server with `ttl` can reach.
    pub fn forward_hops(&self, ttl: u8) -> Vec<IpAddr> {
        match ttl {
            1 => vec![self.r1],
            2 => vec![self.r2a, self.r2b],
            3 => vec![self.r3],
            4 => vec![self.r4],
            _ => vec![self.server],
        }
    }
}
