//! Probe construction (§5): the one packet a valid request turns into.
//!
//! Independent of any session store (§15): everything the probe carries is
//! given by the caller, so a server with REF-1 identifiers (the request's)
//! and one with server-global identifiers build probes the same way.

use crate::address::Family;
use crate::checksum::seal;
use crate::constants::{
    DEFAULT_FLOW_ICMP, DEFAULT_FLOW_TCP, DEFAULT_FLOW_UDP, PROBE_ICMP_SEQUENCE, PROBE_RANDOM_LEN,
    PROBE_SHORT_LEN, PROBE_SOURCE_PORT, PROBE_TCP_LEN, PROBE_TCP_MSS, PROBE_TCP_WINDOW,
    PROTOCOL_DEFAULT, PROTOCOL_TCP, PROTOCOL_UDP,
};
use crate::ip::{IP_HEADER_MAX_LEN, IpHeader};

/// Largest probe packet (IPv6 TCP, §5.8).
pub const PROBE_MAX_LEN: usize = IP_HEADER_MAX_LEN + PROBE_TCP_LEN;

/// TCP flag SYN.
pub(crate) const TCP_SYN: u8 = 0x02;
/// TCP flag RST.
pub(crate) const TCP_RST: u8 = 0x04;
/// TCP flag ACK.
pub(crate) const TCP_ACK: u8 = 0x10;

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
    /// Random payload octets (ICMP, UDP); unused for TCP.
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
        let flow = self.flow_field().to_be_bytes();
        let identifier = self.identifier.to_be_bytes();
        let len = self.protocol.transport_len();
        // Both lengths are small constants.
        let pseudo = ip.pseudo_header_sum(self.protocol.number(family), len as u16);
        *out = [0; PROBE_TCP_LEN];
        match self.protocol {
            ProbeProtocol::Icmp => {
                out[0] = family.echo_request();
                out[2..4].copy_from_slice(&flow);
                out[4..6].copy_from_slice(&identifier);
                out[6..8].copy_from_slice(&PROBE_ICMP_SEQUENCE.to_be_bytes());
                out[8..14].copy_from_slice(&self.random);
                // The checksum field is forced to the flow; the last word compensates.
                seal(pseudo, out, PROBE_SHORT_LEN - 2);
            }
            ProbeProtocol::Udp => {
                out[0..2].copy_from_slice(&PROBE_SOURCE_PORT.to_be_bytes());
                out[2..4].copy_from_slice(&flow);
                out[4..6].copy_from_slice(&(PROBE_SHORT_LEN as u16).to_be_bytes());
                out[6..8].copy_from_slice(&identifier);
                out[8..14].copy_from_slice(&self.random);
                // The checksum field carries the identifier; the last word compensates.
                seal(pseudo, out, PROBE_SHORT_LEN - 2);
            }
            ProbeProtocol::Tcp => {
                out[0..2].copy_from_slice(&PROBE_SOURCE_PORT.to_be_bytes());
                out[2..4].copy_from_slice(&flow);
                out[4..8].copy_from_slice(&tcp_sequence(self.identifier).to_be_bytes());
                out[12] = 0x60;
                out[13] = TCP_SYN;
                out[14..16].copy_from_slice(&PROBE_TCP_WINDOW.to_be_bytes());
                out[20] = 2;
                out[21] = 4;
                out[22..24].copy_from_slice(&PROBE_TCP_MSS.to_be_bytes());
                seal(pseudo, out, 16);
            }
        }
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

/// TCP sequence number carrying `identifier` in the REF-1 layout (§5.4):
/// octets `00 00 id[1] id[0]`.
#[inline(always)]
pub fn tcp_sequence(identifier: u16) -> u32 {
    u32::from(identifier.swap_bytes())
}

/// The identifier a TCP probe's sequence number carries (inverse of
/// [`tcp_sequence`], low 16 bits).
#[inline(always)]
pub fn identifier_from_sequence(sequence: u32) -> u16 {
    // Only the low 16 bits carry the identifier.
    (sequence as u16).swap_bytes()
}
