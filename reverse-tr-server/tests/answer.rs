//! The answer path through BPF_PROG_TEST_RUN: every answer kind becomes the
//! exact response, once; answers that do not fit their session pass.
#![cfg(feature = "root-tests")]

mod support;

use std::net::IpAddr;

use reverse_tr_common::counter::Counter;
use reverse_tr_server::{Config, Server};
use support::*;

const IDENTIFIER: u16 = 0x0102;
const FLOW: u16 = 0x3039;

fn hex(octets: &[u8]) -> String {
    octets
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn mapped(address: IpAddr) -> [u8; 16] {
    match address {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Sends a request for a `protocol` probe and returns the probe packet
/// (without Ethernet).
fn probe(server: &Server, client: IpAddr, server_address: IpAddr, protocol: u8) -> Vec<u8> {
    let run = server
        .run(&request(
            client,
            server_address,
            IDENTIFIER,
            3,
            protocol,
            FLOW,
        ))
        .expect("test run");
    assert_eq!(run.verdict, REDIRECT);
    run.frame[14..].to_vec()
}

struct Case {
    name: &'static str,
    client: IpAddr,
    server: IpAddr,
    /// Request protocol field.
    protocol: u8,
    /// The answering hop.
    hop: IpAddr,
    answer: Answer,
}

fn cases() -> Vec<Case> {
    let (c4, s4, r4) = (
        IpAddr::V4(CLIENT_V4),
        IpAddr::V4(SERVER_V4),
        IpAddr::V4(ROUTER_V4),
    );
    let (c6, s6, r6) = (
        IpAddr::V6(CLIENT_V6),
        IpAddr::V6(SERVER_V6),
        IpAddr::V6(ROUTER_V6),
    );
    let mut cases = Vec::new();
    for (client, server, router, icmp) in [(c4, s4, r4, 1), (c6, s6, r6, 58)] {
        cases.extend([
            Case {
                name: "time exceeded, UDP",
                client,
                server,
                protocol: 17,
                hop: router,
                answer: Answer::TimeExceeded,
            },
            Case {
                name: "time exceeded, TCP",
                client,
                server,
                protocol: 6,
                hop: router,
                answer: Answer::TimeExceeded,
            },
            Case {
                name: "time exceeded, ICMP",
                client,
                server,
                protocol: icmp,
                hop: router,
                answer: Answer::TimeExceeded,
            },
            Case {
                name: "port unreachable",
                client,
                server,
                protocol: 17,
                hop: client,
                answer: Answer::PortUnreachable,
            },
            Case {
                name: "echo reply",
                client,
                server,
                protocol: icmp,
                hop: client,
                answer: Answer::EchoReply,
            },
            Case {
                name: "SYN-ACK",
                client,
                server,
                protocol: 6,
                hop: client,
                answer: Answer::SynAck,
            },
            Case {
                name: "RST",
                client,
                server,
                protocol: 6,
                hop: client,
                answer: Answer::Rst,
            },
        ]);
    }
    cases
}

fn expected_response(case: &Case) -> String {
    let hop = hex(&mapped(case.hop));
    let message = format!("00 01 ?? ?? 01 02 00 00 00 00 00 00 {hop} ?? ?? ?? ?? 00 00 00 00");
    match (case.server, case.client) {
        (IpAddr::V4(s), IpAddr::V4(c)) => format!(
            "{REPLY_ETHERNET_V4} 45 00 00 38 00 01 00 00 40 01 ?? ?? {} {} {message}",
            hex(&s.octets()),
            hex(&c.octets())
        ),
        (IpAddr::V6(s), IpAddr::V6(c)) => format!(
            "{REPLY_ETHERNET_V6} 60 00 00 00 00 24 3a 40 {} {} 81{}",
            hex(&s.octets()),
            hex(&c.octets()),
            &message[2..]
        ),
        _ => unreachable!("cases never mix families"),
    }
}

#[test]
fn every_answer_kind_becomes_the_exact_response_once() {
    for case in cases() {
        let context = format!("{} ({})", case.name, case.client);
        let server = server(Config::default());
        let probe = probe(&server, case.client, case.server, case.protocol);
        let answer = case.answer.frame(case.hop, case.server, &probe);
        let run = server.run(&answer).expect("test run");
        assert_eq!(run.verdict, REDIRECT, "{context}");
        assert_bytes(&run.frame, &expected_response(&case));
        assert_checksums(&run.frame);
        let span = u32::from_be_bytes(
            run.frame[run.frame.len() - 8..run.frame.len() - 4]
                .try_into()
                .expect("4"),
        );
        assert_ne!(span, 0, "{context}: the span is measured");
        assert!(
            server.sessions().expect("sessions").is_empty(),
            "{context}: session deleted"
        );
        assert_eq!(
            server.counter(Counter::Answers).expect("counter"),
            1,
            "{context}"
        );
        let resets = u64::from(case.name == "SYN-ACK");
        assert_eq!(
            server.counter(Counter::TcpResets).expect("counter"),
            resets,
            "{context}"
        );
        // The same answer again finds no session and passes untouched.
        let again = server.run(&answer).expect("test run");
        assert_eq!(
            (again.verdict, &again.frame),
            (PASS, &answer),
            "{context}: answered once only"
        );
        assert_eq!(
            server.counter(Counter::Responses).expect("counter"),
            1,
            "{context}"
        );
    }
}

#[test]
fn answers_that_do_not_fit_the_session_pass_and_keep_it() {
    let (client, server_address, router) = (
        IpAddr::V4(CLIENT_V4),
        IpAddr::V4(SERVER_V4),
        IpAddr::V4(ROUTER_V4),
    );
    let other = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 99));
    let server = server(Config::default());
    let probe = probe(&server, client, server_address, 17);
    let mut wrong_flow = probe.clone();
    wrong_flow[22..24].copy_from_slice(&FLOW.wrapping_add(1).to_be_bytes());
    let mut wrong_source = probe.clone();
    wrong_source[12..16].copy_from_slice(&[198, 51, 100, 99]);
    let mut wrong_protocol = probe.clone();
    wrong_protocol[9] = 6;
    let answers = [
        (
            "quoted flow differs (Q-32)",
            quoting(router, server_address, 11, 0, &wrong_flow),
        ),
        (
            "quoted source differs (Q-32)",
            quoting(router, server_address, 11, 0, &wrong_source),
        ),
        (
            "quoted protocol differs",
            quoting(router, server_address, 11, 0, &wrong_protocol),
        ),
        (
            "sent to another address",
            quoting(router, other, 11, 0, &probe),
        ),
        (
            "time exceeded code 1",
            quoting(router, server_address, 11, 1, &probe),
        ),
    ];
    for (name, answer) in answers {
        let run = server.run(&answer).expect("test run");
        assert_eq!((run.verdict, &run.frame), (PASS, &answer), "{name}");
        assert_eq!(
            server.sessions().expect("sessions").len(),
            1,
            "{name}: session kept"
        );
    }
    assert_eq!(server.counter(Counter::Answers).expect("counter"), 0);
}
