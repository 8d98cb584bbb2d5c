//! Probe construction (§5): the one packet a valid request turns into.
//!
//! Independent of any session store (§15): everything the probe carries is
//! given by the caller, so a server with REF-1 identifiers (the request's)
//! and one with server-global identifiers build probes the same way.

use crate::address::Family;
use crate::checksum::Writer;
use crate::constants::{
    DEFAULT_FLOW_ICMP, DEFAULT_FLOW_TCP, DEFAULT_FLOW_UDP, PROBE_ICMP_SEQUENCE, PROBE_RANDOM_LEN,
    PROBE_SHORT_LEN, PROBE_SOURCE_PORT, PROBE_TCP_LEN, PROBE_TCP_MSS, PROBE_TCP_WINDOW,
    PROTOCOL_DEFAULT, PROTOCOL_TCP, PROTOCOL_UDP,
};
use crate::ip::{IP_HEADER_MAX_LEN, IpHeader};
use crate::packet::tcp::{ACK, RST, SYN};

/// Largest probe packet (IPv6 TCP, §5.8).
pub const PROBE_MAX_LEN: usize = IP_HEADER_MAX_LEN + PROBE_TCP_LEN;

/// TCP option kind MSS.
const TCP_OPTION_MSS: u8 = 2;

/// Whether TCP `flags` can answer a SYN probe: RST, or SYN with ACK
/// (§6.3, §11.4).
#[inline(always)]
pub(crate) fn answers_syn(flags: u8) -> bool {
    flags & RST != 0 || flags & (SYN | ACK) == SYN | ACK
}

/// The transport protocol of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeProtocol {
    /// ICMP Echo Request of the family.
    Icmp,
    Udp,
    Tcp,
}

impl ProbeProtocol {
    /// The probe protocol a request's Protocol field asks for (§3.3): 0 and
    /// the family's ICMP mean ICMP; `None` for anything unsupported,
    /// including the other family's ICMP.
    #[inline(always)]
    pub fn from_request(family: Family, protocol: u8) -> Option<Self> {
        match protocol {
            PROTOCOL_DEFAULT => Some(Self::Icmp),
            PROTOCOL_UDP => Some(Self::Udp),
            PROTOCOL_TCP => Some(Self::Tcp),
            p if p == family.icmp_protocol() => Some(Self::Icmp),
            _ => None,
        }
    }

    /// IP protocol number in `family`.
    #[inline(always)]
    pub fn number(self, family: Family) -> u8 {
        match self {
            Self::Icmp => family.icmp_protocol(),
            Self::Udp => PROTOCOL_UDP,
            Self::Tcp => PROTOCOL_TCP,
        }
    }

    /// Octets of the probe's transport part (16 or 24).
    #[inline(always)]
    pub fn transport_len(self) -> usize {
        match self {
            Self::Icmp | Self::Udp => PROBE_SHORT_LEN,
            Self::Tcp => PROBE_TCP_LEN,
        }
    }

    /// The flow field value the server chooses for flow 0 (§2).
    #[inline(always)]
    pub fn default_flow(self) -> u16 {
        match self {
            Self::Icmp => DEFAULT_FLOW_ICMP,
            Self::Udp => DEFAULT_FLOW_UDP,
            Self::Tcp => DEFAULT_FLOW_TCP,
        }
    }
}

/// Everything a probe carries besides its IP header template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub protocol: ProbeProtocol,
    /// TTL / hop limit, from the request.
    pub ttl: u8,
    /// Flow from the request; 0 selects the protocol's default.
    pub flow: u16,
    /// Identifier (its wire octets are `identifier.to_be_bytes()`).
    pub identifier: u16,
    /// Random payload octets (ICMP, UDP); the first two are the high
    /// half of a TCP probe's sequence number.
    pub random: [u8; PROBE_RANDOM_LEN],
}

impl Probe {
    /// The value placed in the flow field: the flow, or the default for 0.
    #[inline(always)]
    pub fn flow_field(&self) -> u16 {
        if self.flow == 0 {
            self.protocol.default_flow()
        } else {
            self.flow
        }
    }

    /// Writes the transport part (§5.2–§5.4) with its checksum made valid
    /// for `ip` and returns its length; octets beyond it are zero.
    #[inline(always)]
    pub fn write_transport(&self, ip: &IpHeader, out: &mut [u8; PROBE_TCP_LEN]) -> usize {
        let family = ip.family();
        let flow = self.flow_field();
        let len = self.protocol.transport_len();
        // Both lengths are small constants.
        let pseudo = ip.pseudo_header_sum(self.protocol.number(family), len as u16);
        let [r0, r1, r2, r3, r4, r5] = self.random;
        let mut transport = Writer::new(out, pseudo);
        match self.protocol {
            ProbeProtocol::Icmp => {
                transport.octets(0, family.echo_request(), 0);
                // The checksum field is forced to the flow; the last word compensates.
                transport.u16(2, flow);
                transport.u16(4, self.identifier);
                transport.u16(6, PROBE_ICMP_SEQUENCE);
            }
            ProbeProtocol::Udp => {
                transport.u16(0, PROBE_SOURCE_PORT);
                transport.u16(2, flow);
                transport.u16(4, PROBE_SHORT_LEN as u16);
                // The checksum field carries the identifier; the last word compensates.
                transport.u16(6, self.identifier);
            }
            ProbeProtocol::Tcp => {
                transport.u16(0, PROBE_SOURCE_PORT);
                transport.u16(2, flow);
                transport.u32(4, tcp_sequence(self.identifier, [r0, r1]));
                transport.octets(12, 0x60, SYN);
                transport.u16(14, PROBE_TCP_WINDOW);
                transport.octets(20, TCP_OPTION_MSS, 4);
                transport.u16(22, PROBE_TCP_MSS);
                transport.seal(16);
                return len;
            }
        }
        transport.octets(8, r0, r1);
        transport.octets(10, r2, r3);
        transport.octets(12, r4, r5);
        transport.seal(PROBE_SHORT_LEN - 2);
        len
    }

    /// Writes the whole probe packet (§5.1: IP header from `ip` with this
    /// probe's TTL and protocol, then the transport part) and returns its
    /// length (§5.8).
    #[inline(always)]
    pub fn build(&self, ip: &IpHeader, out: &mut [u8; PROBE_MAX_LEN]) -> usize {
        let Some(transport) = ip.message_area(out) else {
            return 0;
        };
        let len = self.write_transport(ip, transport);
        ip.finish(out, self.protocol.number(ip.family()), self.ttl, len)
    }
}

/// TCP sequence number carrying `identifier` in the REF-1 layout (§5.4),
/// octets `hi[0] hi[1] id[1] id[0]`: the low half as REF-1's, the high
/// half (zero in REF-1) two random octets, so that only an answer from
/// whoever saw the probe acknowledges it (§5.4 lets a server choose the
/// encoding its matching inverts).
#[inline(always)]
pub fn tcp_sequence(identifier: u16, high: [u8; 2]) -> u32 {
    u32::from_be_bytes([high[0], high[1], 0, 0]) | u32::from(identifier.swap_bytes())
}

/// The identifier a TCP probe's sequence number carries (inverse of
/// [`tcp_sequence`], low 16 bits).
#[inline(always)]
pub fn identifier_from_sequence(sequence: u32) -> u16 {
    // Only the low 16 bits carry the identifier.
    (sequence as u16).swap_bytes()
}
