//! Everything that is not ours passes to the next filter untouched:
//! unrelated, malformed, truncated and fragmented packets, and answers
//! without a session (Q-9 is not reproduced).
#![cfg(feature = "root-tests")]

mod support;

use std::net::IpAddr;

use reverse_tr_server::Config;
use support::*;

fn v4() -> (IpAddr, IpAddr) {
    (IpAddr::V4(CLIENT_V4), IpAddr::V4(SERVER_V4))
}

fn v6() -> (IpAddr, IpAddr) {
    (IpAddr::V6(CLIENT_V6), IpAddr::V6(SERVER_V6))
}

/// A v4 request frame with one header octet changed.
fn v4_request_with(offset: usize, value: u8) -> Vec<u8> {
    let (client, server) = v4();
    let mut frame = request(client, server, 9, 5, 17, 1234);
    frame[14 + offset] = value;
    frame
}

fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let (c4, s4) = v4();
    let (c6, s6) = v6();
    let request_v4 = request(c4, s4, 9, 5, 17, 1234);
    let request_v6 = request(c6, s6, 9, 5, 17, 1234);
    let mut arp = request_v4.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let mut truncated_v4 = request_v4.clone();
    truncated_v4.truncate(request_v4.len() - 2);
    let mut truncated_v6 = request_v6.clone();
    truncated_v6.truncate(request_v6.len() - 2);
    // A request behind an IPv6 extension header (hop-by-hop, or fragment).
    let behind = |next_header: u8| {
        let icmp_and_more = &request_v6[14 + 40..];
        let mut extension = vec![58, 0, 0, 0, 0, 0, 0, 0];
        extension.extend(icmp_and_more);
        frame(&ip(c6, s6, next_header, 64, 1, &extension))
    };
    // Echo header only: shorter than a request (§3.5); padded to 60 octets
    // the padding must not be read as TTL/protocol/flow.
    let mut short = frame(&icmp_packet(c4, s4, 64, 8, 1, &[0, 9, 0, 0]));
    short.resize(60, 0);
    let segment = |flags| tcp(c4, s4, (40000, 80), 1, 0, flags);
    vec![
        ("ARP EtherType", arp),
        ("garbage", (0u8..64).collect()),
        (
            "ordinary ping v4",
            frame(&icmp_packet(c4, s4, 64, 8, 0, &[0, 9, 0, 1, 1, 2, 3, 4])),
        ),
        (
            "ordinary ping v6",
            frame(&icmp_packet(c6, s6, 64, 128, 0, &[0, 9, 0, 1, 1, 2, 3, 4])),
        ),
        (
            "echo reply with sequence 65535, no session (Q-9)",
            frame(&icmp_packet(c4, s4, 64, 0, 0, &[0, 9, 0xff, 0xff, 1, 2])),
        ),
        (
            "TCP SYN to port 80",
            frame(&ip(c4, s4, 6, 64, 1, &segment(0x02))),
        ),
        (
            "SYN-ACK to port 1021, no session",
            frame(&ip(
                c4,
                s4,
                6,
                64,
                1,
                &tcp(c4, s4, (80, 1021), 1, 0x0202, 0x12),
            )),
        ),
        (
            "UDP datagram",
            frame(&ip(c4, s4, 17, 64, 1, &[0x9c, 0x40, 0, 53, 0, 8, 0, 0])),
        ),
        ("short request, padded", short),
        ("IPv4 total length beyond the frame", truncated_v4),
        ("IPv6 payload length beyond the frame", truncated_v6),
        ("IPv4 header length 4", v4_request_with(0, 0x44)),
        ("IPv4 version 5", v4_request_with(0, 0x55)),
        ("IPv4 total length below its header", v4_request_with(3, 10)),
        ("IPv4 more-fragments flag", v4_request_with(6, 0x20)),
        ("IPv4 fragment offset", v4_request_with(7, 0x10)),
        ("request behind an IPv6 hop-by-hop header", behind(0)),
        ("request behind an IPv6 fragment header", behind(44)),
    ]
}

#[test]
fn packets_that_are_not_ours_pass_untouched() {
    let server = server(Config::default());
    for (name, frame) in cases() {
        let run = server
            .run(&frame)
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(run.verdict, PASS, "{name}");
        assert_eq!(run.frame, frame, "{name}: frame changed");
        assert!(
            server.sessions().expect("sessions").is_empty(),
            "{name}: session created"
        );
    }
}

#[test]
fn requests_are_parsed_by_ip_length_not_frame_length() {
    let server = server(Config::default());
    let (client, server_address) = v4();
    // 46 octets of request, padded to the Ethernet minimum of 60.
    let mut padded = request(client, server_address, 9, 5, 17, 1234);
    padded.resize(60, 0xEE);
    let run = server.run(&padded).expect("test run");
    assert_eq!(run.verdict, REDIRECT);
    assert_eq!(run.frame.len(), 14 + 36, "the probe drops the padding");
    assert_checksums(&run.frame);
}

#[test]
fn ipv4_options_are_dropped_from_the_probe() {
    let server = server(Config::default());
    let (client, server_address) = v4();
    let plain = request(client, server_address, 9, 5, 17, 1234);
    // The same request with a 4-octet NOP option list (IHL 6), §3.1.
    let mut header = plain[14..34].to_vec();
    header[0] = 0x46;
    header[2..4].copy_from_slice(&36u16.to_be_bytes());
    header.extend([1, 1, 1, 1]);
    header[10..12].copy_from_slice(&[0, 0]);
    let sum = checksum(&[&header]);
    header[10..12].copy_from_slice(&sum.to_be_bytes());
    let with_options = frame(&[header, plain[34..].to_vec()].concat());
    let run = server.run(&with_options).expect("test run");
    assert_eq!(run.verdict, REDIRECT);
    assert_eq!(run.frame[14], 0x45, "probe IHL");
    assert_eq!(run.frame.len(), 14 + 36);
    assert_checksums(&run.frame);
}

/// Every frame the kernel would hand over, cut short anywhere: passes
/// untouched (its IP length no longer fits the frame).
#[test]
fn every_truncation_of_a_request_passes_untouched() {
    let server = server(Config::default());
    let (c4, s4) = v4();
    let (c6, s6) = v6();
    for whole in [
        request(c4, s4, 9, 5, 17, 1234),
        request(c6, s6, 9, 5, 6, 1234),
    ] {
        let header_end = if whole[12] == 0x08 { 14 + 20 } else { 14 + 40 };
        for len in header_end..whole.len() {
            let frame = &whole[..len];
            let run = server
                .run(frame)
                .unwrap_or_else(|error| panic!("{len} octets: {error}"));
            assert_eq!(
                (run.verdict, run.frame.as_slice()),
                (PASS, frame),
                "{len} octets"
            );
        }
    }
    assert!(server.sessions().expect("sessions").is_empty());
}

/// Every octet of a request and of an answer inverted in turn: the program
/// never fails; what it does not pass untouched is dropped or sent with
/// valid checksums.
#[test]
fn corrupted_frames_never_yield_a_broken_packet() {
    let server = server(Config {
        max_sessions: 4096,
        ..Config::default()
    });
    let (client, server_address) = v4();
    let probe = server
        .run(&request(client, server_address, 77, 2, 17, 4321))
        .expect("test run")
        .frame;
    let rest = [&[0u8; 4][..], &probe[14..]].concat();
    let answer = frame(&icmp_packet(
        IpAddr::V4(ROUTER_V4),
        server_address,
        60,
        11,
        0,
        &rest,
    ));
    let (c6, s6) = v6();
    for original in [
        request(client, server_address, 9, 5, 17, 1234),
        request(c6, s6, 9, 5, 58, 1),
        answer,
    ] {
        for at in 12..original.len() {
            let mut frame = original.clone();
            frame[at] = !frame[at];
            let run = server
                .run(&frame)
                .unwrap_or_else(|error| panic!("octet {at}: {error}"));
            match run.verdict {
                PASS => assert_eq!(run.frame, frame, "octet {at}: passed but changed"),
                REDIRECT => assert_checksums(&run.frame),
                DROP => {}
                other => panic!("octet {at}: verdict {other}"),
            }
        }
    }
}
