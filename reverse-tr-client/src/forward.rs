//! The forward direction (§11.4): probes sent from raw sockets here, their
//! answers matched by what each probe carries, never by arrival order.
//!
//! The wire format (flow kept constant in the destination port or forced
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
    forward::{FORWARD_MAX_LEN, FORWARD_TCP_LEN, ForwardProbe, match_forward},
    ip::IP_HEADER_MAX_LEN,
    packet::IpPacket,
};

use crate::{
    Result,
    net::{Engine, Pacer, RawSocket, Received, Reply, Wire, ip_header},
    probe::Probe,
};

/// Forward probes of one trace: who, to whom, how, and the constant echo
/// identifier. Builds probes and recognises their answers.
#[derive(Debug, Clone, Copy)]
pub struct ForwardProbes {
    local: IpAddr,
    target: IpAddr,
    protocol: ProbeProtocol,
    /// Echo identifier of ICMP probes: (process id mod 255) + 1, as the reference.
    icmp_identifier: u16,
}

impl ForwardProbes {
    pub fn new(local: IpAddr, target: IpAddr, protocol: ProbeProtocol) -> Self {
        let icmp_identifier = u16::try_from(std::process::id() % 255).unwrap_or_default() + 1;
        Self {
            local,
            target,
            protocol,
            icmp_identifier,
        }
    }

    fn probe(&self, probe: Probe, id: u16) -> ForwardProbe {
        ForwardProbe {
            protocol: self.protocol,
            ttl: probe.ttl,
            flow: probe.flow,
            probe_id: id,
            icmp_identifier: self.icmp_identifier,
        }
    }

    /// What goes to the socket for `probe` with probe id `id`: for IPv4 the
    /// whole packet (its header carries the TTL), for IPv6 the transport
    /// part (the kernel writes the header; the TTL is a socket option).
    pub fn packet(&self, probe: Probe, id: u16) -> Vec<u8> {
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
    pub fn recognise(&self, packet: &Received<'_>) -> Option<(u16, Reply)> {
        // Raw sockets hand over the IP payload; the shared matcher reads
        // whole packets, so the header the answer came with is put back.
        let header = ip_header(packet.source, self.local);
        let mut whole = [0u8; IP_HEADER_MAX_LEN];
        let len = u16::try_from(packet.payload.len()).ok()?;
        let header_len = header.write(&mut whole, packet.protocol, 64, len);
        let mut bytes = whole.get(..header_len)?.to_vec();
        bytes.extend_from_slice(packet.payload);
        let answer = match_forward(&IpPacket::new(&bytes).ok()?)?;
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
}

impl Wire for ForwardWire {
    type Key = u16;

    fn next_key(&self) -> Option<u16> {
        // The lock guards a plain integer: poison cannot corrupt it.
        let mut last = self.last_id.lock().unwrap_or_else(PoisonError::into_inner);
        *last = last.checked_add(1).unwrap_or(1);
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

/// A prober tracing from `local` towards `target` with `protocol` probes.
pub fn prober(
    local: IpAddr,
    target: IpAddr,
    protocol: ProbeProtocol,
    pacer: Arc<Pacer>,
    timeout: Duration,
) -> Result<ForwardProber> {
    let probes = ForwardProbes::new(local, target, protocol);
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
    };
    Ok(Engine::new(wire, receivers, pacer, timeout))
}
