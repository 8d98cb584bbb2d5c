//! The zero-copy views on any frame: every accessor is total, payloads stay
//! within the IP length fields, and `match_answer` agrees with the view.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reverse_tr_common::packet::{
    EthernetFrame, IcmpMessage, IpPacket, TcpSegment, UdpDatagram, match_answer,
};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = EthernetFrame::new(data) else {
        return;
    };
    let _ = (frame.source(), frame.destination(), frame.ethertype());
    let Ok(packet) = frame.ip() else {
        return;
    };
    let (ip, payload) = (frame.payload(), packet.payload());
    let _ = (packet.source(), packet.destination(), packet.ttl());
    let _ = packet.reply_header();
    match packet {
        IpPacket::V4(v4) => {
            assert_eq!(
                v4.header_len() + payload.len(),
                usize::from(v4.total_length())
            );
            let _ = (v4.tos(), v4.identification(), v4.flags_fragment());
            let _ = (v4.header_checksum(), v4.header());
        }
        IpPacket::V6(v6) => {
            assert_eq!(payload.len(), usize::from(v6.payload_length()));
            let _ = (v6.traffic_class(), v6.flow_label(), v6.next_header());
            let _ = v6.hop_limit();
        }
    }
    assert!(payload.len() <= ip.len());
    if let Ok(icmp) = IcmpMessage::new(payload) {
        let _ = (icmp.icmp_type(), icmp.code(), icmp.checksum());
        let _ = (icmp.identifier(), icmp.sequence());
        assert!(icmp.body().len() <= icmp.bytes().len());
    }
    if let Ok(udp) = UdpDatagram::new(payload) {
        let _ = (udp.source_port(), udp.destination_port());
        let _ = (udp.length(), udp.checksum(), udp.payload());
    }
    if let Ok(tcp) = TcpSegment::new(payload) {
        let _ = (tcp.source_port(), tcp.destination_port(), tcp.sequence());
        let _ = (tcp.acknowledgement(), tcp.header_len(), tcp.flags());
        let _ = (tcp.window(), tcp.checksum(), tcp.options());
    }
    if let Some(answer) = match_answer(&packet) {
        assert_eq!(answer.hop, packet.source());
    }
});
