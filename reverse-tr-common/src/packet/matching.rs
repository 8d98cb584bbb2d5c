//! Recognising an answer to a server probe in a whole IP packet (§6), for
//! userspace: the client and the tests. The eBPF program matches on the
//! octets it loads itself.

use core::net::IpAddr;

use super::icmp::IcmpMessage;
use super::ip::IpPacket;
use crate::answer::{ProbeMatch, is_quoting_error, match_echo_reply, match_quoted, match_tcp};
use crate::constants::PROTOCOL_TCP;

/// An answer to a server probe (§6): the hop that sent it and the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The answer's outer source address, reported to the client.
    pub hop: IpAddr,
    pub probe: ProbeMatch,
}

/// Recognises an answer to a server probe in an IP packet (§4.2, §6):
/// quoting ICMP errors, Echo Replies, TCP RST or SYN+ACK.
pub fn match_answer(packet: &IpPacket<'_>) -> Option<Answer> {
    let family = packet.family();
    let hop = packet.source();
    let probe = match packet.protocol() {
        PROTOCOL_TCP => match_tcp(hop, packet.payload())?,
        p if p == family.icmp_protocol() => {
            let icmp = IcmpMessage::new(packet.payload()).ok()?;
            if is_quoting_error(family, icmp.icmp_type(), icmp.code()) {
                match_quoted(family, icmp.body())?
            } else {
                match_echo_reply(family, hop, icmp.bytes())?
            }
        }
        _ => return None,
    };
    Some(Answer { hop, probe })
}
