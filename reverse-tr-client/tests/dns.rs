//! Reverse DNS (§11.11) against a DNS responder the test runs on
//! 127.0.0.1: names found, names missing, and a server that never answers.

use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    time::Duration,
};

use hickory_resolver::proto::{
    op::{Message, OpCode, ResponseCode},
    rr::{Name, RData, Record, rdata::PTR},
};
use reverse_tr_client::ReverseDns;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

/// The PTR names the responder gives `address`; `None`: it stays silent.
fn zone(address: IpAddr) -> Option<Vec<&'static str>> {
    match address.to_string().as_str() {
        "192.0.2.1" => Some(vec!["router-a.example.", "alias-a.example."]),
        "2001:db8::1" => Some(vec!["router-b.example."]),
        "192.0.2.2" => Some(vec![]),
        _ => None,
    }
}

/// Answers PTR queries from `zone` on a loopback port for the test's life.
fn responder() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind on loopback");
    let address = socket.local_addr().expect("local address");
    std::thread::spawn(move || {
        let mut buffer = [0; 1500];
        while let Ok((length, from)) = socket.recv_from(&mut buffer) {
            let Ok(query) = Message::from_vec(&buffer[..length]) else {
                continue;
            };
            let Some(question) = query.queries.first() else {
                continue;
            };
            let Some(names) = question
                .name()
                .parse_arpa_name()
                .ok()
                .and_then(|net| zone(net.addr()))
            else {
                continue;
            };
            let mut answer = Message::response(query.metadata.id, OpCode::Query);
            answer.metadata.recursion_available = true;
            answer.add_query(question.clone());
            if names.is_empty() {
                answer.metadata.response_code = ResponseCode::NXDomain;
            }
            for name in names {
                let target = Name::from_ascii(name).expect("test name");
                answer.add_answer(Record::from_rdata(
                    question.name().clone(),
                    60,
                    RData::PTR(PTR(target)),
                ));
            }
            let bytes = answer.to_vec().expect("encode answer");
            let _ = socket.send_to(&bytes, from);
        }
    });
    address
}

#[tokio::test]
async fn names_come_back_for_those_that_have_them() {
    let dns = ReverseDns::with_name_servers(&[responder()]).expect("resolver");
    let addresses = [ip("192.0.2.1"), ip("192.0.2.2"), ip("2001:db8::1")];
    let names = dns.names(addresses, Duration::from_secs(5)).await;
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(
        names[&ip("192.0.2.1")],
        ["router-a.example", "alias-a.example"]
    );
    assert_eq!(names[&ip("2001:db8::1")], ["router-b.example"]);
}

#[tokio::test]
async fn a_silent_server_leaves_only_its_addresses_unnamed() {
    let dns = ReverseDns::with_name_servers(&[responder()]).expect("resolver");
    // 192.0.2.9 is never answered: its lookup runs into the total bound.
    let addresses = [ip("192.0.2.9"), ip("192.0.2.1")];
    let names = dns.names(addresses, Duration::from_millis(500)).await;
    assert_eq!(names.keys().collect::<Vec<_>>(), [&ip("192.0.2.1")]);
}
