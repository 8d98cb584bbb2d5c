//! Sending probes and receiving answers: raw sockets, the rate limit and
//! the batch engine both directions share.

pub(crate) mod engine;
pub(crate) mod pacer;
mod quiet;
pub(crate) mod socket;

pub(crate) use engine::{Engine, Reply, Wire};
pub use pacer::Pacer;
#[cfg(test)]
pub(crate) use quiet::Wait;
pub(crate) use socket::{RawSocket, Received};

use std::net::{IpAddr, Ipv6Addr};

use reverse_tr_common::{IpHeader, Ipv4Header, Ipv6Header};

/// The IP header of everything this client sends: IPv4 TOS 0, ID 1, DF
/// clear; IPv6 traffic class and flow label 0 — the reference's values
/// (§11.4, §11.5.1), constant over a trace because ECMP may hash them and
/// the server copies a request's into its probe (§3.4).
pub(crate) fn ip_header(local: IpAddr, target: IpAddr) -> IpHeader {
    match (local, target) {
        (IpAddr::V4(source), IpAddr::V4(destination)) => IpHeader::V4(Ipv4Header {
            source,
            destination,
            tos: 0,
            identification: 1,
            flags_fragment: 0,
        }),
        (source, destination) => IpHeader::V6(Ipv6Header {
            source: as_v6(source),
            destination: as_v6(destination),
            traffic_class: 0,
            flow_label: 0,
        }),
    }
}

/// Both addresses of a trace share a family; a mixed pair (impossible)
/// would land here in IPv4-mapped form rather than panic.
fn as_v6(address: IpAddr) -> Ipv6Addr {
    match address {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}
