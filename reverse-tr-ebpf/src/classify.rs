//! Telling from a handful of octets, before any map lookup or tail call,
//! whether a frame can be ours: a request, or a packet that can answer a
//! probe (§6.2, §6.3). UDP, other ICMP types and TCP segments not to the
//! probe port or without RST or SYN-ACK pass at once; only the rest pay
//! for the full parse (`parse`) and the stages.
//!
//! The octets are read with `parse::octets`, straight from the linear
//! packet data where they lie in it. The decision is a superset of what
//! the stages accept: they check everything again.

use aya_ebpf::programs::TcContext;
use reverse_tr_common::{
    Family, ProbeProtocol,
    constants::CODE_REVERSE_TRACEROUTE,
    is_icmp_answer, is_tcp_answer,
    packet::{
        ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ethernet, icmp, ipv4, ipv6, tcp,
    },
};

use crate::parse::{octets, word};

/// What a frame can be.
pub enum Kind {
    /// An Echo Request with code 1.
    Request,
    /// A possible answer to a probe.
    Answer,
}

/// What `ctx`'s frame can be; `None` if it cannot be ours.
#[inline(always)]
pub fn classify(ctx: &TcContext) -> Option<Kind> {
    let ethertype = octets::<2>(ctx, ethernet::field::ETHERTYPE.start)?;
    let (family, protocol, transport_at) = match u16::from_be_bytes(ethertype) {
        ETHERTYPE_IPV4 => {
            use ipv4::field::{PROTOCOL, VERSION_IHL};
            let header = octets::<{ PROTOCOL + 1 }>(ctx, ETHERNET_HEADER_LEN)?;
            // IHL is 4 bits: the offset stays below 14 + 60.
            let header_len = usize::from(header[VERSION_IHL] & 0x0F) * 4;
            (
                Family::V4,
                header[PROTOCOL],
                ETHERNET_HEADER_LEN + header_len,
            )
        }
        ETHERTYPE_IPV6 => {
            use ipv6::field::NEXT_HEADER;
            let header = octets::<{ NEXT_HEADER + 1 }>(ctx, ETHERNET_HEADER_LEN)?;
            (
                Family::V6,
                header[NEXT_HEADER],
                ETHERNET_HEADER_LEN + ipv6::HEADER_LEN,
            )
        }
        _ => return None,
    };
    if protocol == family.icmp_protocol() {
        const { assert!(icmp::field::TYPE == 0 && icmp::field::CODE == 1) };
        let [icmp_type, code] = octets::<2>(ctx, transport_at)?;
        if icmp_type == family.echo_request() && code == CODE_REVERSE_TRACEROUTE {
            Some(Kind::Request)
        } else {
            is_icmp_answer(family, icmp_type, code).then_some(Kind::Answer)
        }
    } else if protocol == ProbeProtocol::Tcp.number(family) {
        use tcp::field::{DESTINATION_PORT, FLAGS};
        let tcp = octets::<{ FLAGS + 1 }>(ctx, transport_at)?;
        is_tcp_answer(word(&tcp, DESTINATION_PORT), tcp[FLAGS]).then_some(Kind::Answer)
    } else {
        None
    }
}
