#![cfg(feature = "root-tests")]
//! Requests are served only to the host's own addresses, and never from
//! them, through BPF_PROG_TEST_RUN: a probe's source is its request's
//! destination, so a request to an address the host does not own would
//! make it send from that address; a request from one of its own
//! addresses would make it probe itself.

mod support;

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use reverse_tr_common::{
    Family,
    counter::Counter,
    policy::{Policy, padded_len},
};
use reverse_tr_server::{Config, policy::Lists};
use support::*;

/// A padded UDP request from `client` to `server`.
fn request_to(client: IpAddr, server: IpAddr, identifier: u16) -> Vec<u8> {
    let header = if client.is_ipv4() { 20 } else { 40 };
    let padding = padded_len(Family::of(client), 17) - header - 12;
    padded_request(client, server, (identifier, 5, 17, 0x3039), padding)
}

#[test]
fn only_requests_to_the_hosts_addresses_from_others_are_served() {
    let mut server = server(Config::default());
    let policy = Policy {
        local_only: 1,
        ..Policy::default()
    };
    server
        .apply(&policy, &Lists::default())
        .expect("policy applied");
    let mut local = server.take_local_addresses().expect("the address map");
    let own = [IpAddr::V4(SERVER_V4), IpAddr::V6(SERVER_V6)];
    local
        .set(&own.into_iter().collect())
        .expect("addresses written");
    let counter = |counter| server.counter(counter).expect("counter");
    let verdict = |frame: &[u8]| server.run(frame).expect("test run").verdict;

    let clients = [IpAddr::V4(CLIENT_V4), IpAddr::V6(CLIENT_V6)];
    let elsewhere = [
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)),
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2)),
    ];
    for ((client, server_address), other) in clients.into_iter().zip(own).zip(elsewhere) {
        assert_eq!(
            verdict(&request_to(client, server_address, 1)),
            REDIRECT,
            "{client} → {server_address} is served"
        );
        let not_local = counter(Counter::NotLocal);
        assert_eq!(verdict(&request_to(client, other, 2)), DROP, "{other}");
        assert_eq!(counter(Counter::NotLocal), not_local + 1, "{other}");
        // The host's own address as the source: it would probe itself.
        let refused = counter(Counter::RefusedOwn);
        assert_eq!(
            verdict(&request_to(server_address, server_address, 3)),
            DROP
        );
        assert_eq!(
            counter(Counter::RefusedOwn),
            refused + 1,
            "{server_address}"
        );
    }

    // An address removed is refused at once; one added is served at once.
    local
        .set(&BTreeSet::from([IpAddr::V4(SERVER_V4)]))
        .expect("addresses written");
    let client = IpAddr::V6(CLIENT_V6);
    assert_eq!(verdict(&request_to(client, IpAddr::V6(SERVER_V6), 4)), DROP);
    local
        .set(&BTreeSet::from([IpAddr::V4(SERVER_V4), elsewhere[1]]))
        .expect("addresses written");
    assert_eq!(verdict(&request_to(client, elsewhere[1], 5)), REDIRECT);
    assert_eq!(counter(Counter::NotLocal), 3);
}
