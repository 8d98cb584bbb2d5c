//! The interop proof: every packet of the reference captures
//! (/work/shared/vectors) decodes and matches, and our builders given the
//! same inputs reproduce the reference's probes, responses and requests
//! octet for octet.

mod common;

use std::collections::HashMap;
use std::net::IpAddr;

use common::{LAB_V4, LAB_V6, Lab, assert_checksums_verify, ip_packets};
use reverse_tr_common::forward::{FORWARD_MAX_LEN, FlowPlacement, ForwardProbe, match_forward};
use reverse_tr_common::packet::{IcmpMessage, IpPacket, TcpSegment, UdpDatagram, match_answer};
use reverse_tr_common::{
    Family, IpHeader, Ipv4Header, Ipv6Header, Outcome, PROBE_MAX_LEN, ProbeProtocol,
    REQUEST_MAX_LEN, RESPONSE_MAX_LEN, Request, Response, State,
};

/// What a walk over a reverse trace checked, to prove it checked something.
#[derive(Debug, Default)]
struct Seen {
    requests: usize,
    presence_checks: usize,
    probes: usize,
    answers: usize,
    successes: usize,
    refusals: usize,
    /// TTLs of the requests, in order.
    ttls: Vec<u8>,
}

/// The header fields `packet` passes on (§3.4, §7.6), with new addresses.
fn inherited(packet: &IpPacket<'_>, source: IpAddr, destination: IpAddr) -> IpHeader {
    match (packet.reply_header(), source, destination) {
        (IpHeader::V4(h), IpAddr::V4(source), IpAddr::V4(destination)) => {
            IpHeader::V4(Ipv4Header {
                source,
                destination,
                ..h
            })
        }
        (IpHeader::V6(h), IpAddr::V6(source), IpAddr::V6(destination)) => {
            IpHeader::V6(Ipv6Header {
                source,
                destination,
                ..h
            })
        }
        _ => panic!("family mismatch"),
    }
}

/// A request the walk has seen and not yet seen answered.
struct Pending {
    request: Request,
    packet: Vec<u8>,
    /// The answer packet and its hop, once seen (server side only).
    answer: Option<(Vec<u8>, IpAddr)>,
}

/// Walks a reverse UDP single-path trace (flow 1234) seen at the client
/// (`at_server` false) or at the server.
fn walk_reverse(name: &str, family: Family, lab: Lab, at_server: bool) -> Seen {
    let mut seen = Seen::default();
    let mut pending: HashMap<u16, Pending> = HashMap::new();
    for bytes in ip_packets(name) {
        let packet = IpPacket::new(&bytes).expect("IP packet");
        assert_eq!(packet.family(), family);
        let exact = &bytes[..packet_len(&packet)];
        let icmp = (packet.protocol() == family.icmp_protocol())
            .then(|| IcmpMessage::new(packet.payload()).expect("ICMP"));
        match icmp {
            Some(icmp) if icmp.icmp_type() == family.echo_request() => {
                let request = Request::decode(family, icmp.bytes()).expect("request decodes");
                assert_eq!(
                    (packet.source(), packet.destination()),
                    (lab.client, lab.server)
                );
                assert_eq!(request.sequence, 0);
                assert_eq!(request.header.protocol, 17);
                if request.header.ttl == 0 {
                    assert_eq!(
                        request.header.flow, 0,
                        "the presence check asks for the default flow"
                    );
                    seen.presence_checks += 1;
                } else {
                    assert_eq!(request.header.flow, 1234);
                    assert!((1..=5).contains(&request.header.ttl));
                }
                if !at_server {
                    // Our client builds the same request from the same inputs.
                    let mut out = [0; REQUEST_MAX_LEN];
                    let header = inherited(&packet, lab.client, lab.server);
                    let len = request.build(&header, 0, &mut out).expect("builds");
                    assert_eq!(&out[..len], exact, "request {}", request.identifier);
                }
                seen.ttls.push(request.header.ttl);
                pending.insert(
                    request.identifier,
                    Pending {
                        request,
                        packet: exact.to_vec(),
                        answer: None,
                    },
                );
                seen.requests += 1;
            }
            Some(icmp) if icmp.icmp_type() == family.echo_reply() => {
                assert_eq!(icmp.code(), 1, "only responses are echo replies here");
                assert_eq!(
                    (packet.source(), packet.destination()),
                    (lab.server, lab.client)
                );
                let response = Response::decode(family, icmp.bytes()).expect("response decodes");
                let sent = pending
                    .remove(&response.identifier)
                    .expect("response to a pending request");
                assert_eq!(response.sequence, 0);
                let request_packet = IpPacket::new(&sent.packet).expect("request packet");
                match response.outcome {
                    Outcome::Refused { state, reserved } => {
                        assert_eq!(
                            sent.request.header.ttl, 0,
                            "only the presence check is refused"
                        );
                        assert_eq!((state, reserved), (State::InvalidTtl, [0, 0]));
                        seen.refusals += 1;
                    }
                    Outcome::Hop { address, span_ns } => {
                        assert!(
                            lab.reverse_hops(sent.request.header.ttl).contains(&address),
                            "hop {address} at TTL {}",
                            sent.request.header.ttl
                        );
                        assert!(span_ns > 0 && span_ns < 1_000_000_000, "span {span_ns} ns");
                        if let Some((_, hop)) = &sent.answer {
                            assert_eq!(*hop, address, "the response reports the answer's source");
                        }
                        seen.successes += 1;
                    }
                }
                // Our server builds the same response: the error from the
                // request, the success from the answer packet.
                let header = match (&response.outcome, &sent.answer) {
                    (Outcome::Refused { .. }, _) => request_packet.reply_header(),
                    (Outcome::Hop { .. }, Some((answer, _))) => {
                        let answer = IpPacket::new(answer).expect("answer");
                        inherited(&answer, answer.destination(), lab.client)
                    }
                    (Outcome::Hop { .. }, None) => {
                        assert!(!at_server, "the server sees every answer");
                        // At the client only the message can be compared.
                        let mut out = [0; 36];
                        let len = response.write_message(&request_packet.reply_header(), &mut out);
                        assert_eq!(&out[..len], icmp.bytes());
                        continue;
                    }
                };
                let mut out = [0; RESPONSE_MAX_LEN];
                let len = response.build(&header, &mut out);
                if at_server {
                    assert_eq!(&out[..len], exact, "response {}", response.identifier);
                } else {
                    let header_len = len - icmp.bytes().len();
                    assert_eq!(
                        &out[header_len..len],
                        icmp.bytes(),
                        "response message {}",
                        response.identifier
                    );
                }
            }
            Some(icmp) if family == Family::V6 && (133..=137).contains(&icmp.icmp_type()) => {
                // Neighbour discovery, not part of the protocol.
            }
            Some(icmp) => {
                // An ICMP error quoting a probe.
                let answer = match_answer(&packet).expect("the error matches a probe");
                assert!(reverse_tr_common::is_quoting_error(
                    family,
                    icmp.icmp_type(),
                    icmp.code()
                ));
                assert_eq!(answer.probe.session, lab.client);
                assert_eq!(answer.probe.source, Some(lab.server));
                assert_eq!(answer.probe.flow, Some(1234));
                assert_eq!(answer.probe.protocol, ProbeProtocol::Udp);
                let sent = pending
                    .get_mut(&answer.probe.identifier)
                    .expect("answers a pending request");
                assert!(
                    lab.reverse_hops(sent.request.header.ttl)
                        .contains(&answer.hop)
                );
                sent.answer = Some((exact.to_vec(), answer.hop));
                seen.answers += 1;
            }
            None => {
                // A probe: UDP from the server's port 1021.
                let udp = UdpDatagram::new(packet.payload()).expect("UDP");
                assert_eq!(udp.source_port(), 1021);
                assert_eq!(udp.destination_port(), 1234);
                let sent = pending
                    .get(&udp.checksum())
                    .expect("the probe carries a pending identifier");
                let random: [u8; 6] = udp.payload()[..6].try_into().expect("six random octets");
                let probe = sent.request.probe(family, random).expect("a valid request");
                if at_server {
                    let mut out = [0; PROBE_MAX_LEN];
                    let header = IpPacket::new(&sent.packet).expect("request").reply_header();
                    let len = probe.build(&header, &mut out);
                    assert_eq!(&out[..len], exact, "probe {}", probe.identifier);
                    assert_checksums_verify(&out[..len]);
                } else {
                    // Routers changed the TTL; the transport part is intact.
                    let mut out = [0; 24];
                    let header = inherited(&packet, lab.server, lab.client);
                    let len = probe.write_transport(&header, &mut out);
                    assert_eq!(&out[..len], packet.payload());
                }
                seen.probes += 1;
            }
        }
    }
    seen
}

/// Octets of the IP packet without link-layer padding.
fn packet_len(packet: &IpPacket<'_>) -> usize {
    match packet {
        IpPacket::V4(p) => usize::from(p.total_length()),
        IpPacket::V6(p) => 40 + usize::from(p.payload_length()),
    }
}

#[test]
fn reverse_udp_traces() {
    let cases = [
        ("v4-reverse-udp-sp.srv.pcap", Family::V4, LAB_V4, true),
        ("v4-reverse-udp-sp.cli.pcap", Family::V4, LAB_V4, false),
        ("v6-reverse-udp-sp.srv.pcap", Family::V6, LAB_V6, true),
        ("v6-reverse-udp-sp.cli.pcap", Family::V6, LAB_V6, false),
    ];
    for (name, family, lab, at_server) in cases {
        let seen = walk_reverse(name, family, lab, at_server);
        println!("{name}: {seen:?}");
        assert_eq!(seen.presence_checks, 1, "{name}");
        // The presence check, then three requests per TTL until the client answers.
        assert_eq!(
            seen.ttls,
            [0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5],
            "{name}"
        );
        assert_eq!(seen.refusals, 1, "{name}");
        assert_eq!(
            seen.requests,
            seen.successes + seen.refusals,
            "{name}: every request answered"
        );
        assert!(seen.probes >= 3 && seen.answers >= 3, "{name}: {seen:?}");
        if at_server {
            assert_eq!(seen.probes, seen.successes, "{name}: one probe per success");
            assert_eq!(
                seen.answers, seen.successes,
                "{name}: one answer per success"
            );
        }
    }
}

/// Walks a forward TCP single-path trace (flow 1234): every probe is
/// reproduced by our forward-probe builder, every answer matches a probe.
fn walk_forward(name: &str, family: Family, lab: Lab) -> (usize, usize) {
    let (mut probes, mut answers) = (0, 0);
    // probe id → TTL of the probe sent with it
    let mut sent: HashMap<u16, u8> = HashMap::new();
    // At the server the four routers have decremented the probes' TTL.
    let at_server = name.contains(".srv.");
    let decrements = if at_server { 4 } else { 0 };
    for bytes in ip_packets(name) {
        let packet = IpPacket::new(&bytes).expect("IP packet");
        let exact = &bytes[..packet_len(&packet)];
        if packet.protocol() == 6 && packet.source() == lab.client {
            let tcp = TcpSegment::new(packet.payload()).expect("TCP");
            let probe = ForwardProbe {
                protocol: ProbeProtocol::Tcp,
                ttl: packet.ttl() + decrements,
                flow: tcp.destination_port(),
                placement: FlowPlacement::DestinationPort,
                probe_id: u16::try_from(tcp.sequence()).expect("16-bit probe id"),
                icmp_identifier: 0,
            };
            assert_eq!(probe.flow, 1234);
            let mut out = [0; FORWARD_MAX_LEN];
            let header = inherited(&packet, lab.client, lab.server);
            let len = probe.build(&header, &mut out);
            // At the server the TTL decrements changed the IP header.
            let from = if at_server { len - 20 } else { 0 };
            assert_eq!(
                &out[from..len],
                &exact[from..],
                "forward probe {}",
                probe.probe_id
            );
            assert_checksums_verify(&out[..len]);
            sent.insert(probe.probe_id, probe.ttl);
            probes += 1;
        } else if packet.destination() == lab.client || packet.source() == lab.server {
            if family == Family::V6
                && packet.protocol() == 58
                && IcmpMessage::new(packet.payload())
                    .expect("ICMPv6")
                    .icmp_type()
                    >= 133
            {
                continue;
            }
            let answer = match_forward(&packet, FlowPlacement::DestinationPort)
                .expect("the answer matches a forward probe");
            assert_eq!(answer.target, lab.server);
            assert_eq!(answer.protocol, ProbeProtocol::Tcp);
            assert_eq!(answer.flow, Some(1234));
            let ttl = *sent
                .get(&answer.probe_id)
                .expect("answers a probe sent before");
            assert!(
                lab.forward_hops(ttl).contains(&answer.hop),
                "hop {} for TTL {ttl}",
                answer.hop
            );
            answers += 1;
        }
    }
    (probes, answers)
}

#[test]
fn forward_tcp_traces() {
    let cases = [
        ("v4-forward-tcp-sp.cli.pcap", Family::V4, LAB_V4),
        ("v4-forward-tcp-sp.srv.pcap", Family::V4, LAB_V4),
        ("v6-forward-tcp-sp.cli.pcap", Family::V6, LAB_V6),
        ("v6-forward-tcp-sp.srv.pcap", Family::V6, LAB_V6),
    ];
    for (name, family, lab) in cases {
        let (probes, answers) = walk_forward(name, family, lab);
        println!("{name}: {probes} probes, {answers} answers");
        assert!(probes >= 3, "{name}");
        assert_eq!(probes, answers, "{name}: every probe answered");
    }
}
