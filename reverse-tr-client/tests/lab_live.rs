#![cfg(feature = "root-tests")]
//! The live mode's report in the symmetric lab: a few cycles both ways,
//! and every vertex monitored is a true hop at its TTL, every TTL present.
//! Needs root (network namespaces, raw sockets, eBPF).

// Shared with the other lab tests, which use helpers this one does not.
#[allow(dead_code)]
mod support;

use reverse_tr_lab::{Direction, Hops, Host, Lab, LabConfig};
use support::{FAMILIES, client, start_server};

#[test]
fn live_report_both_ways_monitors_the_true_hops() {
    let lab = Lab::up(LabConfig::default()).expect("the lab comes up");
    let _server = start_server(&lab);
    for family in FAMILIES {
        let target = lab.addr(Host::Server, family).to_string();
        let output = client(
            &lab,
            &["two-way", "udp", "live", "--json", "--cycles", "3", &target],
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
        assert_eq!(report["cycle"], 3);
        for (key, direction) in [
            ("forward", Direction::Forward),
            ("reverse", Direction::Reverse),
        ] {
            let expected = lab.expected_hops(direction, family);
            let mut found = Hops::new();
            for hop in report[key]["hops"].as_array().expect("hops") {
                let ttl = u8::try_from(hop["ttl"].as_u64().expect("ttl")).expect("TTL");
                for vertex in hop["vertices"].as_array().expect("vertices") {
                    let address = vertex["address"].as_str().expect("every hop answers");
                    found
                        .entry(ttl)
                        .or_default()
                        .insert(address.parse().expect("address"));
                    assert_eq!(vertex["sent"], 3, "{key} {vertex}");
                    assert_eq!(vertex["loss_percent"], 0.0, "{key} {vertex}");
                }
            }
            assert_eq!(
                found.keys().collect::<Vec<_>>(),
                expected.keys().collect::<Vec<_>>(),
                "{key} {family:?}"
            );
            for (ttl, addresses) in &found {
                assert!(
                    addresses.is_subset(&expected[ttl]),
                    "{key} TTL {ttl}: {addresses:?} vs {:?}",
                    expected[ttl]
                );
            }
        }
    }
}
