//! The operator's policy through BPF_PROG_TEST_RUN (§10): rate limits,
//! allow and deny lists, the minimum request size, the protocols offered,
//! and the traffic budget of one request (§10.1).
#![cfg(feature = "root-tests")]

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use reverse_tr_common::{
    Family,
    counter::Counter,
    policy::{Policy, Rate, padded_len},
};
use reverse_tr_server::{
    Config, Server,
    apply::Change,
    policy::{Lists, Prefix, refused_protocols},
};
use support::*;

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn v6(last: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last))
}

fn server_of(client: IpAddr) -> IpAddr {
    if client.is_ipv4() {
        IpAddr::V4(SERVER_V4)
    } else {
        IpAddr::V6(SERVER_V6)
    }
}

/// A request with `padding` zero octets after its 12 (§3.7).
fn padded_request(client: IpAddr, identifier: u16, protocol: u8, padding: usize) -> Vec<u8> {
    support::padded_request(
        client,
        server_of(client),
        (identifier, 5, protocol, 0x3039),
        padding,
    )
}

fn verdict(server: &Server, client: IpAddr, identifier: u16) -> i32 {
    server
        .run(&padded_request(client, identifier, 17, 0))
        .expect("test run")
        .verdict
}

fn prefixes(items: &[&str]) -> std::collections::BTreeSet<Prefix> {
    items
        .iter()
        .map(|text| text.parse().expect("prefix"))
        .collect()
}

/// A new source starts with a quarter second of its rate (8/s: two
/// requests) besides its first, not its burst (§10.3).
#[test]
fn a_new_source_gets_a_quarter_second_then_is_dropped_silently() {
    let other_64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 0x10));
    for (client, other) in [(v4(10), v4(11)), (v6(0x10), other_64)] {
        let server = with_policy(Policy {
            source: Rate::new(8, 100).expect("rate"),
            ..Policy::default()
        });
        let verdicts: Vec<i32> = (1..=5).map(|id| verdict(&server, client, id)).collect();
        assert_eq!(
            verdicts,
            [REDIRECT, REDIRECT, REDIRECT, DROP, DROP],
            "{client}"
        );
        assert_eq!(verdict(&server, other, 1), REDIRECT, "another source");
        assert_eq!(server.counter(Counter::RateLimited).expect("counter"), 2);
        assert_eq!(server.sessions().expect("sessions").len(), 4);
    }
}

#[test]
fn a_prefix_shares_one_bucket() {
    // Same /24 or /48, then a source outside it.
    let cases = [
        (v4(10), v4(200), IpAddr::V4(Ipv4Addr::new(192, 0, 3, 10))),
        (
            v6(0x10),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0xffff, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10)),
        ),
    ];
    for (first, same_prefix, outside) in cases {
        // A quarter second at 4/s: one request besides the first.
        let server = with_policy(Policy {
            prefix: Rate::new(4, 100).expect("rate"),
            ..Policy::default()
        });
        let verdicts = [
            verdict(&server, first, 1),
            verdict(&server, same_prefix, 1),
            verdict(&server, same_prefix, 2),
            verdict(&server, outside, 1),
        ];
        assert_eq!(verdicts, [REDIRECT, REDIRECT, DROP, REDIRECT], "{first}");
        assert_eq!(server.counter(Counter::RateLimited).expect("counter"), 1);
    }
}

#[test]
fn lists_deny_and_allow_and_reload_in_place() {
    let mut server = server(Config::default());
    let client = v4(10);
    // (allow, deny, verdict for 192.0.2.10, 2001:db8::10 and 192.0.2.99)
    let cases: [(&[&str], &[&str], [i32; 3]); 5] = [
        (&[], &["192.0.2.10/32"], [DROP, REDIRECT, REDIRECT]),
        (&["203.0.113.0/24"], &[], [DROP, DROP, DROP]),
        (
            &["192.0.2.0/24", "2001:db8::/32"],
            &["192.0.2.10"],
            [DROP, REDIRECT, REDIRECT],
        ),
        (&["::/0"], &[], [REDIRECT, REDIRECT, REDIRECT]),
        (&[], &[], [REDIRECT, REDIRECT, REDIRECT]),
    ];
    let mut identifier = 0;
    let mut denied = 0;
    for (allow, deny, expected) in cases {
        let lists = Lists {
            allow: prefixes(allow),
            deny: prefixes(deny),
        };
        server
            .apply(&Policy::default(), &lists)
            .expect("policy applied");
        let verdicts = [v4(10), v6(0x10), v4(99)].map(|source| {
            identifier += 1;
            verdict(&server, source, identifier)
        });
        assert_eq!(verdicts, expected, "allow {allow:?} deny {deny:?}");
        denied += expected.iter().filter(|v| **v == DROP).count() as u64;
        assert_eq!(server.counter(Counter::Denied).expect("counter"), denied);
    }
    assert_eq!(
        verdict(&server, client, 999),
        REDIRECT,
        "everything was removed"
    );
}

#[test]
fn apply_reports_what_changed() {
    let mut server = server(Config::default());
    let apply = |server: &mut Server, allow: &[&str], deny: &[&str]| {
        let lists = Lists {
            allow: prefixes(allow),
            deny: prefixes(deny),
        };
        let changes = server
            .apply(&Policy::default(), &lists)
            .expect("policy applied");
        changes.iter().map(Change::to_string).collect::<Vec<_>>()
    };
    assert_eq!(
        apply(&mut server, &["192.0.2.0/24"], &["192.0.2.7"]),
        ["+deny 192.0.2.7/32", "+allow 192.0.2.0/24"]
    );
    assert_eq!(
        apply(&mut server, &["192.0.2.0/24"], &["2001:db8::/48"]),
        ["+deny 2001:db8::/48", "-deny 192.0.2.7/32"]
    );
    assert!(apply(&mut server, &["192.0.2.0/24"], &["2001:db8::/48"]).is_empty());
}

/// The reference client's unpadded request passes by default and is
/// refused with `refuse_unpadded` (`--no-amplification`); a request padded
/// to what it can cause passes both, one octet less does not.
#[test]
fn refusing_unpadded_requests_only_when_asked() {
    for client in [v4(10), v6(0x10)] {
        let family = Family::of(client);
        let mut server = server(Config::default());
        let header = if client.is_ipv4() { 20 } else { 40 };
        let run = |server: &Server, identifier, protocol, padding| {
            server
                .run(&padded_request(client, identifier, protocol, padding))
                .expect("test run")
                .verdict
        };
        assert_eq!(
            run(&server, 1, 6, 0),
            REDIRECT,
            "{client} unpadded, default"
        );
        assert_eq!(server.counter(Counter::Unpadded).expect("counter"), 1);
        let policy = Policy {
            refuse_unpadded: 1,
            ..Policy::default()
        };
        apply_policy(&mut server, &policy);
        assert_eq!(run(&server, 2, 6, 0), DROP, "{client} unpadded, refused");
        let mut identifier = 3;
        for protocol in [17, 6] {
            let padding = padded_len(family, protocol) - header - 12;
            let short = run(&server, identifier, protocol, padding - 1);
            let padded = run(&server, identifier + 1, protocol, padding);
            assert_eq!((short, padded), (DROP, REDIRECT), "{client} {protocol}");
            identifier += 2;
        }
        assert_eq!(
            server.counter(Counter::UnpaddedLimited).expect("counter"),
            3
        );
        assert_eq!(server.counter(Counter::Unpadded).expect("counter"), 1);
    }
}

/// The operator's minimum request size.
#[test]
fn the_minimum_size_drops_shorter_requests() {
    for client in [v4(10), v6(0x10)] {
        let header = if client.is_ipv4() { 20 } else { 40 };
        let server = with_policy(Policy {
            min_request_len: [40, 60],
            ..Policy::default()
        });
        let run = |identifier, padding| {
            server
                .run(&padded_request(client, identifier, 17, padding))
                .expect("test run")
                .verdict
        };
        let exact = 40 + usize::from(!client.is_ipv4()) * 20 - header - 12;
        assert_eq!(
            [run(1, exact - 1), run(2, exact)],
            [DROP, REDIRECT],
            "{client}"
        );
        assert_eq!(server.counter(Counter::TooShort).expect("counter"), 1);
    }
}

#[test]
fn protocols_not_offered_get_state_2() {
    for client in [v4(10), v6(0x10)] {
        let server = with_policy(Policy {
            refused_protocols: refused_protocols(&[reverse_tr_common::ProbeProtocol::Udp]),
            ..Policy::default()
        });
        for (identifier, protocol) in [(1, 6), (2, 0)] {
            let run = server
                .run(&padded_request(client, identifier, protocol, 0))
                .expect("test run");
            assert_eq!(run.verdict, REDIRECT);
            let response =
                reverse_tr_common::Response::decode(Family::of(client), &icmp_of(&run.frame))
                    .expect("a response");
            assert!(
                matches!(
                    response.outcome,
                    reverse_tr_common::Outcome::Refused {
                        state: reverse_tr_common::State::InvalidProtocol,
                        ..
                    }
                ),
                "{client} protocol {protocol}: {response:?}"
            );
        }
        assert_eq!(verdict(&server, client, 3), REDIRECT, "UDP is offered");
        assert_eq!(server.counter(Counter::ErrorResponses).expect("counter"), 2);
        assert_eq!(server.sessions().expect("sessions").len(), 1);
    }
}

/// The ICMP message of a frame.
fn icmp_of(frame: &[u8]) -> Vec<u8> {
    let packet = &frame[14..];
    let header = if packet[0] >> 4 == 4 {
        usize::from(packet[0] & 0x0f) * 4
    } else {
        40
    };
    packet[header..].to_vec()
}

/// §10.1: one request causes exactly one probe, its answer exactly one
/// response and nothing more, of the sizes of §5.8 and §7.7. Prints the
/// byte factor per protocol (README "Amplification").
#[test]
fn one_request_one_probe_one_response() {
    let mut table = Vec::new();
    for client in [v4(10), v6(0x10)] {
        let server_address = server_of(client);
        let v4 = client.is_ipv4();
        for (protocol, name, probe_len, answer) in [
            (1, "icmp", [36, 56], Answer::EchoReply),
            (17, "udp", [36, 56], Answer::PortUnreachable),
            (6, "tcp", [44, 64], Answer::Rst),
        ] {
            let server = server(Config::default());
            let protocol = if protocol == 1 && !v4 { 58 } else { protocol };
            let request = padded_request(client, 7, protocol, 0);
            let probe = server.run(&request).expect("test run");
            assert_eq!(probe.verdict, REDIRECT, "{client} {name}");
            let probe_ip = &probe.frame[14..];
            assert_eq!(
                probe_ip.len(),
                probe_len[usize::from(!v4)],
                "{client} {name}"
            );
            let answer = answer.frame(client, server_address, probe_ip);
            let response = server.run(&answer).expect("test run");
            assert_eq!(response.verdict, REDIRECT, "{client} {name} response");
            let response_len = response.frame.len() - 14;
            assert_eq!(response_len, if v4 { 56 } else { 76 });
            // The same answer again finds no session: no second response.
            assert_eq!(server.run(&answer).expect("test run").verdict, PASS);
            assert_eq!(server.counter(Counter::Probes).expect("counter"), 1);
            assert_eq!(server.counter(Counter::Responses).expect("counter"), 1);
            let request_len = request.len() - 14;
            let padded_len = request_len + 24;
            table.push(format!(
                "{:<4} {name:<4} request {request_len:>2} → probe {:>2} + response {response_len:>2}: ×{:.2} unpadded, ×{:.2} padded to {padded_len}",
                if v4 { "IPv4" } else { "IPv6" },
                probe_ip.len(),
                (probe_ip.len() + response_len) as f64 / request_len as f64,
                (probe_ip.len() + response_len) as f64 / padded_len as f64,
            ));
        }
    }
    println!("{}", table.join("\n"));
}
