//! The forward direction (§11.4): probes built here and sent from raw
//! sockets, their answers matched by what each probe carries.
//!
//! The flow (destination port, or the ICMP checksum forced through the
//! compensation word of §5.5) and everything else ECMP hashes stay constant,
//! so the path stays the same; a per-probe id rides in a field routers do
//! not hash (UDP checksum, TCP sequence, echo sequence) and comes back in
//! every answer: quoted in ICMP errors, in Echo Replies, acknowledged by TCP.

use std::{
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use pnet_packet::{
    Packet,
    icmp::{IcmpCode, IcmpType, echo_request::MutableEchoRequestPacket},
    tcp::{MutableTcpPacket, TcpFlags},
    udp::MutableUdpPacket,
};
use reverse_tr_common::{
    Family, IpHeader, checksum,
    constants::{FORWARD_SOURCE_PORT, FORWARD_TCP_WINDOW, PROTOCOL_TCP, PROTOCOL_UDP},
    ip::IP_HEADER_MAX_LEN,
    is_quoting_error,
};

use crate::{
    Result,
    cli::Transport,
    net::{Engine, Pacer, RawSocket, Received, Reply, Wire, ip_header},
    probe::Probe,
};

/// Octets of the UDP and ICMP probe messages: an 8-octet header and the
/// 2-octet compensation word.
const SHORT_PROBE_LEN: usize = 10;
/// Octets of the TCP SYN probe: a header without options.
const TCP_PROBE_LEN: usize = 20;
/// The ICMP error header before the quoted packet.
const ICMP_ERROR_HEADER_LEN: usize = 8;

/// Forward probes of one trace: addresses, protocol and the constant echo
/// identifier. Builds probes and recognises their answers.
#[derive(Debug, Clone, Copy)]
pub struct ForwardProbes {
    local: IpAddr,
    target: IpAddr,
    transport: Transport,
    /// Echo identifier of ICMP probes: (process id mod 255) + 1, as the reference.
    icmp_identifier: u16,
}

impl ForwardProbes {
    pub fn new(local: IpAddr, target: IpAddr, transport: Transport) -> Self {
        let icmp_identifier = u16::try_from(std::process::id() % 255).unwrap_or_default() + 1;
        Self {
            local,
            target,
            transport,
            icmp_identifier,
        }
    }

    fn family(&self) -> Family {
        Family::of(self.target)
    }

    /// IP protocol number of the probes.
    pub fn protocol(&self) -> u8 {
        match self.transport {
            Transport::Udp => PROTOCOL_UDP,
            Transport::Tcp => PROTOCOL_TCP,
            Transport::Icmp => self.family().icmp_protocol(),
        }
    }

    fn ip_header(&self) -> IpHeader {
        ip_header(self.local, self.target)
    }

    /// The transport message of `probe` carrying probe id `id`.
    pub fn message(&self, probe: Probe, id: u16) -> Vec<u8> {
        let len = if self.transport == Transport::Tcp {
            TCP_PROBE_LEN
        } else {
            SHORT_PROBE_LEN
        };
        let mut message = vec![0u8; len];
        // Lengths are the small constants above.
        let pseudo = self
            .ip_header()
            .pseudo_header_sum(self.protocol(), len as u16);
        match self.transport {
            Transport::Udp => {
                if let Some(mut udp) = MutableUdpPacket::new(&mut message) {
                    udp.set_source(FORWARD_SOURCE_PORT);
                    udp.set_destination(probe.flow);
                    udp.set_length(len as u16);
                    // Forced, and made valid by the compensation word below.
                    udp.set_checksum(id);
                }
                compensate(&mut message, pseudo);
            }
            Transport::Icmp => {
                if let Some(mut echo) = MutableEchoRequestPacket::new(&mut message) {
                    // The echo header is laid out alike in ICMP and ICMPv6.
                    echo.set_icmp_type(IcmpType::new(self.family().echo_request()));
                    echo.set_icmp_code(IcmpCode::new(0));
                    echo.set_checksum(probe.flow);
                    echo.set_identifier(self.icmp_identifier);
                    echo.set_sequence_number(id);
                }
                compensate(&mut message, pseudo);
            }
            Transport::Tcp => {
                if let Some(mut tcp) = MutableTcpPacket::new(&mut message) {
                    tcp.set_source(FORWARD_SOURCE_PORT);
                    tcp.set_destination(probe.flow);
                    tcp.set_sequence(u32::from(id));
                    tcp.set_data_offset(5);
                    tcp.set_flags(TcpFlags::SYN);
                    tcp.set_window(FORWARD_TCP_WINDOW);
                    tcp.set_checksum(checksum::checksum(checksum::accumulate(
                        pseudo,
                        tcp.packet(),
                    )));
                }
            }
        }
        message
    }

    /// What goes to the socket: IPv4 the whole packet (the header carries
    /// the TTL), IPv6 the message (the TTL is a socket option).
    pub fn packet(&self, probe: Probe, id: u16) -> Vec<u8> {
        let message = self.message(probe, id);
        let ip = self.ip_header();
        match ip {
            IpHeader::V4(_) => {
                let mut header = [0u8; IP_HEADER_MAX_LEN];
                let len = ip.write(
                    &mut header,
                    self.protocol(),
                    probe.ttl,
                    message.len() as u16,
                );
                let mut packet = header.get(..len).unwrap_or_default().to_vec();
                packet.extend_from_slice(&message);
                packet
            }
            IpHeader::V6(_) => message,
        }
    }

    /// The probe id and meaning of a packet received on a socket of
    /// `packet.protocol`, if it answers one of our probes (§11.4).
    pub fn recognise(&self, packet: &Received<'_>) -> Option<(u16, Reply)> {
        let family = self.family();
        let payload = packet.payload;
        let hop = |flow| Reply::Hop {
            hop: packet.source,
            span: None,
            flow,
        };
        if packet.protocol == PROTOCOL_TCP {
            // A TCP answer from the target: SYN-ACK or RST acknowledging id + 1.
            let (source_port, destination_port) = (read_u16(payload, 0)?, read_u16(payload, 2)?);
            let acknowledges = payload
                .get(13)
                .is_some_and(|flags| flags & TcpFlags::ACK != 0);
            if self.transport != Transport::Tcp
                || packet.source != self.target
                || destination_port != FORWARD_SOURCE_PORT
                || !acknowledges
            {
                return None;
            }
            let acknowledged = read_u32(payload, 8)?.wrapping_sub(1);
            return Some(((acknowledged & 0xFFFF) as u16, hop(Some(source_port))));
        }
        let (icmp_type, code) = (*payload.first()?, *payload.get(1)?);
        if icmp_type == family.echo_reply() && code == 0 {
            let ours =
                self.transport == Transport::Icmp && read_u16(payload, 4)? == self.icmp_identifier;
            return ours.then_some((read_u16(payload, 6)?, hop(None)));
        }
        if !is_quoting_error(family, icmp_type, code) {
            return None;
        }
        let quote = payload.get(ICMP_ERROR_HEADER_LEN..)?;
        let transport = self.quoted_transport(quote)?;
        let (flow, id) = match self.transport {
            Transport::Udp if read_u16(transport, 0)? == FORWARD_SOURCE_PORT => {
                (read_u16(transport, 2)?, read_u16(transport, 6)?)
            }
            Transport::Tcp if read_u16(transport, 0)? == FORWARD_SOURCE_PORT => (
                read_u16(transport, 2)?,
                (read_u32(transport, 4)? & 0xFFFF) as u16,
            ),
            Transport::Icmp
                if transport.first() == Some(&family.echo_request())
                    && transport.get(1) == Some(&0)
                    && read_u16(transport, 4)? == self.icmp_identifier =>
            {
                (read_u16(transport, 2)?, read_u16(transport, 6)?)
            }
            _ => return None,
        };
        Some((id, hop(Some(flow))))
    }

    /// The first 8 octets of the transport header quoted in an ICMP error,
    /// if the quoted packet is one of our probes' (protocol, destination).
    fn quoted_transport<'a>(&self, quote: &'a [u8]) -> Option<&'a [u8]> {
        let (protocol, destination, header_len): (u8, IpAddr, usize) = match self.family() {
            Family::V4 => {
                let first = *quote.first()?;
                let octets: [u8; 4] = quote.get(16..20)?.try_into().ok()?;
                (first >> 4 == 4).then_some(())?;
                (
                    *quote.get(9)?,
                    IpAddr::from(octets),
                    usize::from(first & 0x0F) * 4,
                )
            }
            Family::V6 => {
                (quote.first()? >> 4 == 6).then_some(())?;
                let octets: [u8; 16] = quote.get(24..40)?.try_into().ok()?;
                (*quote.get(6)?, IpAddr::from(octets), 40)
            }
        };
        (protocol == self.protocol() && destination == self.target).then_some(())?;
        quote.get(header_len..header_len + 8)
    }
}

/// Writes the compensation word (the last two octets) of a message whose
/// checksum field was forced (§5.5).
fn compensate(message: &mut [u8], pseudo: u32) {
    let word = checksum::compensation(checksum::accumulate(pseudo, message));
    if let Some(last) = message.last_chunk_mut::<2>() {
        *last = word.to_be_bytes();
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(*bytes.get(at..)?.first_chunk()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(*bytes.get(at..)?.first_chunk()?))
}

/// The forward probes' sockets and probe-id counter.
#[derive(Debug)]
pub struct ForwardWire {
    probes: ForwardProbes,
    socket: RawSocket,
    /// Last probe id used; ids cycle 1..=65535.
    last_id: Mutex<u16>,
    /// IPv6 sets the hop limit on the socket before each send: one at a time.
    sending: tokio::sync::Mutex<()>,
}

impl Wire for ForwardWire {
    type Key = u16;

    fn next_key(&self) -> Option<u16> {
        // The lock guards a plain integer: poison cannot corrupt it.
        let mut last = self.last_id.lock().unwrap_or_else(PoisonError::into_inner);
        *last = if *last == u16::MAX { 1 } else { *last + 1 };
        Some(*last)
    }

    async fn transmit(&self, probe: Probe, id: u16) -> Result<()> {
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
pub type ForwardProber = Engine<ForwardWire>;

/// A prober tracing from `local` towards `target` with `transport` probes.
pub fn prober(
    local: IpAddr,
    target: IpAddr,
    transport: Transport,
    pacer: Arc<Pacer>,
    timeout: Duration,
) -> Result<ForwardProber> {
    let probes = ForwardProbes::new(local, target, transport);
    let family = Family::of(target);
    let socket = match family {
        Family::V4 => RawSocket::open_header_included()?,
        Family::V6 => RawSocket::open(family, probes.protocol())?,
    };
    let mut receivers = vec![Arc::new(RawSocket::open(family, family.icmp_protocol())?)];
    if transport == Transport::Tcp {
        receivers.push(Arc::new(RawSocket::open(family, PROTOCOL_TCP)?));
    }
    // Ids start anywhere so that two traces of one process stay apart.
    let wire = ForwardWire {
        probes,
        socket,
        last_id: Mutex::new(rand::random()),
        sending: tokio::sync::Mutex::new(()),
    };
    Ok(Engine::new(wire, receivers, pacer, timeout))
}
