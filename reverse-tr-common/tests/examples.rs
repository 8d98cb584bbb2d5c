//! Byte-exact checks against the worked examples of PROTOCOL.md §3.8, §5.10
//! and §7.8.

use std::net::{IpAddr, Ipv4Addr};

use reverse_tr_common::{
    IpHeader, Ipv4Header, Outcome, PROBE_MAX_LEN, Probe, ProbeProtocol, REQUEST_MAX_LEN,
    RESPONSE_MAX_LEN, Request, RequestHeader, Response, State,
};

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|octet| u8::from_str_radix(octet, 16).expect("hex octet"))
        .collect()
}

fn header(source: Ipv4Addr, destination: Ipv4Addr, identification: u16) -> IpHeader {
    IpHeader::V4(Ipv4Header {
        source,
        destination,
        tos: 0,
        identification,
        flags_fragment: 0,
    })
}

fn probe(protocol: ProbeProtocol) -> Probe {
    Probe {
        protocol,
        ttl: 5,
        flow: 12345,
        identifier: 0x0102,
        random: [0x11, 0x22, 0x33, 0x44, 0x55, 0x66],
    }
}

#[test]
fn request_of_3_8() {
    let request = Request {
        identifier: 0x0102,
        sequence: 0,
        header: RequestHeader {
            ttl: 5,
            protocol: 17,
            flow: 12345,
        },
    };
    let mut out = [0; REQUEST_MAX_LEN];
    let len = request
        .build(&header(CLIENT, SERVER, 1), 0, &mut out)
        .expect("no padding fits");
    let expected = hex("45 00 00 20 00 01 00 00 40 01 8e 9d c0 00 02 0a c6 33 64 01
         08 01 c1 b2 01 02 00 00 05 11 30 39");
    assert_eq!(&out[..len], expected.as_slice());
    let decoded = Request::decode(reverse_tr_common::Family::V4, &expected[20..]).expect("decodes");
    assert_eq!(decoded, request);
}

#[test]
fn udp_probe_of_5_10() {
    let mut out = [0; PROBE_MAX_LEN];
    let len = probe(ProbeProtocol::Udp).build(&header(SERVER, CLIENT, 1), &mut out);
    let expected = hex("45 00 00 24 00 01 00 00 05 11 c9 89 c6 33 64 01 c0 00 02 0a
         03 fd 30 39 00 10 01 02 11 22 33 44 55 66 44 8a");
    assert_eq!(&out[..len], expected.as_slice());
}

#[test]
fn icmp_probe_of_5_10() {
    let mut out = [0; 24];
    let len = probe(ProbeProtocol::Icmp).write_transport(&header(SERVER, CLIENT, 1), &mut out);
    assert_eq!(
        &out[..len],
        hex("08 00 30 39 01 02 ff ff 11 22 33 44 55 66 2c f8").as_slice()
    );
}

#[test]
fn tcp_probe_of_5_10() {
    let mut out = [0; 24];
    let len = probe(ProbeProtocol::Tcp).write_transport(&header(SERVER, CLIENT, 1), &mut out);
    // Unlike §5.10's reference bytes (zeros), the sequence number's high half
    // carries the first two random octets (0x1122), so an answer's
    // acknowledgement can be authenticated (§5.4 allows any value there).
    let expected = hex("03 fd 30 39 11 22 02 01 00 00 00 00 60 02 04 00 60 8e 00 00 02 04 05 b4");
    assert_eq!(&out[..len], expected.as_slice());
}

#[test]
fn success_response_of_7_8() {
    let response = Response {
        identifier: 0x0102,
        sequence: 0,
        outcome: Outcome::Hop {
            address: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
            span_ns: 1_234_567,
        },
    };
    let mut out = [0; RESPONSE_MAX_LEN];
    let len = response.build(&header(SERVER, CLIENT, 0), &mut out);
    let expected = hex("45 00 00 38 00 00 00 00 40 01 8e 86 c6 33 64 01 c0 00 02 0a
         00 01 ec 5a 01 02 00 00
         00 00 00 00
         00 00 00 00 00 00 00 00 00 00 ff ff cb 00 71 07
         00 12 d6 87 00 00 00 00");
    assert_eq!(&out[..len], expected.as_slice());
    let decoded =
        Response::decode(reverse_tr_common::Family::V4, &expected[20..]).expect("decodes");
    assert_eq!(decoded, response);
}

#[test]
fn error_response_of_7_8() {
    let response = Response {
        identifier: 0x0102,
        sequence: 0,
        outcome: Outcome::Refused {
            state: State::InvalidTtl,
            reserved: [0, 0],
        },
    };
    let mut out = [0; 36];
    let len = response.write_message(&header(SERVER, CLIENT, 1), &mut out);
    assert_eq!(
        &out[..len],
        hex("00 01 fd fc 01 02 00 00 01 00 00 00").as_slice()
    );
}
