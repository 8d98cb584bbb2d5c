//! Frames for running the program through BPF_PROG_TEST_RUN, shared by the
//! program tests and the benchmarks (`cargo xtask bench`). They are built
//! here plainly, independently of the common crate's builders, so a test
//! of the program does not also trust the code under test (only the plain
//! RFC 1071 sum, [`checksum`], is common's).

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

/// The MAC the test frames come from; the destination MAC is zero, as
/// BPF_PROG_TEST_RUN compares it with the loopback device's.
pub const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
pub const SERVER_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const ROUTER_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
pub const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
pub const SERVER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
pub const ROUTER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 7);

/// TC verdicts.
pub const PASS: i32 = -1;
pub const DROP: i32 = 2;
pub const REDIRECT: i32 = 7;

/// Moves the calling thread into a network namespace of its own with only
/// `lo` up, so a packet the program hands to the host stack (the TCP
/// clone) and the host's reply to it can never leave the machine.
pub fn isolate() -> io::Result<()> {
    // SAFETY: unshare only changes this thread's namespace membership.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // A child forked from this thread starts in its namespace.
    let up = std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()?;
    if !up.success() {
        return Err(io::Error::other(format!("ip link set lo up: {up}")));
    }
    Ok(())
}

/// The Internet checksum (RFC 1071) of `parts` as one buffer: common's
/// plain sum, not the builders' `Writer`.
pub use reverse_tr_common::checksum::of as checksum;

/// The transport checksum's pseudo-header; `source` and `destination`
/// are of one family.
pub fn pseudo_header(source: IpAddr, destination: IpAddr, protocol: u8, len: usize) -> Vec<u8> {
    match (source, destination) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut p = [s.octets(), d.octets()].concat();
            p.extend([0, protocol]);
            p.extend((len as u16).to_be_bytes());
            p
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut p = [s.octets(), d.octets()].concat();
            p.extend((len as u32).to_be_bytes());
            p.extend([0, 0, 0, protocol]);
            p
        }
        _ => panic!("mixed families"),
    }
}

/// An Ethernet frame to the test device carrying `packet`.
pub fn frame(packet: &[u8]) -> Vec<u8> {
    let ethertype: [u8; 2] = if packet[0] >> 4 == 6 {
        [0x86, 0xdd]
    } else {
        [0x08, 0x00]
    };
    let mut frame = vec![0u8; 6];
    frame.extend(PEER_MAC);
    frame.extend(ethertype);
    frame.extend(packet);
    frame
}

/// An IP packet with a valid IPv4 header checksum; `id` and `ttl` as given.
pub fn ip(
    source: IpAddr,
    destination: IpAddr,
    protocol: u8,
    ttl: u8,
    id: u16,
    payload: &[u8],
) -> Vec<u8> {
    match (source, destination) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut header = vec![0x45, 0];
            header.extend(((20 + payload.len()) as u16).to_be_bytes());
            header.extend(id.to_be_bytes());
            header.extend([0, 0, ttl, protocol, 0, 0]);
            header.extend(s.octets());
            header.extend(d.octets());
            let sum = checksum(&[&header]);
            header[10..12].copy_from_slice(&sum.to_be_bytes());
            [header, payload.to_vec()].concat()
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut header = vec![0x60, 0, 0, 0];
            header.extend((payload.len() as u16).to_be_bytes());
            header.extend([protocol, ttl]);
            header.extend(s.octets());
            header.extend(d.octets());
            [header, payload.to_vec()].concat()
        }
        _ => panic!("mixed families"),
    }
}

/// The family's ICMP protocol number.
pub fn icmp_protocol(address: IpAddr) -> u8 {
    if address.is_ipv4() { 1 } else { 58 }
}

/// An ICMP(v6) message `header || rest` with a valid checksum.
pub fn icmp(source: IpAddr, destination: IpAddr, icmp_type: u8, code: u8, rest: &[u8]) -> Vec<u8> {
    let mut message = vec![icmp_type, code, 0, 0];
    message.extend(rest);
    let pseudo = match source {
        IpAddr::V4(_) => Vec::new(),
        IpAddr::V6(_) => pseudo_header(source, destination, 58, message.len()),
    };
    let sum = checksum(&[&pseudo, &message]);
    message[2..4].copy_from_slice(&sum.to_be_bytes());
    message
}

/// A whole IP packet carrying an ICMP message.
pub fn icmp_packet(
    source: IpAddr,
    destination: IpAddr,
    ttl: u8,
    icmp_type: u8,
    code: u8,
    rest: &[u8],
) -> Vec<u8> {
    let message = icmp(source, destination, icmp_type, code, rest);
    ip(source, destination, icmp_protocol(source), ttl, 1, &message)
}

/// A request frame from `client` to `server` (§3), unpadded as the
/// reference client's.
pub fn request(
    client: IpAddr,
    server: IpAddr,
    identifier: u16,
    ttl: u8,
    protocol: u8,
    flow: u16,
) -> Vec<u8> {
    padded_request(client, server, (identifier, ttl, protocol, flow), 0)
}

/// A request frame from `client` to `server` for (identifier, TTL,
/// protocol, flow) with `padding` zero octets after its 12 (§3.7).
pub fn padded_request(
    client: IpAddr,
    server: IpAddr,
    (identifier, ttl, protocol, flow): (u16, u8, u8, u16),
    padding: usize,
) -> Vec<u8> {
    let echo_request = if client.is_ipv4() { 8 } else { 128 };
    let mut rest = identifier.to_be_bytes().to_vec();
    rest.extend([0, 0, ttl, protocol]);
    rest.extend(flow.to_be_bytes());
    rest.resize(rest.len() + padding, 0);
    frame(&icmp_packet(client, server, 64, echo_request, 1, &rest))
}

/// A TCP segment with a valid checksum.
pub fn tcp(
    source: IpAddr,
    destination: IpAddr,
    ports: (u16, u16),
    seq: u32,
    ack: u32,
    flags: u8,
) -> Vec<u8> {
    let mut segment = Vec::new();
    segment.extend(ports.0.to_be_bytes());
    segment.extend(ports.1.to_be_bytes());
    segment.extend(seq.to_be_bytes());
    segment.extend(ack.to_be_bytes());
    segment.extend([0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    let sum = checksum(&[
        &pseudo_header(source, destination, 6, segment.len()),
        &segment,
    ]);
    segment[16..18].copy_from_slice(&sum.to_be_bytes());
    segment
}

/// A UDP datagram with a valid checksum.
pub fn udp(source: IpAddr, destination: IpAddr, ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
    let mut datagram = Vec::new();
    datagram.extend(ports.0.to_be_bytes());
    datagram.extend(ports.1.to_be_bytes());
    datagram.extend(((8 + payload.len()) as u16).to_be_bytes());
    datagram.extend([0, 0]);
    datagram.extend(payload);
    let sum = checksum(&[
        &pseudo_header(source, destination, 17, datagram.len()),
        &datagram,
    ]);
    datagram[6..8].copy_from_slice(&sum.to_be_bytes());
    datagram
}

/// An ICMP error from `from` to `to` quoting `probe` (§6.2).
pub fn quoting(from: IpAddr, to: IpAddr, icmp_type: u8, code: u8, probe: &[u8]) -> Vec<u8> {
    let rest = [&[0u8; 4][..], probe].concat();
    frame(&icmp_packet(from, to, 60, icmp_type, code, &rest))
}

/// The kinds of answer a probe can get (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// ICMP Time Exceeded (ICMPv6 type 3) from a router.
    TimeExceeded,
    /// ICMP Port Unreachable from the client, answering a UDP probe.
    PortUnreachable,
    /// Echo Reply from the client, answering an ICMP probe.
    EchoReply,
    /// SYN-ACK from the client, answering a TCP probe.
    SynAck,
    /// RST from the client, answering a TCP probe.
    Rst,
}

impl Answer {
    /// The answer from `hop` to the server at `server` for `probe` (an IP
    /// packet without Ethernet, as the program sent it), as a frame.
    ///
    /// # Panics
    /// If `probe` is shorter than its IP header and 8 octets of transport.
    pub fn frame(self, hop: IpAddr, server: IpAddr, probe: &[u8]) -> Vec<u8> {
        let v4 = hop.is_ipv4();
        let header = if v4 { 20 } else { 40 };
        match self {
            Self::TimeExceeded => quoting(hop, server, if v4 { 11 } else { 3 }, 0, probe),
            Self::PortUnreachable => {
                let (icmp_type, code) = if v4 { (3, 3) } else { (1, 4) };
                quoting(hop, server, icmp_type, code, probe)
            }
            // The reply echoes identifier, sequence and payload.
            Self::EchoReply => frame(&icmp_packet(
                hop,
                server,
                64,
                if v4 { 0 } else { 129 },
                0,
                &probe[header + 4..],
            )),
            Self::SynAck | Self::Rst => {
                let flags = if self == Self::SynAck { 0x12 } else { 0x14 };
                let port = |at: usize| u16::from_be_bytes([probe[at], probe[at + 1]]);
                let sequence = u32::from_be_bytes([
                    probe[header + 4],
                    probe[header + 5],
                    probe[header + 6],
                    probe[header + 7],
                ]);
                let segment = tcp(
                    hop,
                    server,
                    (port(header + 2), port(header)),
                    0x1111_2222,
                    sequence.wrapping_add(1),
                    flags,
                );
                frame(&ip(hop, server, 6, 64, 1, &segment))
            }
        }
    }
}
