//! End to end in the lab (reverse_tr_lab): the real daemon attached to the
//! server's eth0 answers requests sent from the client namespace with the
//! lab's true reverse hops, for every protocol and family.
#![cfg(feature = "root-tests")]

mod support;

use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    sync::atomic::{AtomicU16, Ordering},
    thread,
    time::{Duration, Instant},
};

use reverse_tr_common::{
    Family as WireFamily, IpHeader, Ipv4Header, Ipv6Header, Outcome, Request, RequestHeader,
    Response,
    constants::{PROTOCOL_TCP, PROTOCOL_UDP},
    request::REQUEST_MESSAGE_MAX_LEN,
};
use reverse_tr_lab::{Family, Host, Lab, LabConfig};
use socket2::{Domain, Protocol, Socket, Type};
use support::{Daemon, inside};

/// Identifiers unique within the test process.
static NEXT_IDENTIFIER: AtomicU16 = AtomicU16::new(1);

/// Starts the daemon; ready once the TTL-0 presence check gets its error
/// response (§12.2 item 4).
fn start_daemon(lab: &Lab) -> Daemon {
    let daemon = Daemon::spawn(lab, &["--timeout", "2s", "eth0"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    for family in [Family::V4, Family::V6] {
        while !matches!(
            ask(lab, family, 0, PROTOCOL_UDP, 1),
            Some(Outcome::Refused { .. })
        ) {
            assert!(
                Instant::now() < deadline,
                "the daemon never answered in {family:?}"
            );
        }
    }
    daemon
}

/// Sends one request from the client to the server and waits up to 2 s for
/// its response.
fn ask(lab: &Lab, family: Family, ttl: u8, protocol: u8, flow: u16) -> Option<Outcome> {
    let client = lab.addr(Host::Client, family);
    let server = lab.addr(Host::Server, family);
    let identifier = NEXT_IDENTIFIER.fetch_add(1, Ordering::Relaxed);
    let (wire_family, domain, icmp, ip) = match (client, server) {
        (IpAddr::V4(source), IpAddr::V4(destination)) => (
            WireFamily::V4,
            Domain::IPV4,
            Protocol::ICMPV4,
            IpHeader::V4(Ipv4Header {
                source,
                destination,
                tos: 0,
                identification: 1,
                flags_fragment: 0,
            }),
        ),
        (IpAddr::V6(source), IpAddr::V6(destination)) => (
            WireFamily::V6,
            Domain::IPV6,
            Protocol::ICMPV6,
            IpHeader::V6(Ipv6Header {
                source,
                destination,
                traffic_class: 0,
                flow_label: 0,
            }),
        ),
        _ => unreachable!("the lab gives one family per call"),
    };
    let request = Request {
        identifier,
        sequence: 0,
        header: RequestHeader {
            ttl,
            protocol,
            flow,
        },
    };
    let mut message = [0u8; REQUEST_MESSAGE_MAX_LEN];
    let len = request
        .write_message(&ip, 0, &mut message)
        .expect("a request");
    inside(lab, Host::Client, || {
        let socket: UdpSocket = Socket::new(domain, Type::RAW, Some(icmp))
            .expect("a raw socket")
            .into();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        socket
            .send_to(&message[..len], SocketAddr::new(server, 0))
            .expect("sent");
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut buffer = [0u8; 1500];
        while Instant::now() < deadline {
            let Ok((received, from)) = socket.recv_from(&mut buffer) else {
                continue;
            };
            // IPv4 raw sockets deliver the IP header too.
            let skip = if client.is_ipv4() {
                usize::from(buffer[0] & 0x0f) * 4
            } else {
                0
            };
            let Some(icmp) = buffer.get(skip..received) else {
                continue;
            };
            if let Ok(response) = Response::decode(wire_family, icmp)
                && response.identifier == identifier
                && from.ip() == server
            {
                return Some(response.outcome);
            }
        }
        None
    })
}

/// Traces the reverse path with `protocol` and checks every hop against the
/// lab's expected reverse hops.
fn assert_reverse_path(lab: &Lab, family: Family, protocol: u8) {
    let expected = lab.expected_reverse_hops(family);
    for (&ttl, allowed) in &expected {
        let outcome = ask(lab, family, ttl, protocol, 1234);
        let context = format!("{family:?} protocol {protocol} TTL {ttl}");
        match outcome {
            Some(Outcome::Hop { address, span_ns }) => {
                assert!(
                    allowed.contains(&address),
                    "{context}: {address} is not one of {allowed:?}"
                );
                assert!(span_ns > 0, "{context}: no span");
            }
            other => panic!("{context}: {other:?}"),
        }
    }
}

#[test]
fn the_daemon_answers_with_the_true_reverse_hops() {
    let lab = Lab::up(LabConfig::default()).expect("the lab comes up");
    let daemon = start_daemon(&lab);
    for family in [Family::V4, Family::V6] {
        for protocol in [PROTOCOL_UDP, PROTOCOL_TCP, 0] {
            assert_reverse_path(&lab, family, protocol);
        }
    }
    assert!(daemon.stop().success(), "SIGTERM exits 0");
}

#[test]
fn the_asymmetric_lab_shows_the_other_reverse_path() {
    let lab = Lab::up(LabConfig {
        asymmetric: true,
        ..LabConfig::default()
    })
    .expect("the lab comes up");
    let _daemon = start_daemon(&lab);
    for family in [Family::V4, Family::V6] {
        assert!(
            lab.expected_reverse_hops(family)
                .values()
                .any(|hops| hops.contains(&lab.addr(Host::R5, family)))
        );
        assert_reverse_path(&lab, family, PROTOCOL_UDP);
    }
}

/// The client's SYN-ACK to a TCP probe is handed to the server's host
/// stack, whose RST ends the client's half-open connection at once instead
/// of leaving it retransmitting SYN-ACKs.
#[test]
fn a_syn_ack_answer_is_reset_by_the_server_host() {
    let lab = Lab::up(LabConfig::default()).expect("the lab comes up");
    let _daemon = start_daemon(&lab);
    let client = lab.addr(Host::Client, Family::V4);
    inside(&lab, Host::Client, || {
        let listener =
            std::net::TcpListener::bind(SocketAddr::new(client, 8080)).expect("listening");
        let outcome = ask(&lab, Family::V4, 5, PROTOCOL_TCP, 8080);
        assert!(
            matches!(outcome, Some(Outcome::Hop { address, .. }) if address == client),
            "{outcome:?}"
        );
        // A reset half-open connection never reaches the accept queue and
        // leaves no SYN-RECV entry; a live one would be accepted.
        listener.set_nonblocking(true).expect("nonblocking");
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            assert!(
                listener.accept().is_err(),
                "the connection was completed, not reset"
            );
            thread::sleep(Duration::from_millis(50));
        }
        let syn_recv = lab
            .command(Host::Client, "ss")
            .args(["-Htn", "state", "syn-recv", "sport", "= :8080"])
            .output()
            .expect("ss runs");
        assert!(
            syn_recv.stdout.is_empty(),
            "half-open: {}",
            String::from_utf8_lossy(&syn_recv.stdout)
        );
    });
}

/// A SYN-ACK from a host behind veths arrives CHECKSUM_PARTIAL; if the
/// server's interface then finishes checksums in software, the kernel
/// would write one into the response's hop address unless the program
/// drops that state (measured: without it neither family's response
/// arrives).
#[test]
fn responses_to_checksum_partial_answers_stay_intact() {
    let lab = Lab::up(LabConfig::default()).expect("the lab comes up");
    let ethtool = |host, tx| {
        let status = lab
            .command(host, "ethtool")
            .args(["-K", "eth0", "tx", tx])
            .status()
            .expect("ethtool runs");
        assert!(status.success(), "ethtool -K eth0 tx {tx}");
    };
    ethtool(Host::Client, "on");
    ethtool(Host::Server, "off");
    let _daemon = start_daemon(&lab);
    for family in [Family::V4, Family::V6] {
        let client = lab.addr(Host::Client, family);
        inside(&lab, Host::Client, || {
            let _listener =
                std::net::TcpListener::bind(SocketAddr::new(client, 8080)).expect("listening");
            let outcome = ask(&lab, family, 5, PROTOCOL_TCP, 8080);
            assert!(
                matches!(outcome, Some(Outcome::Hop { address, .. }) if address == client),
                "{family:?}: {outcome:?}"
            );
        });
    }
}
