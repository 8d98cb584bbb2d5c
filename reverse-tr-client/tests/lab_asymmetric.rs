//! End to end in the asymmetric lab, whose way back passes r5 while the way
//! there crosses the diamond: a two-way trace must show both paths, each
//! right. Needs root (network namespaces, raw sockets, eBPF).
#![cfg(feature = "root-tests")]

mod support;

use reverse_tr_lab::{Direction, Host, Lab, LabConfig, describe};
use support::{FAMILIES, PROTOCOLS, client, parse_report, start_server};

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
            let output = client(&lab, &args);
            let stdout = String::from_utf8_lossy(&output.stdout);
            let report = parse_report(&stdout);
            let (traced_forward, traced_reverse) = (report.get("FORWARD"), report.get("REVERSE"));
            if !output.status.success()
                || traced_forward != Some(&forward)
                || traced_reverse != Some(&reverse)
            {
                failures.push(format!(
                    "{args:?} (exit {:?}): forward {} (expected {}), reverse {} (expected {})\n{stdout}{}",
                    output.status.code(),
                    traced_forward.map(describe).unwrap_or_default(),
                    describe(&forward),
                    traced_reverse.map(describe).unwrap_or_default(),
                    describe(&reverse),
                    String::from_utf8_lossy(&output.stderr),
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 6 runs went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
