//! `Response::decode` and `error_message` on any ICMP message; what
//! decodes re-encodes (through `Response::build`) to the same response.
#![no_main]

use core::net::{Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use reverse_tr_common::{
    Family, IpHeader, Ipv4Header, Ipv6Header, Outcome, RESPONSE_MAX_LEN, Response,
    packet::IpPacket, response::error_message,
};

fn header(family: Family) -> IpHeader {
    match family {
        Family::V4 => IpHeader::V4(Ipv4Header {
            source: Ipv4Addr::new(198, 51, 100, 1),
            destination: Ipv4Addr::new(192, 0, 2, 10),
            tos: 0,
            identification: 1,
            flags_fragment: 0,
        }),
        Family::V6 => IpHeader::V6(Ipv6Header {
            source: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1),
            destination: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10),
            traffic_class: 0,
            flow_label: 0,
        }),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, icmp)) = data.split_first() else {
        return;
    };
    let family = if selector & 1 == 0 {
        Family::V4
    } else {
        Family::V6
    };
    assert!(error_message(icmp).len() <= icmp.len());
    let Ok(response) = Response::decode(family, icmp) else {
        return;
    };
    let mut out = [0u8; RESPONSE_MAX_LEN];
    let len = response.build(&header(family), &mut out);
    let packet = IpPacket::new(&out[..len]).expect("the built response parses");
    let again = Response::decode(family, packet.payload()).expect("the built response decodes");
    // Only the low 32 bits of a span go on the wire (§7.5).
    let sent = match response.outcome {
        Outcome::Hop { address, span_ns } => Outcome::Hop {
            address,
            span_ns: span_ns & 0xFFFF_FFFF,
        },
        refused => refused,
    };
    assert_eq!(again, Response { outcome: sent, ..response });
});
