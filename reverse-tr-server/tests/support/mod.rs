//! Frames for program tests, built and checked here independently of the
//! common crate's builders.
#![allow(dead_code, reason = "each test binary uses a part")]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use reverse_tr_server::{Config, Server};

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

/// Moves this test's thread into a network namespace of its own with only
/// `lo` up, so a packet the program hands to the host stack (the TCP
/// clone) and the host's reply to it can never leave the machine.
pub fn isolate() {
    // SAFETY: unshare only changes this thread's namespace membership.
    let status = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        status,
        0,
        "unshare(CLONE_NEWNET): {}",
        std::io::Error::last_os_error()
    );
    // A child forked from this thread starts in its namespace.
    let up = std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("running ip");
    assert!(up.success(), "ip link set lo up");
}

/// A server loaded for a test, in an isolated thread.
pub fn server(config: Config) -> Server {
    isolate();
    match Server::load(config) {
        Ok(server) => server,
        Err(reverse_tr_server::Error::Verifier {
            log,
            source,
            program,
        }) => {
            panic!("verifier rejected {program}: {source}\n{log}")
        }
        Err(error) => panic!("{error}"),
    }
}

/// The Internet checksum (RFC 1071), written plainly.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.concat();
    let mut sum: u64 = 0;
    for pair in bytes.chunks(2) {
        let word = u64::from(pair[0]) << 8 | u64::from(*pair.get(1).unwrap_or(&0));
        sum += word;
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

fn pseudo_header(source: IpAddr, destination: IpAddr, protocol: u8, len: usize) -> Vec<u8> {
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

/// A request frame from `client` to `server` (§3).
pub fn request(
    client: IpAddr,
    server: IpAddr,
    identifier: u16,
    ttl: u8,
    protocol: u8,
    flow: u16,
) -> Vec<u8> {
    let echo_request = if client.is_ipv4() { 8 } else { 128 };
    let mut rest = identifier.to_be_bytes().to_vec();
    rest.extend([0, 0, ttl, protocol]);
    rest.extend(flow.to_be_bytes());
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

/// Parses a hex pattern; `??` matches any octet.
fn pattern(text: &str) -> Vec<Option<u8>> {
    text.split_whitespace()
        .map(|octet| (octet != "??").then(|| u8::from_str_radix(octet, 16).expect("hex octet")))
        .collect()
}

/// Asserts `actual` equals the hex `expected`, octet for octet.
pub fn assert_bytes(actual: &[u8], expected: &str) {
    let expected = pattern(expected);
    let shown: Vec<String> = actual.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        actual.len(),
        expected.len(),
        "length differs: {}",
        shown.join(" ")
    );
    for (at, (a, e)) in actual.iter().zip(&expected).enumerate() {
        if let Some(e) = e {
            assert_eq!(a, e, "octet {at} differs: {}", shown.join(" "));
        }
    }
}

/// Asserts every checksum of an IPv4/IPv6 frame verifies: the IPv4 header
/// checksum and the transport checksum (with its pseudo-header).
pub fn assert_checksums(frame: &[u8]) {
    let packet = &frame[14..];
    let (source, destination, protocol, transport): (IpAddr, IpAddr, u8, &[u8]) =
        match packet[0] >> 4 {
            4 => {
                let ihl = usize::from(packet[0] & 0x0f) * 4;
                assert_eq!(checksum(&[&packet[..ihl]]), 0, "IPv4 header checksum");
                let s: [u8; 4] = packet[12..16].try_into().expect("4 octets");
                let d: [u8; 4] = packet[16..20].try_into().expect("4 octets");
                (IpAddr::from(s), IpAddr::from(d), packet[9], &packet[ihl..])
            }
            6 => {
                let s: [u8; 16] = packet[8..24].try_into().expect("16 octets");
                let d: [u8; 16] = packet[24..40].try_into().expect("16 octets");
                (IpAddr::from(s), IpAddr::from(d), packet[6], &packet[40..])
            }
            version => panic!("IP version {version}"),
        };
    let pseudo = if protocol == 1 {
        Vec::new()
    } else {
        pseudo_header(source, destination, protocol, transport.len())
    };
    assert_eq!(
        checksum(&[&pseudo, transport]),
        0,
        "transport checksum (protocol {protocol})"
    );
}

/// The Ethernet header of a frame sent back to the peer.
pub const REPLY_ETHERNET_V4: &str = "02 00 00 00 00 01 00 00 00 00 00 00 08 00";
pub const REPLY_ETHERNET_V6: &str = "02 00 00 00 00 01 00 00 00 00 00 00 86 dd";
