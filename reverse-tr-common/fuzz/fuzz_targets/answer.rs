//! The answer matchers (§6) on any octets: what they recognise is
//! consistent with the octets they were given.
#![no_main]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use reverse_tr_common::{
    Family, ProbeProtocol, is_quoting_error, match_echo_reply, match_quoted, match_tcp,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, octets)) = data.split_first() else {
        return;
    };
    let (family, hop) = if selector & 1 == 0 {
        (Family::V4, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)))
    } else {
        (
            Family::V6,
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 7)),
        )
    };
    if let [icmp_type, code, ..] = octets {
        let _ = is_quoting_error(family, *icmp_type, *code);
    }
    if let Some(found) = match_quoted(family, octets) {
        assert_eq!(found.session.is_ipv4(), family == Family::V4);
        assert!(found.flow.is_some() && found.source.is_some());
    }
    if let Some(found) = match_echo_reply(family, hop, octets) {
        assert_eq!(found.session, hop);
        assert_eq!(found.protocol, ProbeProtocol::Icmp);
        assert_eq!(found.identifier.to_be_bytes(), [octets[4], octets[5]]);
    }
    if let Some(found) = match_tcp(hop, octets) {
        assert_eq!(found.session, hop);
        assert_eq!(found.protocol, ProbeProtocol::Tcp);
        assert_eq!(found.flow.map(u16::to_be_bytes), Some([octets[0], octets[1]]));
    }
});
