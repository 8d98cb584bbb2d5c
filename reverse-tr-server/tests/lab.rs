//! End to end in the lab (reverse_tr_lab): the real daemon attached to the
//! server's eth0 answers requests sent from the client namespace with the
//! lab's true reverse hops, for every protocol and family, and only
//! requests to eth0's addresses as they come and go; every packet a
//! request causes is counted on the wire (the amplification table).
#![cfg(feature = "root-tests")]

mod support;

use std::{
    net::{IpAddr, SocketAddr},
    thread,
    time::{Duration, Instant},
};

use reverse_tr_common::{
    Outcome,
    constants::{PROTOCOL_TCP, PROTOCOL_UDP},
    policy::padded_len,
};
use reverse_tr_lab::{Family, Host, Lab, LabConfig};
use socket2::{Domain, Protocol, Socket, Type};
use support::{
    Daemon, METRICS, ask_to, inside, ip_in, metric, metrics, padding, request_len, wire_family,
};

/// Starts the daemon; ready once the TTL-0 presence check gets its error
/// response (§12.2 item 4). The tests send the reference client's
/// unpadded requests faster than it does, so the unpadded budgets are off
/// (tests/policy.rs tests them).
fn start_daemon(lab: &Lab) -> Daemon {
    start_daemon_with(
        lab,
        &["--unpadded-rate", "0", "--unpadded-source-rate", "0"],
    )
}

/// Starts the daemon with `limits` over the defaults.
fn start_daemon_with(lab: &Lab, limits: &[&str]) -> Daemon {
    let args = [
        &["--timeout", "2s", "--metrics", METRICS],
        limits,
        &["eth0"],
    ]
    .concat();
    let daemon = Daemon::spawn(lab, &args);
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
    ask_to(lab, lab.addr(Host::Server, family), ttl, protocol, flow, 0)
}

/// Traces the reverse path with `protocol`, a request every `pace`, and
/// checks every hop against the lab's expected reverse hops.
fn assert_reverse_path(lab: &Lab, family: Family, protocol: u8, pace: Duration) {
    let expected = lab.expected_reverse_hops(family);
    for (&ttl, allowed) in &expected {
        thread::sleep(pace);
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
            assert_reverse_path(&lab, family, protocol, Duration::ZERO);
        }
    }
    assert!(daemon.stop().success(), "SIGTERM exits 0");
}

/// The reference client's requests are unpadded and come 10 a second: the
/// default limits (a small server-wide budget of unpadded requests, 10 a
/// second per source) serve every one of them, in every protocol and
/// family.
#[test]
fn the_reference_clients_requests_are_served_under_the_default_limits() {
    let lab = Lab::up(LabConfig::default()).expect("the lab comes up");
    let daemon = start_daemon_with(&lab, &[]);
    for family in [Family::V4, Family::V6] {
        for protocol in [PROTOCOL_UDP, PROTOCOL_TCP, 0] {
            assert_reverse_path(&lab, family, protocol, Duration::from_millis(100));
        }
    }
    let scraped = metrics(&lab).expect("metrics");
    assert_eq!(metric(&scraped, "reverse_tr_unpadded_limited_total"), 0);
    assert!(metric(&scraped, "reverse_tr_unpadded_total") >= 2 * 3 * 4);
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
        assert_reverse_path(&lab, family, PROTOCOL_UDP, Duration::ZERO);
    }
}

/// The client's SYN-ACK to a TCP probe is handed to the server's host
/// stack, whose RST ends the client's half-open connection at once instead
/// of leaving it retransmitting SYN-ACKs (Q-10).
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

/// The program serves requests only to the addresses of the interfaces it
/// is attached to, which the daemon follows: an address added to eth0 is
/// served, and once removed its requests are refused as not local (the
/// router keeps delivering them: its neighbour entry is made permanent).
#[test]
fn requests_are_served_only_to_the_interfaces_current_addresses() {
    let lab = Lab::up(LabConfig::default()).expect("the lab comes up");
    let _daemon = start_daemon(&lab);
    let not_local = || metrics(&lab).map_or(0, |m| metric(&m, "reverse_tr_not_local_total"));
    let mac = ip_in(&lab, Host::Server, &["-br", "link", "show", "eth0"]);
    let mac = mac
        .split_whitespace()
        .nth(2)
        .expect("eth0's MAC")
        .to_owned();
    for (family, extra, prefix_len) in [
        (Family::V4, "10.0.7.201", "24"),
        (Family::V6, "fd00:0:7::201", "64"),
    ] {
        let address: IpAddr = extra.parse().expect("an address");
        let route = ip_in(&lab, Host::R4, &["route", "get", extra]);
        let words: Vec<&str> = route.split_whitespace().collect();
        let device = words[words.iter().position(|w| *w == "dev").expect("dev") + 1];
        ip_in(
            &lab,
            Host::R4,
            &[
                "neigh",
                "replace",
                extra,
                "lladdr",
                &mac,
                "dev",
                device,
                "nud",
                "permanent",
            ],
        );
        let with_address = format!("{extra}/{prefix_len}");
        let mut add = vec!["address", "add", with_address.as_str(), "dev", "eth0"];
        if family == Family::V6 {
            add.push("nodad");
        }
        ip_in(&lab, Host::Server, &add);
        // Served as soon as the daemon has seen the address event.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let outcome = ask_to(&lab, address, 1, PROTOCOL_UDP, 1234, 0);
            if matches!(outcome, Some(Outcome::Hop { .. })) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{family:?}: {extra} added to eth0 was never served: {outcome:?}"
            );
        }
        ip_in(
            &lab,
            Host::Server,
            &["address", "del", &with_address, "dev", "eth0"],
        );
        let before = not_local();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let outcome = ask_to(&lab, address, 1, PROTOCOL_UDP, 1234, 0);
            // Refused once the daemon has seen the removal; counted as such.
            if outcome.is_none() && not_local() > before {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{family:?}: {extra} removed from eth0 was not refused as not local: {outcome:?}"
            );
        }
    }
}

/// One kind of request for the amplification table.
struct Kind {
    family: Family,
    protocol: u8,
    /// TCP: whether the probed port has a listener (its SYN-ACK makes the
    /// server host send a RST too).
    open: bool,
    padded: bool,
}

/// What one request made the server host send to its source: packets and
/// IP octets, captured on the client's eth0 until a second after the
/// response.
fn caused_by(lab: &Lab, kind: &Kind) -> (usize, usize, usize, Option<Outcome>) {
    let client = lab.addr(Host::Client, kind.family);
    let server = lab.addr(Host::Server, kind.family);
    let request_len = request_len(kind.family);
    let padding = match kind.padded {
        true => padding(kind.family, kind.protocol),
        false => 0,
    };
    let port = if kind.open { 8080 } else { 8081 };
    inside(lab, Host::Client, || {
        let _listener = kind.open.then(|| {
            std::net::TcpListener::bind(SocketAddr::new(client, port)).expect("listening")
        });
        // Cooked packets of every protocol: each starts at its IP header.
        let all = i32::from((libc::ETH_P_ALL as u16).to_be());
        let capture = Socket::new(Domain::PACKET, Type::DGRAM, Some(Protocol::from(all)))
            .expect("a packet socket");
        capture
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let outcome = ask_to(lab, server, 30, kind.protocol, port, padding);
        let (mut packets, mut octets) = (0, 0);
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut buffer = [std::mem::MaybeUninit::new(0u8); 2048];
        while Instant::now() < deadline {
            let Ok(len) = capture.recv(&mut buffer) else {
                continue;
            };
            // SAFETY: recv initialised the first `len` octets.
            let packet: Vec<u8> = buffer[..len]
                .iter()
                .map(|octet| unsafe { octet.assume_init() })
                .collect();
            let addresses = match packet.first().map(|first| first >> 4) {
                Some(4) if len >= 20 => Some((
                    IpAddr::from(<[u8; 4]>::try_from(&packet[12..16]).expect("4")),
                    IpAddr::from(<[u8; 4]>::try_from(&packet[16..20]).expect("4")),
                )),
                Some(6) if len >= 40 => Some((
                    IpAddr::from(<[u8; 16]>::try_from(&packet[8..24]).expect("16")),
                    IpAddr::from(<[u8; 16]>::try_from(&packet[24..40]).expect("16")),
                )),
                _ => None,
            };
            if addresses == Some((server, client)) {
                packets += 1;
                octets += len;
            }
        }
        (request_len + padding, packets, octets, outcome)
    })
}

/// Every packet a request causes its source to receive, counted on the
/// wire: the probe, the response and, for a TCP probe to an open port, the
/// server host's RST. One request never causes more than those three, and
/// a padded request (§3.7: as long as everything it can cause) never
/// causes more octets than it has. Prints the README's amplification table.
#[test]
fn every_packet_a_request_causes_is_counted() {
    let lab = Lab::up(LabConfig::default()).expect("the lab comes up");
    let _daemon = start_daemon(&lab);
    println!("| request | octets in | packets out | octets out | factor |");
    println!("|---|---|---|---|---|");
    for family in [Family::V4, Family::V6] {
        for (protocol, open) in [
            (0, false),
            (PROTOCOL_UDP, false),
            (PROTOCOL_TCP, false),
            (PROTOCOL_TCP, true),
        ] {
            for padded in [false, true] {
                let kind = Kind {
                    family,
                    protocol,
                    open,
                    padded,
                };
                let (octets_in, packets, octets_out, outcome) = caused_by(&lab, &kind);
                let name = format!(
                    "{family:?} {}{}{}",
                    match protocol {
                        PROTOCOL_UDP => "UDP",
                        PROTOCOL_TCP => "TCP",
                        _ => "ICMP",
                    },
                    match (protocol, open) {
                        (PROTOCOL_TCP, true) => " open port",
                        (PROTOCOL_TCP, false) => " closed port",
                        _ => "",
                    },
                    if padded { ", padded" } else { ", unpadded" },
                );
                println!(
                    "| {name} | {octets_in} | {packets} | {octets_out} | ×{:.2} |",
                    octets_out as f64 / octets_in as f64
                );
                assert!(
                    matches!(outcome, Some(Outcome::Hop { .. })),
                    "{name}: {outcome:?}"
                );
                let expected = if open { 3 } else { 2 };
                assert_eq!(packets, expected, "{name}: probe, response (and RST)");
                if octets_in >= padded_len(wire_family(family), protocol) {
                    assert!(
                        octets_out <= octets_in,
                        "{name}: {octets_out} octets out for {octets_in} in"
                    );
                }
            }
        }
    }
}
