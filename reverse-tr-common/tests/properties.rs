//! Property tests: every builder's output decodes back to its input, its
//! checksums verify by an independent computation, and answers to every
//! kind of probe match back to it. Decoders never panic on arbitrary input.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::assert_checksums_verify;
use proptest::prelude::*;
use reverse_tr_common::forward::{FORWARD_MAX_LEN, FlowPlacement, ForwardProbe, match_forward};
use reverse_tr_common::packet::{IpPacket, match_answer};
use reverse_tr_common::request::REQUEST_MAX_PADDING;
use reverse_tr_common::{
    Family, IpHeader, Ipv4Header, Ipv6Header, Outcome, PROBE_MAX_LEN, Probe, ProbeProtocol,
    REQUEST_MAX_LEN, RESPONSE_MAX_LEN, Request, RequestHeader, Response, State,
};

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::V4), Just(Family::V6)]
}

/// Either flow placement, the source-port one towards any service port.
fn placement() -> impl Strategy<Value = FlowPlacement> {
    prop_oneof![
        Just(FlowPlacement::DestinationPort),
        any::<u16>().prop_map(|destination_port| FlowPlacement::SourcePort { destination_port }),
    ]
}

fn protocol() -> impl Strategy<Value = ProbeProtocol> {
    prop_oneof![
        Just(ProbeProtocol::Icmp),
        Just(ProbeProtocol::Udp),
        Just(ProbeProtocol::Tcp)
    ]
}

/// An IP header template of `family` with arbitrary addresses and inherited fields.
fn header(family: Family) -> BoxedStrategy<IpHeader> {
    match family {
        Family::V4 => (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
        )
            .prop_map(|(s, d, tos, identification, flags_fragment)| {
                IpHeader::V4(Ipv4Header {
                    source: Ipv4Addr::from(s),
                    destination: Ipv4Addr::from(d),
                    tos,
                    identification,
                    flags_fragment,
                })
            })
            .boxed(),
        Family::V6 => (
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<u8>(),
            0u32..1 << 20,
        )
            .prop_map(|(s, d, traffic_class, flow_label)| {
                IpHeader::V6(Ipv6Header {
                    source: Ipv6Addr::from(s),
                    destination: Ipv6Addr::from(d),
                    traffic_class,
                    flow_label,
                })
            })
            .boxed(),
    }
}

fn any_header() -> impl Strategy<Value = IpHeader> {
    family().prop_flat_map(header)
}

fn addresses(header: &IpHeader) -> (IpAddr, IpAddr) {
    match header {
        IpHeader::V4(h) => (IpAddr::V4(h.source), IpAddr::V4(h.destination)),
        IpHeader::V6(h) => (IpAddr::V6(h.source), IpAddr::V6(h.destination)),
    }
}

/// An address of the header's family (a hop).
fn hop_of(family: Family) -> BoxedStrategy<IpAddr> {
    match family {
        Family::V4 => any::<[u8; 4]>()
            .prop_map(|o| IpAddr::V4(Ipv4Addr::from(o)))
            .boxed(),
        Family::V6 => any::<[u8; 16]>()
            .prop_map(|o| IpAddr::V6(Ipv6Addr::from(o)))
            .boxed(),
    }
}

/// An ICMP Time Exceeded from `router` quoting the first `quoted` octets
/// (IP header + 8 transport octets) of `probe`, written independently.
fn time_exceeded(family: Family, router: IpAddr, probe: &[u8]) -> Vec<u8> {
    let header_len = if family == Family::V4 { 20 } else { 40 };
    let quote = &probe[..header_len + 8];
    let mut icmp = vec![
        if family == Family::V4 { 11 } else { 3 },
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    icmp.extend_from_slice(quote);
    let server = match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(
            <[u8; 4]>::try_from(&probe[12..16]).expect("4"),
        )),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(&probe[8..24]).expect("16"),
        )),
    };
    wrap(
        router,
        server,
        if family == Family::V4 { 1 } else { 58 },
        &icmp,
    )
}

/// An IP packet from `source` to `destination` around `payload`
/// (checksums left zero: matching does not verify them).
fn wrap(source: IpAddr, destination: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut packet = match (source, destination) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = u16::try_from(20 + payload.len()).expect("small");
            let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, protocol, 0, 0];
            p[2..4].copy_from_slice(&total.to_be_bytes());
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let length = u16::try_from(payload.len()).expect("small");
            let mut p = vec![0x60, 0, 0, 0, 0, 0, protocol, 64];
            p[4..6].copy_from_slice(&length.to_be_bytes());
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p
        }
        _ => panic!("family mismatch"),
    };
    packet.extend_from_slice(payload);
    packet
}

/// Strategy: a probe (flow possibly 0) and a header to send it with.
fn probe_and_header() -> impl Strategy<Value = (Probe, IpHeader)> {
    (
        protocol(),
        1u8..,
        prop_oneof![Just(0u16), any::<u16>()],
        any::<u16>(),
        any::<[u8; 6]>(),
        any_header(),
    )
        .prop_map(|(protocol, ttl, flow, identifier, random, header)| {
            (
                Probe {
                    protocol,
                    ttl,
                    flow,
                    identifier,
                    random,
                },
                header,
            )
        })
}

proptest! {
    #[test]
    fn request_round_trip(
        (header, identifier, sequence, ttl, protocol, flow, padding) in
            (any_header(), any::<u16>(), any::<u16>(), any::<u8>(), any::<u8>(), any::<u16>(), 0..=REQUEST_MAX_PADDING)
    ) {
        let request = Request { identifier, sequence, header: RequestHeader { ttl, protocol, flow } };
        let mut out = [0; REQUEST_MAX_LEN];
        let len = request.build(&header, padding, &mut out).expect("padding within bounds");
        let packet = &out[..len];
        assert_checksums_verify(packet);
        let ip = IpPacket::new(packet).expect("IP packet");
        prop_assert_eq!(ip.payload().len(), 12 + padding);
        prop_assert!(ip.payload()[12..].iter().all(|&octet| octet == 0), "padding is zeros");
        prop_assert_eq!((ip.source(), ip.destination()), addresses(&header));
        prop_assert_eq!(ip.ttl(), 64);
        prop_assert_eq!(Request::decode(header.family(), ip.payload()), Ok(request));
    }

    #[test]
    fn success_response_round_trip(
        (header, hop, identifier, span_ns) in any_header().prop_flat_map(|h| (Just(h), hop_of(h.family()), any::<u16>(), any::<u64>()))
    ) {
        let response = Response { identifier, sequence: 0, outcome: Outcome::Hop { address: hop, span_ns } };
        let mut out = [0; RESPONSE_MAX_LEN];
        let len = response.build(&header, &mut out);
        let packet = &out[..len];
        assert_checksums_verify(packet);
        prop_assert_eq!(len, if header.family() == Family::V4 { 56 } else { 76 });
        let ip = IpPacket::new(packet).expect("IP packet");
        prop_assert_eq!(ip.ttl(), 64);
        // §7.5: the span travels modulo 2^32.
        let expected = Response { outcome: Outcome::Hop { address: hop, span_ns: span_ns & 0xFFFF_FFFF }, ..response };
        prop_assert_eq!(Response::decode(header.family(), ip.payload()), Ok(expected));
    }

    #[test]
    fn error_response_round_trip(
        (header, identifier, state, reserved) in (any_header(), any::<u16>(), 1u8..=4, any::<[u8; 2]>())
    ) {
        let state = State::try_from(state).expect("defined state");
        let response = Response { identifier, sequence: 0, outcome: Outcome::Refused { state, reserved } };
        let mut out = [0; RESPONSE_MAX_LEN];
        let len = response.build(&header, &mut out);
        assert_checksums_verify(&out[..len]);
        prop_assert_eq!(len, if header.family() == Family::V4 { 32 } else { 52 });
        let ip = IpPacket::new(&out[..len]).expect("IP packet");
        prop_assert_eq!(Response::decode(header.family(), ip.payload()), Ok(response));
    }

    #[test]
    fn probe_verifies_and_carries_its_fields((probe, header) in probe_and_header()) {
        let family = header.family();
        let mut out = [0; PROBE_MAX_LEN];
        let len = probe.build(&header, &mut out);
        let packet = &out[..len];
        assert_checksums_verify(packet);
        let ip = IpPacket::new(packet).expect("IP packet");
        prop_assert_eq!(ip.ttl(), probe.ttl);
        prop_assert_eq!(ip.protocol(), probe.protocol.number(family));
        prop_assert_eq!(ip.payload().len(), probe.protocol.transport_len());
        let transport = ip.payload();
        // §2: the server's defaults for flow 0.
        let flow = match (probe.flow, probe.protocol) {
            (0, ProbeProtocol::Icmp) => 0xBEAF,
            (0, ProbeProtocol::Udp) => 53,
            (0, ProbeProtocol::Tcp) => 80,
            (flow, _) => flow,
        };
        // §5.6: the flow is in octets 2-3 of every probe; the identifier
        // in the echo identifier, the UDP checksum field or the TCP sequence.
        prop_assert_eq!(&transport[2..4], &flow.to_be_bytes());
        let identifier = probe.identifier.to_be_bytes();
        match probe.protocol {
            ProbeProtocol::Icmp => prop_assert_eq!(&transport[4..6], &identifier),
            ProbeProtocol::Udp => prop_assert_eq!(&transport[6..8], &identifier),
            // The sequence's high half carries two random octets (authenticated answers).
            ProbeProtocol::Tcp => prop_assert_eq!(&transport[4..8], &[probe.random[0], probe.random[1], identifier[1], identifier[0]]),
        }
        if probe.protocol != ProbeProtocol::Tcp {
            prop_assert_eq!(&transport[8..14], &probe.random);
        }
    }

    /// The server builds into a per-CPU frame that still holds the last
    /// packet: the builders must write every octet of what they return.
    #[test]
    fn builders_overwrite_a_used_buffer(
        ((probe, header), hop, span_ns, stale) in probe_and_header()
            .prop_flat_map(|(p, h)| (Just((p, h)), hop_of(h.family()), any::<u64>(), any::<u8>()))
    ) {
        let mut clean = [0; PROBE_MAX_LEN];
        let mut used = [stale; PROBE_MAX_LEN];
        let len = probe.build(&header, &mut clean);
        prop_assert_eq!(probe.build(&header, &mut used), len);
        prop_assert_eq!(&used[..len], &clean[..len]);
        let response = Response { identifier: probe.identifier, sequence: 0, outcome: Outcome::Hop { address: hop, span_ns } };
        let mut clean = [0; RESPONSE_MAX_LEN];
        let mut used = [stale; RESPONSE_MAX_LEN];
        let len = response.build(&header, &mut clean);
        prop_assert_eq!(response.build(&header, &mut used), len);
        prop_assert_eq!(&used[..len], &clean[..len]);
    }

    #[test]
    fn quoted_answer_matches_probe(
        ((probe, header), router) in probe_and_header().prop_flat_map(|(p, h)| (Just((p, h)), hop_of(h.family())))
    ) {
        let family = header.family();
        let mut out = [0; PROBE_MAX_LEN];
        let len = probe.build(&header, &mut out);
        let error = time_exceeded(family, router, &out[..len]);
        let answer = match_answer(&IpPacket::new(&error).expect("IP packet")).expect("matches");
        let (server, client) = addresses(&header);
        prop_assert_eq!(answer.hop, router);
        prop_assert_eq!(answer.probe.session, client);
        prop_assert_eq!(answer.probe.source, Some(server));
        prop_assert_eq!(answer.probe.identifier, probe.identifier);
        prop_assert_eq!(answer.probe.protocol, probe.protocol);
        prop_assert_eq!(answer.probe.flow, Some(probe.flow_field()));
    }

    #[test]
    fn direct_answer_matches_probe((probe, header) in probe_and_header()) {
        let family = header.family();
        let (server, client) = addresses(&header);
        let identifier = probe.identifier.to_be_bytes();
        let flow = probe.flow_field().to_be_bytes();
        let answer = match probe.protocol {
            // The client's Echo Reply echoes identifier, sequence and data.
            ProbeProtocol::Icmp => {
                let mut out = [0; PROBE_MAX_LEN];
                let len = probe.build(&header, &mut out);
                let header_len = len - 16;
                let mut reply = out[header_len..len].to_vec();
                reply[0] = if family == Family::V4 { 0 } else { 129 };
                wrap(client, server, family.icmp_protocol(), &reply)
            }
            // A closed port's RST+ACK acknowledging the SYN (sequence + 1).
            ProbeProtocol::Tcp => {
                let sequence = u32::from_be_bytes([0, 0, identifier[1], identifier[0]]);
                let mut rst = vec![flow[0], flow[1], 0x03, 0xfd, 0, 0, 0, 0];
                rst.extend_from_slice(&(sequence + 1).to_be_bytes());
                rst.extend_from_slice(&[0x50, 0x14, 0, 0, 0, 0, 0, 0]);
                wrap(client, server, 6, &rst)
            }
            // §6.3: UDP is never answered directly.
            ProbeProtocol::Udp => return Ok(()),
        };
        let matched = match_answer(&IpPacket::new(&answer).expect("IP packet")).expect("matches");
        prop_assert_eq!(matched.hop, client);
        prop_assert_eq!(matched.probe.session, client);
        prop_assert_eq!(matched.probe.identifier, probe.identifier);
        prop_assert_eq!(matched.probe.protocol, probe.protocol);
    }

    #[test]
    fn forward_probe_verifies_and_matches(
        ((protocol, ttl, flow, probe_id, icmp_identifier, header), router) in
            (protocol(), 1u8.., any::<u16>(), any::<u16>(), any::<u16>(), any_header())
                .prop_flat_map(|t| (Just(t), hop_of(t.5.family()))),
        placement in placement(),
    ) {
        let probe = ForwardProbe { protocol, ttl, flow, placement, probe_id, icmp_identifier };
        let family = header.family();
        let mut out = [0; FORWARD_MAX_LEN];
        let len = probe.build(&header, &mut out);
        assert_checksums_verify(&out[..len]);
        let (client, target) = addresses(&header);
        let error = time_exceeded(family, router, &out[..len]);
        let matched = match_forward(&IpPacket::new(&error).expect("IP packet"), placement).expect("matches");
        prop_assert_eq!(matched.hop, router);
        prop_assert_eq!(matched.target, target);
        prop_assert_eq!(matched.protocol, protocol);
        prop_assert_eq!(matched.probe_id, probe_id);
        prop_assert_eq!(matched.flow, Some(flow));
        prop_assert_eq!(matched.icmp_identifier, (protocol == ProbeProtocol::Icmp).then_some(icmp_identifier));
        if protocol == ProbeProtocol::Tcp {
            // The target's RST+ACK, from the probe's destination port back to
            // its source port, acknowledges probe id + 1.
            let (source, destination) = placement.ports(flow);
            let mut rst = destination.to_be_bytes().to_vec();
            rst.extend_from_slice(&source.to_be_bytes());
            rst.extend_from_slice(&[0, 0, 0, 0]);
            rst.extend_from_slice(&(u32::from(probe_id) + 1).to_be_bytes());
            rst.extend_from_slice(&[0x50, 0x14, 0, 0, 0, 0, 0, 0]);
            let direct = match_forward(&IpPacket::new(&wrap(target, client, 6, &rst)).expect("IP"), placement).expect("matches");
            prop_assert_eq!((direct.hop, direct.target, direct.probe_id, direct.flow), (target, target, probe_id, Some(flow)));
        }
    }

    #[test]
    fn decoders_never_panic(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..96),
        family in family(),
        first in prop::sample::select(vec![0x45u8, 0x47, 0x60]),
    ) {
        let _ = Request::decode(family, &bytes);
        let _ = Response::decode(family, &bytes);
        let _ = reverse_tr_common::match_quoted(family, &bytes);
        let _ = reverse_tr_common::response::error_message(&bytes);
        // Also as IP packets whose length fields fit, so the matchers run.
        if bytes.len() >= 40 {
            bytes[0] = first;
            let len = u16::try_from(bytes.len()).expect("short");
            let (at, value) = if first == 0x60 { (4, len - 40) } else { (2, len) };
            bytes[at..at + 2].copy_from_slice(&value.to_be_bytes());
        }
        if let Ok(packet) = IpPacket::new(&bytes) {
            let _ = match_answer(&packet);
            let _ = match_forward(&packet, FlowPlacement::DestinationPort);
            let _ = match_forward(&packet, FlowPlacement::SourcePort { destination_port: 80 });
        }
    }
}
