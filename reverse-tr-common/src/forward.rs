//! The client's forward probes (§11.4) and their matching.
//!
//! Like the server's probes they keep the ECMP-hashed fields constant per
//! flow and force a value into a checksum field with a compensation word
//! (§5.5), but with the client's layout: source port 33434, 2-octet
//! compensation payloads, no random octets. Per-path tools (path tables,
//! fault isolation) put the flow in the source port instead, as traceflow
//! and fbtracert do, so that every probe reaches the same service port.

use core::net::IpAddr;

use crate::address::Family;
use crate::answer::Quote;
use crate::checksum::Writer;
use crate::constants::{
    ECHO_HEADER_LEN, FORWARD_SOURCE_PORT, FORWARD_TCP_WINDOW, PROTOCOL_TCP, PROTOCOL_UDP,
};
use crate::error::{read_u16, read_u32};
use crate::ip::{IP_HEADER_MAX_LEN, IpHeader};
use crate::packet::tcp::SYN;
use crate::packet::{IcmpMessage, IpPacket, TcpSegment};
use crate::probe::{ProbeProtocol, answers_syn};

/// Octets of a forward ICMP or UDP probe's transport part.
pub const FORWARD_SHORT_LEN: usize = 10;
/// Octets of a forward TCP probe's transport part.
pub const FORWARD_TCP_LEN: usize = 20;
/// Largest forward probe packet.
pub const FORWARD_MAX_LEN: usize = IP_HEADER_MAX_LEN + FORWARD_TCP_LEN;

/// Which port of a forward UDP or TCP probe carries the flow; the other
/// one is fixed. ICMP probes carry it in the echo checksum either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlowPlacement {
    /// The reference's layout: flow in the destination port, source port 33434.
    #[default]
    DestinationPort,
    /// Flow in the source port, towards a fixed destination port.
    SourcePort { destination_port: u16 },
}

impl FlowPlacement {
    /// The (source, destination) ports of a probe on `flow`.
    #[inline(always)]
    pub fn ports(self, flow: u16) -> (u16, u16) {
        match self {
            FlowPlacement::DestinationPort => (FORWARD_SOURCE_PORT, flow),
            FlowPlacement::SourcePort { destination_port } => (flow, destination_port),
        }
    }

    /// The flow of a probe with these ports, if its fixed port is ours.
    pub fn flow(self, source: u16, destination: u16) -> Option<u16> {
        match self {
            FlowPlacement::DestinationPort => {
                (source == FORWARD_SOURCE_PORT).then_some(destination)
            }
            FlowPlacement::SourcePort { destination_port } => {
                (destination == destination_port).then_some(source)
            }
        }
    }
}

/// A forward probe from the client towards the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardProbe {
    pub protocol: ProbeProtocol,
    /// TTL / hop limit.
    pub ttl: u8,
    /// Flow: ICMP checksum field or a UDP/TCP port (see `placement`).
    pub flow: u16,
    /// The port carrying the flow of UDP and TCP probes.
    pub placement: FlowPlacement,
    /// Per-probe id: ICMP sequence, UDP checksum field, TCP sequence.
    pub probe_id: u16,
    /// Echo identifier of ICMP probes ((process id mod 255) + 1 in the reference).
    pub icmp_identifier: u16,
}

impl ForwardProbe {
    /// Octets of the transport part (10 or 20).
    #[inline(always)]
    pub fn transport_len(&self) -> usize {
        match self.protocol {
            ProbeProtocol::Icmp | ProbeProtocol::Udp => FORWARD_SHORT_LEN,
            ProbeProtocol::Tcp => FORWARD_TCP_LEN,
        }
    }

    /// Writes the transport part with its checksum made valid for `ip` and
    /// returns its length.
    pub fn write_transport(&self, ip: &IpHeader, out: &mut [u8; FORWARD_TCP_LEN]) -> usize {
        let family = ip.family();
        let len = self.transport_len();
        // Both lengths are small constants.
        let pseudo = ip.pseudo_header_sum(self.protocol.number(family), len as u16);
        let mut transport = Writer::new(out, pseudo);
        match self.protocol {
            ProbeProtocol::Icmp => {
                transport.octets(0, family.echo_request(), 0);
                transport.u16(2, self.flow);
                transport.u16(4, self.icmp_identifier);
                transport.u16(6, self.probe_id);
                transport.seal(ECHO_HEADER_LEN);
            }
            ProbeProtocol::Udp => {
                let (source, destination) = self.placement.ports(self.flow);
                transport.u16(0, source);
                transport.u16(2, destination);
                transport.u16(4, FORWARD_SHORT_LEN as u16);
                transport.u16(6, self.probe_id);
                transport.seal(8);
            }
            ProbeProtocol::Tcp => {
                let (source, destination) = self.placement.ports(self.flow);
                transport.u16(0, source);
                transport.u16(2, destination);
                transport.u32(4, u32::from(self.probe_id));
                transport.octets(12, 0x50, SYN);
                transport.u16(14, FORWARD_TCP_WINDOW);
                transport.seal(16);
            }
        }
        len
    }

    /// Writes the whole probe packet (IP header from `ip` with this probe's
    /// TTL) and returns its length.
    pub fn build(&self, ip: &IpHeader, out: &mut [u8; FORWARD_MAX_LEN]) -> usize {
        let Some(transport) = ip.message_area(out) else {
            return 0;
        };
        let len = self.write_transport(ip, transport);
        ip.finish(out, self.protocol.number(ip.family()), self.ttl, len)
    }
}

/// A forward probe recognised in an answer: compare with the outstanding
/// probes by (target, protocol, probe id, and flow / ICMP identifier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardMatch {
    /// The answer's source address.
    pub hop: IpAddr,
    /// The probe's destination.
    pub target: IpAddr,
    pub protocol: ProbeProtocol,
    pub probe_id: u16,
    /// The probe's flow where the answer shows it (not in Echo Replies).
    pub flow: Option<u16>,
    /// The probe's echo identifier (ICMP only).
    pub icmp_identifier: Option<u16>,
}

/// Recognises an answer to a forward probe sent with `placement` (§11.4):
/// an ICMP error quoting it, an Echo Reply, or a TCP segment back to the
/// probe's source port (RST or SYN+ACK) acknowledging probe id + 1.
pub fn match_forward(packet: &IpPacket<'_>, placement: FlowPlacement) -> Option<ForwardMatch> {
    let family = packet.family();
    let hop = packet.source();
    match packet.protocol() {
        PROTOCOL_TCP => {
            let tcp = TcpSegment::new(packet.payload()).ok()?;
            let answers = answers_syn(tcp.flags());
            // The answer's ports are the probe's, swapped.
            let flow = placement.flow(tcp.destination_port(), tcp.source_port());
            let (Some(flow), true) = (flow, answers) else {
                return None;
            };
            let probe_id = probe_id_of(tcp.acknowledgement().wrapping_sub(1))?;
            Some(ForwardMatch {
                hop,
                target: hop,
                protocol: ProbeProtocol::Tcp,
                probe_id,
                flow: Some(flow),
                icmp_identifier: None,
            })
        }
        p if p == family.icmp_protocol() => {
            let icmp = IcmpMessage::new(packet.payload()).ok()?;
            if crate::answer::is_quoting_error(family, icmp.icmp_type(), icmp.code()) {
                match_quoted_forward(family, hop, icmp.body(), placement)
            } else if icmp.icmp_type() == family.echo_reply() && icmp.code() == 0 {
                Some(ForwardMatch {
                    hop,
                    target: hop,
                    protocol: ProbeProtocol::Icmp,
                    probe_id: icmp.sequence(),
                    flow: None,
                    icmp_identifier: Some(icmp.identifier()),
                })
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Matches the forward probe an ICMP error from `hop` quotes.
fn match_quoted_forward(
    family: Family,
    hop: IpAddr,
    quote: &[u8],
    placement: FlowPlacement,
) -> Option<ForwardMatch> {
    let quote = Quote::parse(family, quote)?;
    let transport = quote.transport;
    let (protocol, probe_id, flow, icmp_identifier) = match quote.protocol {
        PROTOCOL_UDP | PROTOCOL_TCP => {
            let flow =
                placement.flow(read_u16(transport, 0).ok()?, read_u16(transport, 2).ok()?)?;
            if quote.protocol == PROTOCOL_UDP {
                (ProbeProtocol::Udp, read_u16(transport, 6).ok()?, flow, None)
            } else {
                (
                    ProbeProtocol::Tcp,
                    probe_id_of(read_u32(transport, 4).ok()?)?,
                    flow,
                    None,
                )
            }
        }
        _ => {
            let (flow, identifier, sequence) = quote.echo_request(family)?;
            (ProbeProtocol::Icmp, sequence, flow, Some(identifier))
        }
    };
    Some(ForwardMatch {
        hop,
        target: quote.destination,
        protocol,
        probe_id,
        flow: Some(flow),
        icmp_identifier,
    })
}

/// The probe id a TCP sequence number carries: ids are 16-bit, so a
/// sequence above 0xFFFF is not ours.
fn probe_id_of(sequence: u32) -> Option<u16> {
    u16::try_from(sequence).ok()
}
