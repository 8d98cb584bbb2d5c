#![cfg(feature = "root-tests")]
//! The program's defences for a server on the Internet, through
//! BPF_PROG_TEST_RUN: caps on pending sessions per source and prefix, the
//! server-wide session and new-source rates, the budgets of unpadded
//! requests, the refusal of sources that cannot be requesters, answers
//! authenticated by what their probe carried, and expiry that never waits
//! for the event ring.

mod support;

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};

use reverse_tr_common::{
    Family,
    counter::Counter,
    policy::{Policy, Rate, padded_len},
};
use reverse_tr_server::{Config, Server};
use support::*;

fn v4(c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, c, d))
}

/// An address in 2001:db8:0:`net`::/64.
fn v6(net: u16, host: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, net, 0, 0, 0, host))
}

fn server_of(client: IpAddr) -> IpAddr {
    if client.is_ipv4() {
        IpAddr::V4(SERVER_V4)
    } else {
        IpAddr::V6(SERVER_V6)
    }
}

fn header_len(client: IpAddr) -> usize {
    if client.is_ipv4() { 20 } else { 40 }
}

/// A UDP request from `client` padded so that it is not amplified.
fn padded(client: IpAddr, identifier: u16) -> Vec<u8> {
    let padding = padded_len(Family::of(client), 17) - header_len(client) - 12;
    padded_request(
        client,
        server_of(client),
        (identifier, 5, 17, 0x3039),
        padding,
    )
}

/// A UDP request from `client` as the reference client sends it.
fn unpadded(client: IpAddr, identifier: u16) -> Vec<u8> {
    request(client, server_of(client), identifier, 5, 17, 0x3039)
}

fn verdict(server: &Server, frame: &[u8]) -> i32 {
    server.run(frame).expect("test run").verdict
}

fn counter(server: &Server, counter: Counter) -> u64 {
    server.counter(counter).expect("counter")
}

#[test]
fn pending_sessions_are_capped_per_source_and_released_by_answers() {
    // The second address shares the first's /64 (IPv6 state is per /64).
    for (client, same_source, other) in [
        (v4(2, 10), v4(2, 10), v4(2, 11)),
        (v6(1, 0x10), v6(1, 0x99), v6(2, 0x10)),
    ] {
        let server = with_policy(Policy {
            source_sessions: 3,
            ..Policy::default()
        });
        let first = server.run(&padded(client, 1)).expect("test run");
        assert_eq!(first.verdict, REDIRECT, "{client}");
        let verdicts = [
            verdict(&server, &padded(client, 2)),
            verdict(&server, &padded(same_source, 3)),
            verdict(&server, &padded(same_source, 4)),
            verdict(&server, &padded(client, 5)),
            verdict(&server, &padded(other, 1)),
        ];
        assert_eq!(
            verdicts,
            [REDIRECT, REDIRECT, DROP, DROP, REDIRECT],
            "{client}"
        );
        assert_eq!(counter(&server, Counter::SourceCapped), 2, "{client}");
        // An answer ends a session and frees its place.
        let answer = Answer::PortUnreachable.frame(client, server_of(client), &first.frame[14..]);
        assert_eq!(verdict(&server, &answer), REDIRECT, "{client} answer");
        assert_eq!(verdict(&server, &padded(client, 6)), REDIRECT, "{client}");
        assert_eq!(verdict(&server, &padded(client, 7)), DROP, "{client}");
    }
}

#[test]
fn pending_sessions_are_capped_per_prefix() {
    // Same /24 or /48 from different sources, then one outside it.
    for (sources, outside) in [
        ([v4(2, 10), v4(2, 11), v4(2, 12)], v4(3, 10)),
        (
            [v6(1, 0x10), v6(2, 0x10), v6(3, 0x10)],
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 1, 0, 0, 0, 0x10)),
        ),
    ] {
        let server = with_policy(Policy {
            prefix_sessions: 2,
            ..Policy::default()
        });
        let verdicts = [
            verdict(&server, &padded(sources[0], 1)),
            verdict(&server, &padded(sources[1], 1)),
            verdict(&server, &padded(sources[2], 1)),
            verdict(&server, &padded(outside, 1)),
        ];
        assert_eq!(verdicts, [REDIRECT, REDIRECT, DROP, REDIRECT], "{outside}");
        assert_eq!(counter(&server, Counter::PrefixCapped), 1);
    }
}

#[test]
fn the_session_rate_is_server_wide_and_spares_error_responses() {
    let server = with_policy(Policy {
        sessions: Rate::new(1, 3).expect("rate"),
        ..Policy::default()
    });
    let sources = [v4(2, 10), v6(1, 0x10), v4(7, 1), v6(9, 1)];
    let verdicts = sources.map(|source| verdict(&server, &padded(source, 1)));
    assert_eq!(verdicts, [REDIRECT, REDIRECT, REDIRECT, DROP]);
    assert_eq!(counter(&server, Counter::GlobalLimited), 1);
    // TTL 0 (the reference client's presence check) opens no session.
    let check = request(sources[3], server_of(sources[3]), 2, 0, 17, 0);
    assert_eq!(verdict(&server, &check), REDIRECT);
    assert_eq!(counter(&server, Counter::ErrorResponses), 1);
}

#[test]
fn new_sources_are_taken_on_at_their_rate_and_known_ones_pass() {
    let server = with_policy(Policy {
        source: Rate::new(100, 100).expect("rate"),
        new_sources: Rate::new(1, 2).expect("rate"),
        ..Policy::default()
    });
    let (a, b, c) = (v4(2, 10), v6(1, 0x10), v4(3, 10));
    let verdicts = [
        verdict(&server, &padded(a, 1)),
        verdict(&server, &padded(b, 1)),
        verdict(&server, &padded(c, 1)),
        verdict(&server, &padded(a, 2)),
        verdict(&server, &padded(v6(1, 0x11), 2)),
    ];
    assert_eq!(verdicts, [REDIRECT, REDIRECT, DROP, REDIRECT, REDIRECT]);
    assert_eq!(counter(&server, Counter::NewSourceLimited), 1);
}

#[test]
fn unpadded_requests_are_served_from_small_budgets() {
    // Per source: 4/s, so a new source gets its first and one more.
    let server = with_policy(Policy {
        unpadded_source: Rate::new(4, 100).expect("rate"),
        ..Policy::default()
    });
    for client in [v4(2, 10), v6(1, 0x10)] {
        let verdicts = [
            verdict(&server, &unpadded(client, 1)),
            verdict(&server, &unpadded(client, 2)),
            verdict(&server, &unpadded(client, 3)),
            verdict(&server, &padded(client, 4)),
        ];
        assert_eq!(verdicts, [REDIRECT, REDIRECT, DROP, REDIRECT], "{client}");
    }
    assert_eq!(counter(&server, Counter::UnpaddedLimited), 2);
    assert_eq!(counter(&server, Counter::Unpadded), 4);
    // Server-wide: three unpadded requests from three sources, then none;
    // padded ones are not counted against it.
    let server = with_policy(Policy {
        unpadded: Rate::new(1, 3).expect("rate"),
        ..Policy::default()
    });
    let sources = [v4(2, 10), v6(1, 0x10), v4(7, 1), v6(9, 1)];
    let verdicts = sources.map(|source| verdict(&server, &unpadded(source, 1)));
    assert_eq!(verdicts, [REDIRECT, REDIRECT, REDIRECT, DROP]);
    assert_eq!(verdict(&server, &padded(sources[3], 2)), REDIRECT);
    assert_eq!(counter(&server, Counter::UnpaddedLimited), 1);
}

#[test]
fn sources_that_cannot_request_are_refused_with_their_counter() {
    let server = server(Config::default());
    let cases = [
        ("0.0.0.1", Counter::RefusedUnspecified),
        ("127.0.0.1", Counter::RefusedLoopback),
        ("224.0.0.5", Counter::RefusedMulticast),
        ("255.255.255.255", Counter::RefusedReserved),
        ("::", Counter::RefusedUnspecified),
        ("::1", Counter::RefusedLoopback),
        ("ff02::1", Counter::RefusedMulticast),
        ("::ffff:192.0.2.10", Counter::RefusedEmbedded),
        ("64:ff9b::c000:20a", Counter::RefusedEmbedded),
        ("2002:c000:20a::1", Counter::RefusedEmbedded),
        ("::192.0.2.10", Counter::RefusedEmbedded),
        ("4000::1", Counter::RefusedReserved),
    ];
    for (identifier, (source, refused)) in (1..).zip(cases) {
        let source: IpAddr = source.parse().expect("an address");
        let before = counter(&server, refused);
        assert_eq!(
            verdict(&server, &padded(source, identifier)),
            DROP,
            "{source}"
        );
        assert_eq!(counter(&server, refused), before + 1, "{source}");
    }
    assert!(server.sessions().expect("sessions").is_empty());
    assert_eq!(counter(&server, Counter::Probes), 0);
    assert_eq!(counter(&server, Counter::ErrorResponses), 0);
}

#[test]
fn private_sources_are_served_unless_the_operator_refuses_them() {
    let mut server = server(Config::default());
    let private: [IpAddr; 3] = [
        "10.0.1.100".parse().expect("address"),
        "100.64.0.1".parse().expect("address"),
        "fd00::100".parse().expect("address"),
    ];
    for source in private {
        assert_eq!(verdict(&server, &padded(source, 1)), REDIRECT, "{source}");
    }
    let policy = Policy {
        refuse_private: 1,
        ..Policy::default()
    };
    apply_policy(&mut server, &policy);
    for source in private {
        assert_eq!(verdict(&server, &padded(source, 2)), DROP, "{source}");
    }
    assert_eq!(counter(&server, Counter::RefusedPrivate), 3);
}

/// The probe the program sends for a fresh request of `protocol` from
/// `client`, as an IP packet.
fn probe(server: &Server, client: IpAddr, identifier: u16, protocol: u8) -> Vec<u8> {
    let run = server
        .run(&request(
            client,
            server_of(client),
            identifier,
            5,
            protocol,
            0x3039,
        ))
        .expect("test run");
    assert_eq!(run.verdict, REDIRECT, "{client} {protocol}");
    run.frame[14..].to_vec()
}

/// `frame` with the octet at `at` (an offset into the IP packet) changed
/// and the transport checksum left as it was: the program checks none.
fn altered(mut frame: Vec<u8>, at: usize) -> Vec<u8> {
    frame[14 + at] ^= 0x5a;
    frame
}

#[test]
fn forged_answers_match_nothing_and_keep_the_session() {
    let hop_v4 = IpAddr::V4(ROUTER_V4);
    let hop_v6 = IpAddr::V6(ROUTER_V6);
    for client in [IpAddr::V4(CLIENT_V4), IpAddr::V6(CLIENT_V6)] {
        let server = server(Config::default());
        let router = if client.is_ipv4() { hop_v4 } else { hop_v6 };
        let ip = header_len(client);
        let icmp = if client.is_ipv4() { 1 } else { 58 };
        let at = server_of(client);
        // (probe protocol, answer, offset of an octet that proves it)
        let cases = [
            // The Echo Reply echoes the six random octets at ICMP offset 8.
            (icmp, Answer::EchoReply, None, ip + 8),
            // The quote holds them at the quoted UDP probe's offset 8.
            (17, Answer::TimeExceeded, Some(router), ip + 8 + ip + 8),
            // The RST acknowledges the sequence number: ack's high octet.
            (6, Answer::Rst, None, ip + 8),
            (6, Answer::SynAck, None, ip + 9),
            // The quoted TCP probe's sequence number, high octet.
            (6, Answer::TimeExceeded, Some(router), ip + 8 + ip + 4),
        ];
        for (identifier, (protocol, kind, hop, proof_at)) in (1..).zip(cases) {
            let probe = probe(&server, client, identifier, protocol);
            let genuine = kind.frame(hop.unwrap_or(client), at, &probe);
            let forged = altered(genuine.clone(), proof_at);
            let before = counter(&server, Counter::Mismatched);
            assert_eq!(verdict(&server, &forged), PASS, "{client} {kind:?}");
            assert_eq!(
                counter(&server, Counter::Mismatched),
                before + 1,
                "{client} {kind:?}"
            );
            assert_eq!(verdict(&server, &genuine), REDIRECT, "{client} {kind:?}");
        }
        assert_eq!(counter(&server, Counter::Unauthenticated), 0);
        assert!(server.sessions().expect("sessions").is_empty());
    }
}

#[test]
fn an_echo_reply_without_the_probes_data_matches_nothing() {
    for client in [IpAddr::V4(CLIENT_V4), IpAddr::V6(CLIENT_V6)] {
        let server = server(Config::default());
        let icmp = if client.is_ipv4() { 1 } else { 58 };
        let reply_type = if client.is_ipv4() { 0 } else { 129 };
        let probe = probe(&server, client, 1, icmp);
        let ip = header_len(client);
        // Identifier and sequence of the probe, no payload.
        let bare = frame(&icmp_packet(
            client,
            server_of(client),
            64,
            reply_type,
            0,
            &probe[ip + 4..ip + 8],
        ));
        assert_eq!(verdict(&server, &bare), PASS, "{client}");
        assert_eq!(server.sessions().expect("sessions").len(), 1);
    }
}

#[test]
fn a_quote_too_short_to_prove_anything_is_matched_and_counted() {
    for client in [IpAddr::V4(CLIENT_V4), IpAddr::V6(CLIENT_V6)] {
        let server = server(Config::default());
        let router = if client.is_ipv4() {
            IpAddr::V4(ROUTER_V4)
        } else {
            IpAddr::V6(ROUTER_V6)
        };
        let probe = probe(&server, client, 1, 17);
        // The IP header and 8 octets of the probe, as RFC 792 allows.
        let short = &probe[..header_len(client) + 8];
        let answer = Answer::TimeExceeded.frame(router, server_of(client), short);
        assert_eq!(verdict(&server, &answer), REDIRECT, "{client}");
        assert_eq!(counter(&server, Counter::Unauthenticated), 1, "{client}");
    }
}

#[test]
fn sessions_expire_while_the_event_ring_is_full() {
    // More sessions than the ring has room for events: nobody reads it.
    const SESSIONS: u32 = 100_000;
    let timeout = Duration::from_secs(1);
    let server = server(Config {
        max_sessions: SESSIONS,
        timeout,
    });
    for n in 0..SESSIONS {
        let [_, b, c, d] = (n / 100).to_be_bytes();
        let client = IpAddr::V4(Ipv4Addr::new(10, b, c, d));
        let run = server
            .run(&request(
                client,
                IpAddr::V4(SERVER_V4),
                (n % 100 + 1) as u16,
                9,
                17,
                1234,
            ))
            .expect("test run");
        assert_eq!(run.verdict, REDIRECT, "request {n}");
    }
    let filled = Instant::now();
    while counter(&server, Counter::TimedOut) < u64::from(SESSIONS)
        && filled.elapsed() < timeout + Duration::from_secs(2)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(counter(&server, Counter::TimedOut), u64::from(SESSIONS));
    assert!(server.sessions().expect("sessions").is_empty());
    assert!(
        counter(&server, Counter::EventsLost) > 0,
        "the ring overflowed"
    );
    // The table is usable again at once.
    let again = request(IpAddr::V4(CLIENT_V4), IpAddr::V4(SERVER_V4), 1, 9, 17, 1);
    assert_eq!(verdict(&server, &again), REDIRECT);
}
