//! The forward direction (§11.4): probes sent from raw sockets here, their
//! answers matched by what each probe carries, never by arrival order.
//!
//! The wire format (flow kept constant in a port — the destination port
//! as the reference, or the source port for per-path tools — or forced
//! into the ICMP checksum, per-probe id in the UDP checksum, TCP sequence or
//! echo sequence) is reverse-tr-common's `forward` module; this module adds
//! the sockets, the probe ids and the check that an answer is this trace's.

use std::{
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use reverse_tr_common::{
    Family, IpHeader, ProbeProtocol,
    constants::PROTOCOL_TCP,
    forward::{FORWARD_MAX_LEN, FORWARD_TCP_LEN, FlowPlacement, ForwardProbe, match_forward},
    ip::IP_HEADER_MAX_LEN,
    packet::IpPacket,
};

use crate::{
    trace::Result,
    trace::net::{Engine, Pacer, RawSocket, Received, Reply, Wire, ip_header},
    trace::probe::ProbeSpec,
};

/// Forward probes of one trace: who, to whom, how, and the constant echo
/// identifier. Builds probes and recognises their answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ForwardProbes {
    local: IpAddr,
    target: IpAddr,
    protocol: ProbeProtocol,
    placement: FlowPlacement,
    /// Echo identifier of ICMP probes: (process id mod 255) + 1, as the reference.
    icmp_identifier: u16,
}

impl ForwardProbes {
    pub(crate) fn new(
        local: IpAddr,
        target: IpAddr,
        protocol: ProbeProtocol,
        placement: FlowPlacement,
    ) -> Self {
        let icmp_identifier = u16::try_from(std::process::id() % 255).unwrap_or_default() + 1;
        Self {
            local,
            target,
            protocol,
            placement,
            icmp_identifier,
        }
    }

    fn probe(&self, probe: ProbeSpec, id: u16) -> ForwardProbe {
        ForwardProbe {
            protocol: self.protocol,
            ttl: probe.ttl,
            flow: probe.flow,
            placement: self.placement,
            probe_id: id,
            icmp_identifier: self.icmp_identifier,
        }
    }

    /// What goes to the socket for `probe` with probe id `id`: for IPv4 the
    /// whole packet (its header carries the TTL), for IPv6 the transport
    /// part (the kernel writes the header; the TTL is a socket option).
    pub(crate) fn packet(&self, probe: ProbeSpec, id: u16) -> Vec<u8> {
        let probe = self.probe(probe, id);
        let ip = ip_header(self.local, self.target);
        match ip {
            IpHeader::V4(_) => {
                let mut packet = [0u8; FORWARD_MAX_LEN];
                let len = probe.build(&ip, &mut packet);
                packet.get(..len).unwrap_or_default().to_vec()
            }
            IpHeader::V6(_) => {
                let mut transport = [0u8; FORWARD_TCP_LEN];
                let len = probe.write_transport(&ip, &mut transport);
                transport.get(..len).unwrap_or_default().to_vec()
            }
        }
    }

    /// The probe id and meaning of a received packet, if it answers one of
    /// this trace's probes: an ICMP error quoting it, an Echo Reply with our
    /// identifier, or a TCP segment from the target acknowledging it.
    pub(crate) fn recognise(&self, packet: &Received<'_>) -> Option<(u16, Reply)> {
        // Raw sockets hand over the IP payload; the shared matcher reads
        // whole packets, so the header the answer came with is put back.
        let header = ip_header(packet.source, self.local);
        let mut whole = [0u8; IP_HEADER_MAX_LEN];
        let len = u16::try_from(packet.payload.len()).ok()?;
        let header_len = header.write(&mut whole, packet.protocol, 64, len);
        let mut bytes = whole.get(..header_len)?.to_vec();
        bytes.extend_from_slice(packet.payload);
        let answer = match_forward(&IpPacket::new(&bytes).ok()?, self.placement)?;
        let ours = answer.target == self.target
            && answer.protocol == self.protocol
            && answer
                .icmp_identifier
                .is_none_or(|identifier| identifier == self.icmp_identifier);
        let reply = Reply::Hop {
            hop: answer.hop,
            span: None,
            flow: answer.flow,
        };
        ours.then_some((answer.probe_id, reply))
    }
}

/// The forward probes' socket and probe-id counter.
#[derive(Debug)]
pub struct ForwardWire {
    probes: ForwardProbes,
    socket: RawSocket,
    /// Last probe id used; ids cycle 1..=65535.
    last_id: Mutex<u16>,
    /// IPv6 sets the hop limit on the socket before each send: one at a time.
    sending: tokio::sync::Mutex<()>,
    /// See [`Wire::one_first_hop`].
    one_first_hop: bool,
}

/// The sysctl of the host's multipath hash for `family`.
fn hash_policy_file(family: Family) -> &'static str {
    match family {
        Family::V4 => "/proc/sys/net/ipv4/fib_multipath_hash_policy",
        Family::V6 => "/proc/sys/net/ipv6/fib_multipath_hash_policy",
    }
}

/// Whether a multipath hash `policy` (the sysctl's text) leaves ports and
/// ICMP fields out: 0 (addresses, and for IPv6 the flow label, which
/// stays the same for every probe of a trace; Linux's default) or 2 (the
/// same, or inner addresses our probes do not have). Every flow then takes
/// the same route out of this host, to one first hop.
fn hashes_addresses_only(policy: &str) -> bool {
    matches!(policy.trim(), "0" | "2")
}

impl Wire for ForwardWire {
    type Key = u16;

    fn one_first_hop(&self) -> bool {
        self.one_first_hop
    }

    fn next_key(&self) -> Option<u16> {
        // The lock guards a plain integer: poison cannot corrupt it.
        let mut last = self.last_id.lock().unwrap_or_else(PoisonError::into_inner);
        *last = last.checked_add(1).unwrap_or(1);
        Some(*last)
    }

    async fn transmit(&self, probe: ProbeSpec, id: u16) -> Result<()> {
        let packet = self.probes.packet(probe, id);
        let _one_at_a_time = self.sending.lock().await;
        if self.socket.family() == Family::V6 {
            self.socket.set_hop_limit(probe.ttl)?;
        }
        self.socket.send_to(&packet, self.probes.target).await
    }

    fn recognise(&self, packet: &Received<'_>) -> Option<(u16, Reply)> {
        self.probes.recognise(packet)
    }
}

/// The forward prober.
pub(crate) type ForwardProber = Engine<ForwardWire>;

/// A prober tracing from `local` towards `target` with `protocol` probes
/// carrying their flow as `placement` says.
pub(crate) fn prober(
    local: IpAddr,
    target: IpAddr,
    protocol: ProbeProtocol,
    placement: FlowPlacement,
    pacer: Arc<Pacer>,
    timeout: Duration,
) -> Result<ForwardProber> {
    let probes = ForwardProbes::new(local, target, protocol, placement);
    let family = Family::of(target);
    let socket = match family {
        Family::V4 => RawSocket::open_header_included()?,
        Family::V6 => RawSocket::open(family, protocol.number(family))?,
    };
    let mut receivers = vec![Arc::new(RawSocket::open(family, family.icmp_protocol())?)];
    if protocol == ProbeProtocol::Tcp {
        receivers.push(Arc::new(RawSocket::open(family, PROTOCOL_TCP)?));
    }
    // Ids start anywhere so that two traces of one process stay apart.
    let wire = ForwardWire {
        probes,
        socket,
        last_id: Mutex::new(rand::random()),
        sending: tokio::sync::Mutex::new(()),
        one_first_hop: std::fs::read_to_string(hash_policy_file(family))
            .is_ok_and(|policy| hashes_addresses_only(&policy)),
    };
    Ok(Engine::new(wire, receivers, pacer, timeout))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use pnet_packet::{
        icmp::{IcmpTypes, MutableIcmpPacket},
        icmpv6::{Icmpv6Types, MutableIcmpv6Packet},
        ipv4::MutableIpv4Packet,
        ipv6::MutableIpv6Packet,
        tcp::{MutableTcpPacket, TcpFlags},
    };
    use reverse_tr_common::constants::{FORWARD_SOURCE_PORT, PROTOCOL_ICMP, PROTOCOL_ICMPV6};

    use super::*;

    const PROTOCOLS: [ProbeProtocol; 3] =
        [ProbeProtocol::Udp, ProbeProtocol::Tcp, ProbeProtocol::Icmp];
    /// The reference's placement and the per-path tools' one.
    const PLACEMENTS: [FlowPlacement; 2] = [
        FlowPlacement::DestinationPort,
        FlowPlacement::SourcePort {
            destination_port: 80,
        },
    ];

    /// (client, router, target) of each family.
    fn addresses(family: Family) -> [IpAddr; 3] {
        let parse = |text: &str| text.parse::<IpAddr>().expect("test address");
        match family {
            Family::V4 => [
                parse("10.0.1.100"),
                parse("10.255.0.1"),
                parse("10.0.7.200"),
            ],
            Family::V6 => [
                parse("fd00:0:1::100"),
                parse("fd00:255::1"),
                parse("fd00:0:7::200"),
            ],
        }
    }

    /// The probe as it travelled: IPv6 probes get the header the kernel
    /// would have written, built here with pnet, independently of common.
    fn on_the_wire(
        probes: &ForwardProbes,
        local: IpAddr,
        target: IpAddr,
        probe: ProbeSpec,
        id: u16,
    ) -> Vec<u8> {
        let packet = probes.packet(probe, id);
        let (IpAddr::V6(source), IpAddr::V6(destination)) = (local, target) else {
            return packet;
        };
        let mut whole = vec![0u8; 40 + packet.len()];
        let mut ip = MutableIpv6Packet::new(&mut whole).expect("room for the header");
        ip.set_version(6);
        ip.set_payload_length(packet.len() as u16);
        ip.set_next_header(pnet_packet::ip::IpNextHeaderProtocol::new(
            probes.protocol.number(Family::V6),
        ));
        ip.set_hop_limit(probe.ttl);
        ip.set_source(source);
        ip.set_destination(destination);
        ip.set_payload(&packet);
        whole
    }

    /// A Time Exceeded message (the ICMP(v6) part) quoting `quoted`, built with pnet.
    fn time_exceeded(family: Family, quoted: &[u8]) -> Vec<u8> {
        // RFC 792 minimum: the IP header and the first 8 transport octets.
        let header_len = match family {
            Family::V4 => usize::from(quoted[0] & 0x0F) * 4,
            Family::V6 => 40,
        };
        let quote = &quoted[..header_len + 8];
        let mut message = vec![0u8; 8 + quote.len()];
        match family {
            Family::V4 => {
                let mut icmp = MutableIcmpPacket::new(&mut message).expect("room");
                icmp.set_icmp_type(IcmpTypes::TimeExceeded);
                icmp.set_payload(&[[0u8; 4].as_slice(), quote].concat());
            }
            Family::V6 => {
                let mut icmp = MutableIcmpv6Packet::new(&mut message).expect("room");
                icmp.set_icmpv6_type(Icmpv6Types::TimeExceeded);
                icmp.set_payload(&[[0u8; 4].as_slice(), quote].concat());
            }
        }
        message
    }

    #[test]
    fn only_a_hash_of_addresses_keeps_every_flow_on_one_first_hop() {
        for (policy, one) in [("0\n", true), ("2\n", true), ("1\n", false), ("3\n", false)] {
            assert_eq!(hashes_addresses_only(policy), one, "{policy:?}");
        }
    }

    #[test]
    fn every_protocol_and_family_round_trips_through_a_quoting_router() {
        for (family, placement) in [Family::V4, Family::V6]
            .into_iter()
            .flat_map(|family| PLACEMENTS.map(|placement| (family, placement)))
        {
            let [local, router, target] = addresses(family);
            for protocol in PROTOCOLS {
                let probes = ForwardProbes::new(local, target, protocol, placement);
                let probe = ProbeSpec {
                    ttl: 3,
                    flow: 40_000,
                };
                let sent = on_the_wire(&probes, local, target, probe, 0x1234);
                let answer = time_exceeded(family, &sent);
                let received = Received {
                    source: router,
                    protocol: family.icmp_protocol(),
                    payload: &answer,
                };
                let expected = Reply::Hop {
                    hop: router,
                    span: None,
                    flow: Some(40_000),
                };
                assert_eq!(
                    probes.recognise(&received),
                    Some((0x1234, expected)),
                    "{family:?} {protocol:?} {placement:?}"
                );

                let elsewhere = ForwardProbes::new(local, router, protocol, placement);
                assert_eq!(
                    elsewhere.recognise(&received),
                    None,
                    "another target's trace, {family:?} {protocol:?}"
                );
                let other = PROTOCOLS
                    .into_iter()
                    .find(|p| *p != protocol)
                    .expect("three protocols");
                let other = ForwardProbes::new(local, target, other, placement);
                assert_eq!(
                    other.recognise(&received),
                    None,
                    "another protocol, {family:?} {protocol:?}"
                );
            }
        }
    }

    #[test]
    fn probes_keep_the_flow_where_ecmp_hashes_it() {
        for (family, placement) in [Family::V4, Family::V6]
            .into_iter()
            .flat_map(|family| PLACEMENTS.map(|placement| (family, placement)))
        {
            let [local, _, target] = addresses(family);
            for protocol in PROTOCOLS {
                let probes = ForwardProbes::new(local, target, protocol, placement);
                // The source port is octets 0–1; the destination port or the
                // forced ICMP checksum octets 2–3.
                let field = match (protocol, placement) {
                    (ProbeProtocol::Icmp, _) | (_, FlowPlacement::DestinationPort) => 2,
                    (_, FlowPlacement::SourcePort { .. }) => 0,
                };
                let flow_of = |packet: Vec<u8>| {
                    let at = if family == Family::V4 { 20 } else { 0 } + field;
                    u16::from_be_bytes([packet[at], packet[at + 1]])
                };
                let flows: Vec<u16> = (1..=4)
                    .map(|id| {
                        flow_of(probes.packet(
                            ProbeSpec {
                                ttl: id as u8,
                                flow: 4242,
                            },
                            id,
                        ))
                    })
                    .collect();
                assert_eq!(flows, [4242; 4], "{family:?} {protocol:?} {placement:?}");
            }
        }
    }

    #[test]
    fn echo_replies_match_by_identifier_and_sequence() {
        for family in [Family::V4, Family::V6] {
            let [local, _, target] = addresses(family);
            let probes = ForwardProbes::new(
                local,
                target,
                ProbeProtocol::Icmp,
                FlowPlacement::DestinationPort,
            );
            let reply = |identifier: u16| {
                let mut message = vec![0u8; 10];
                message[0] = family.echo_reply();
                message[4..6].copy_from_slice(&identifier.to_be_bytes());
                message[6..8].copy_from_slice(&77u16.to_be_bytes());
                message
            };
            let ours = reply(probes.icmp_identifier);
            let received = Received {
                source: target,
                protocol: family.icmp_protocol(),
                payload: &ours,
            };
            let expected = Reply::Hop {
                hop: target,
                span: None,
                flow: None,
            };
            assert_eq!(
                probes.recognise(&received),
                Some((77, expected)),
                "{family:?}"
            );
            let theirs = reply(probes.icmp_identifier.wrapping_add(1));
            let received = Received {
                source: target,
                protocol: family.icmp_protocol(),
                payload: &theirs,
            };
            assert_eq!(
                probes.recognise(&received),
                None,
                "another process's ping, {family:?}"
            );
        }
    }

    #[test]
    fn tcp_answers_from_the_target_acknowledge_the_probe_id() {
        for (family, placement) in [Family::V4, Family::V6]
            .into_iter()
            .flat_map(|family| PLACEMENTS.map(|placement| (family, placement)))
        {
            let [local, router, target] = addresses(family);
            let probes = ForwardProbes::new(local, target, ProbeProtocol::Tcp, placement);
            // The probe on flow 443 had these ports; the answer swaps them.
            let (source, destination) = match placement {
                FlowPlacement::DestinationPort => (FORWARD_SOURCE_PORT, 443),
                FlowPlacement::SourcePort { destination_port } => (443, destination_port),
            };
            for flags in [TcpFlags::SYN | TcpFlags::ACK, TcpFlags::RST | TcpFlags::ACK] {
                let mut segment = vec![0u8; 20];
                let mut tcp = MutableTcpPacket::new(&mut segment).expect("room");
                tcp.set_source(destination);
                tcp.set_destination(source);
                tcp.set_acknowledgement(0x0BEE + 1);
                tcp.set_data_offset(5);
                tcp.set_flags(flags);
                let from = |source| Received {
                    source,
                    protocol: PROTOCOL_TCP,
                    payload: &segment,
                };
                let expected = Reply::Hop {
                    hop: target,
                    span: None,
                    flow: Some(443),
                };
                assert_eq!(
                    probes.recognise(&from(target)),
                    Some((0x0BEE, expected)),
                    "{family:?} {flags:#x} {placement:?}"
                );
                assert_eq!(
                    probes.recognise(&from(router)),
                    None,
                    "not from the target, {family:?}"
                );
            }
        }
    }

    #[test]
    fn garbage_is_never_an_answer() {
        let [local, router, target] = addresses(Family::V4);
        let probes = ForwardProbes::new(
            local,
            target,
            ProbeProtocol::Udp,
            FlowPlacement::DestinationPort,
        );
        let mut quoted = vec![0u8; 28];
        let mut ip = MutableIpv4Packet::new(&mut quoted).expect("room");
        ip.set_version(4);
        ip.set_header_length(5);
        ip.set_destination(Ipv4Addr::new(10, 0, 7, 200));
        ip.set_next_level_protocol(pnet_packet::ip::IpNextHeaderProtocols::Udp);
        let inputs: [&[u8]; 4] = [&[], &[11, 0], &[11, 0, 0, 0, 0, 0, 0, 0, 0x45], &quoted];
        for payload in inputs {
            for protocol in [PROTOCOL_ICMP, PROTOCOL_ICMPV6, PROTOCOL_TCP] {
                let received = Received {
                    source: router,
                    protocol,
                    payload,
                };
                assert_eq!(probes.recognise(&received), None, "{payload:?}");
            }
        }
    }
}
