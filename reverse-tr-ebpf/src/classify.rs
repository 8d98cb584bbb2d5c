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
    constants::{CODE_REVERSE_TRACEROUTE, IPV6_HEADER_LEN},
    is_icmp_answer, is_tcp_answer,
};

use crate::parse::{ETH_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, octets};

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
    let [high, low] = octets::<2>(ctx, ETH_LEN - 2)?;
    let (family, protocol, transport_at) = match u16::from_be_bytes([high, low]) {
        ETHERTYPE_IPV4 => {
            let header = octets::<10>(ctx, ETH_LEN)?;
            // IHL is 4 bits: the offset stays below 14 + 60.
            let header_len = usize::from(header[0] & 0x0F) * 4;
            (Family::V4, header[9], ETH_LEN + header_len)
        }
        ETHERTYPE_IPV6 => {
            let header = octets::<7>(ctx, ETH_LEN)?;
            (Family::V6, header[6], ETH_LEN + IPV6_HEADER_LEN)
        }
        _ => return None,
    };
    if protocol == family.icmp_protocol() {
        let [icmp_type, code] = octets::<2>(ctx, transport_at)?;
        if icmp_type == family.echo_request() && code == CODE_REVERSE_TRACEROUTE {
            Some(Kind::Request)
        } else {
            is_icmp_answer(family, icmp_type, code).then_some(Kind::Answer)
        }
    } else if protocol == ProbeProtocol::Tcp.number(family) {
        let tcp = octets::<14>(ctx, transport_at)?;
        is_tcp_answer(u16::from_be_bytes([tcp[2], tcp[3]]), tcp[13]).then_some(Kind::Answer)
    } else {
        None
    }
}
