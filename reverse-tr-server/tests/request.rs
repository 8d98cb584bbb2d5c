//! The request path through BPF_PROG_TEST_RUN: probes, error responses,
//! duplicates and a full table.
#![cfg(feature = "root-tests")]

mod support;

use std::net::IpAddr;

use reverse_tr_common::{counter::Counter, session::SessionKey};
use reverse_tr_server::Config;
use support::*;

const SERVER_V6_HEX: &str = "20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 01";
const CLIENT_V6_HEX: &str = "20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 10";

fn mapped(address: IpAddr) -> [u8; 16] {
    match address {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// (family, protocol field, flow, expected probe packet after Ethernet).
fn probe_cases() -> Vec<(IpAddr, IpAddr, u8, u16, String)> {
    let v4 = |packet: &str| packet.to_owned();
    let v6 = |head: &str, rest: &str| format!("{head} {SERVER_V6_HEX} {CLIENT_V6_HEX} {rest}");
    let (c4, s4) = (IpAddr::V4(CLIENT_V4), IpAddr::V4(SERVER_V4));
    let (c6, s6) = (IpAddr::V6(CLIENT_V6), IpAddr::V6(SERVER_V6));
    vec![
        // §5.10: the UDP and TCP probes of the §3.8 request, and its ICMP
        // probe; the TCP sequence number's high half is random (§5.4 lets
        // the server choose; REF-1 sends zeros there).
        (
            c4,
            s4,
            17,
            0x3039,
            v4(
                "45 00 00 24 00 01 00 00 05 11 c9 89 c6 33 64 01 c0 00 02 0a \
             03 fd 30 39 00 10 01 02 ?? ?? ?? ?? ?? ?? ?? ??",
            ),
        ),
        (
            c4,
            s4,
            6,
            0x3039,
            v4(
                "45 00 00 2c 00 01 00 00 05 06 c9 8c c6 33 64 01 c0 00 02 0a \
             03 fd 30 39 ?? ?? 02 01 00 00 00 00 60 02 04 00 ?? ?? 00 00 02 04 05 b4",
            ),
        ),
        (
            c4,
            s4,
            1,
            0x3039,
            v4(
                "45 00 00 24 00 01 00 00 05 01 c9 99 c6 33 64 01 c0 00 02 0a \
             08 00 30 39 01 02 ff ff ?? ?? ?? ?? ?? ?? ?? ??",
            ),
        ),
        // Protocol 0 and flow 0: the server's defaults (§2).
        (
            c4,
            s4,
            0,
            0,
            v4(
                "45 00 00 24 00 01 00 00 05 01 c9 99 c6 33 64 01 c0 00 02 0a \
             08 00 be af 01 02 ff ff ?? ?? ?? ?? ?? ?? ?? ??",
            ),
        ),
        (
            c4,
            s4,
            17,
            0,
            v4(
                "45 00 00 24 00 01 00 00 05 11 c9 89 c6 33 64 01 c0 00 02 0a \
             03 fd 00 35 00 10 01 02 ?? ?? ?? ?? ?? ?? ?? ??",
            ),
        ),
        (
            c4,
            s4,
            6,
            0,
            v4(
                "45 00 00 2c 00 01 00 00 05 06 c9 8c c6 33 64 01 c0 00 02 0a \
             03 fd 00 50 ?? ?? 02 01 00 00 00 00 60 02 04 00 ?? ?? 00 00 02 04 05 b4",
            ),
        ),
        (
            c6,
            s6,
            17,
            0x3039,
            v6(
                "60 00 00 00 00 10 11 05",
                "03 fd 30 39 00 10 01 02 ?? ?? ?? ?? ?? ?? ?? ??",
            ),
        ),
        (
            c6,
            s6,
            6,
            0x3039,
            v6(
                "60 00 00 00 00 18 06 05",
                "03 fd 30 39 ?? ?? 02 01 00 00 00 00 60 02 04 00 ?? ?? 00 00 02 04 05 b4",
            ),
        ),
        (
            c6,
            s6,
            58,
            0x3039,
            v6(
                "60 00 00 00 00 10 3a 05",
                "80 00 30 39 01 02 ff ff ?? ?? ?? ?? ?? ?? ?? ??",
            ),
        ),
        (
            c6,
            s6,
            0,
            0,
            v6(
                "60 00 00 00 00 10 3a 05",
                "80 00 be af 01 02 ff ff ?? ?? ?? ?? ?? ?? ?? ??",
            ),
        ),
    ]
}

#[test]
fn valid_requests_become_exactly_one_probe_with_valid_checksums() {
    for (client, server_address, protocol, flow, expected) in probe_cases() {
        let server = server(Config::default());
        let run = server
            .run(&request(client, server_address, 0x0102, 5, protocol, flow))
            .expect("test run");
        let context = format!("{client} protocol {protocol} flow {flow:#x}");
        assert_eq!(run.verdict, REDIRECT, "{context}");
        let ethernet = if client.is_ipv4() {
            REPLY_ETHERNET_V4
        } else {
            REPLY_ETHERNET_V6
        };
        assert_bytes(&run.frame, &format!("{ethernet} {expected}"));
        assert_checksums(&run.frame);
        let sessions = server.sessions().expect("sessions");
        assert_eq!(sessions.len(), 1, "{context}");
        let (key, session) = sessions[0];
        assert_eq!(
            key,
            SessionKey::new(mapped(client), [0x01, 0x02]),
            "{context}"
        );
        assert_eq!(session.source, mapped(server_address), "{context}");
        assert_eq!(
            server.counter(Counter::Probes).expect("counter"),
            1,
            "{context}"
        );
    }
}

#[test]
fn probe_payloads_are_random() {
    let server = server(Config::default());
    let (client, server_address) = (IpAddr::V4(CLIENT_V4), IpAddr::V4(SERVER_V4));
    // The octets `at` of the probes of 8 requests for `protocol`.
    let distinct = |protocol: u8, at: std::ops::Range<usize>| {
        let octets = |id: u16| {
            let run = server
                .run(&request(client, server_address, id, 5, protocol, 1234))
                .expect("test run");
            run.frame[14 + at.start..14 + at.end].to_vec()
        };
        let first_id = u16::from(protocol) * 100;
        (first_id..first_id + 8)
            .map(octets)
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    assert!(
        distinct(17, 28..34) > 1,
        "8 probes carried the same six octets"
    );
    // TCP probes carry two of them in the sequence number's high half.
    assert!(
        distinct(6, 24..26) > 1,
        "8 TCP probes carried the same sequence high half"
    );
}

#[test]
fn invalid_requests_get_the_exact_error_response_and_no_probe() {
    let (c4, s4) = (IpAddr::V4(CLIENT_V4), IpAddr::V4(SERVER_V4));
    let (c6, s6) = (IpAddr::V6(CLIENT_V6), IpAddr::V6(SERVER_V6));
    let v4 = "45 00 00 20 00 01 00 00 40 01 ?? ?? c6 33 64 01 c0 00 02 0a";
    let v6 = format!("60 00 00 00 00 0c 3a 40 {SERVER_V6_HEX} {CLIENT_V6_HEX}");
    let cases = [
        // §7.8: TTL 0 → state 1.
        (
            c4,
            s4,
            0,
            17,
            format!("{v4} 00 01 fd fc 01 02 00 00 01 00 00 00"),
        ),
        // The other family's ICMP and unknown protocols → state 2 (§7.3).
        (
            c4,
            s4,
            5,
            58,
            format!("{v4} 00 01 fc fc 01 02 00 00 02 00 00 00"),
        ),
        (
            c4,
            s4,
            5,
            99,
            format!("{v4} 00 01 fc fc 01 02 00 00 02 00 00 00"),
        ),
        (
            c6,
            s6,
            0,
            17,
            format!("{v6} 81 01 ?? ?? 01 02 00 00 01 00 00 00"),
        ),
        (
            c6,
            s6,
            5,
            1,
            format!("{v6} 81 01 ?? ?? 01 02 00 00 02 00 00 00"),
        ),
    ];
    for (client, server_address, ttl, protocol, expected) in cases {
        let server = server(Config::default());
        let run = server
            .run(&request(
                client,
                server_address,
                0x0102,
                ttl,
                protocol,
                0x3039,
            ))
            .expect("test run");
        assert_eq!(run.verdict, REDIRECT);
        let ethernet = if client.is_ipv4() {
            REPLY_ETHERNET_V4
        } else {
            REPLY_ETHERNET_V6
        };
        assert_bytes(&run.frame, &format!("{ethernet} {expected}"));
        assert_checksums(&run.frame);
        assert!(server.sessions().expect("sessions").is_empty());
        assert_eq!(server.counter(Counter::ErrorResponses).expect("counter"), 1);
        assert_eq!(server.counter(Counter::Probes).expect("counter"), 0);
    }
}

#[test]
fn a_duplicate_request_is_dropped_and_the_first_session_kept() {
    let server = server(Config::default());
    let frame = request(IpAddr::V4(CLIENT_V4), IpAddr::V4(SERVER_V4), 7, 3, 17, 1234);
    assert_eq!(server.run(&frame).expect("test run").verdict, REDIRECT);
    let first = server.sessions().expect("sessions");
    let second = server.run(&frame).expect("test run");
    assert_eq!(second.verdict, DROP);
    assert_eq!(server.sessions().expect("sessions"), first);
    assert_eq!(server.counter(Counter::Exists).expect("counter"), 1);
    assert_eq!(server.counter(Counter::Probes).expect("counter"), 1);
}

#[test]
fn a_full_table_drops_requests() {
    let server = server(Config {
        max_sessions: 2,
        ..Config::default()
    });
    let verdicts: Vec<i32> = (1..=3)
        .map(|id| {
            let frame = request(
                IpAddr::V6(CLIENT_V6),
                IpAddr::V6(SERVER_V6),
                id,
                3,
                17,
                1234,
            );
            server.run(&frame).expect("test run").verdict
        })
        .collect();
    assert_eq!(verdicts, [REDIRECT, REDIRECT, DROP]);
    assert_eq!(server.sessions().expect("sessions").len(), 2);
    assert_eq!(server.counter(Counter::TableFull).expect("counter"), 1);
}

/// Answered sessions leave their deadline queued until it passes; when the
/// queue (4 × capacity) is full, a request is refused like a full table
/// and its session undone, never left without a deadline.
#[test]
fn a_full_deadline_queue_refuses_without_leaking() {
    let server = server(Config {
        max_sessions: 2,
        timeout: std::time::Duration::from_secs(60),
    });
    let (client, server_address) = (IpAddr::V4(CLIENT_V4), IpAddr::V4(SERVER_V4));
    let queue = 2 * reverse_tr_common::session::DEADLINES_PER_SESSION;
    for identifier in 1..=queue as u16 {
        let probe = server
            .run(&request(client, server_address, identifier, 5, 1, 7))
            .expect("test run");
        assert_eq!(probe.verdict, REDIRECT, "request {identifier}");
        // The client's echo reply answers it at once.
        let reply = frame(&icmp_packet(
            client,
            server_address,
            64,
            0,
            0,
            &probe.frame[14 + 24..],
        ));
        assert_eq!(
            server.run(&reply).expect("test run").verdict,
            REDIRECT,
            "answer {identifier}"
        );
    }
    assert!(server.sessions().expect("sessions").is_empty());
    let refused = server
        .run(&request(client, server_address, 999, 5, 1, 7))
        .expect("test run");
    assert_eq!(refused.verdict, DROP);
    assert!(
        server.sessions().expect("sessions").is_empty(),
        "the session was undone"
    );
    assert_eq!(server.counter(Counter::TableFull).expect("counter"), 1);
}
