//! `Request::decode` on any IP packet; for every request it accepts, the
//! probe the server builds parses back, goes to the requester, and is
//! recognised in an ICMP error quoting it (§5, §6.2).
#![no_main]

use libfuzzer_sys::fuzz_target;
use reverse_tr_common::{PROBE_MAX_LEN, Request, match_quoted, packet::IpPacket};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = IpPacket::new(data) else {
        return;
    };
    let family = packet.family();
    let Ok(request) = Request::decode(family, packet.payload()) else {
        return;
    };
    let Ok(probe) = request.probe(family, [1, 2, 3, 4, 5, 6]) else {
        return;
    };
    let mut out = [0u8; PROBE_MAX_LEN];
    let len = probe.build(&packet.reply_header(), &mut out);
    assert!(len > 0, "a valid request always yields a probe");
    let built = IpPacket::new(&out[..len]).expect("the probe parses");
    assert_eq!(built.destination(), packet.source(), "probe to the requester");
    let found = match_quoted(family, &out[..len]).expect("the probe's quote matches");
    assert_eq!(
        (found.session, found.identifier),
        (packet.source(), request.identifier)
    );
});
