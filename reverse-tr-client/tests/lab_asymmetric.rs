//! End to end in the asymmetric lab, whose way back passes r5 while the way
//! there crosses the diamond: a two-way trace must show both paths, each
//! right. Needs root (network namespaces, raw sockets, eBPF).
#![cfg(feature = "root-tests")]

mod support;

use reverse_tr_lab::{Direction, Host, Lab, LabConfig};
use support::{FAMILIES, PROTOCOLS, start_server, wrong_trace};

#[test]
fn two_way_traces_see_the_reverse_path_differ_from_the_forward_path() {
    let lab = Lab::up(LabConfig {
        asymmetric: true,
        name: None,
    })
    .expect("the lab comes up");
    let _server = start_server(&lab);
    let mut failures = Vec::new();
    for family in FAMILIES {
        let target = lab.addr(Host::Server, family).to_string();
        let forward = lab.expected_hops(Direction::Forward, family);
        let reverse = lab.expected_hops(Direction::Reverse, family);
        assert_ne!(forward, reverse, "the lab's paths differ");
        for protocol in PROTOCOLS {
            // ε = 10⁻⁴ so the diamond's branches are found with certainty
            // for the test's purposes (see lab.rs).
            let args = [
                "two-way",
                protocol,
                "multipath",
                "--confidence",
                "0.0001",
                target.as_str(),
            ];
            failures.extend(wrong_trace(&lab, &args, |way| {
                lab.expected_hops(way, family)
            }));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 6 runs went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
