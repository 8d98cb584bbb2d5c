#![cfg(feature = "root-tests")]
//! The live mode's report in the symmetric lab: a few cycles both ways,
//! and every vertex monitored is a true hop at its TTL, every TTL present.
//! Needs root (network namespaces, raw sockets, eBPF).

// Shared with the other lab tests, which use helpers this one does not.
#[allow(dead_code)]
mod support;

use std::{
    io::{BufRead, BufReader},
    process::Stdio,
};

use reverse_tr_lab::{Conditions, Direction, Hops, Host, Lab, LabConfig};
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

/// Cycles of the reverse-loss run: the first clean (discovery and one
/// cycle), the rest with r3 dropping [`REVERSE_LOSS`] % of the reverse
/// probes it forwards towards the client.
const LOSSY_CYCLES: u64 = 20;
const REVERSE_LOSS: u8 = 40;

/// Loss on one router's way back only: r3 drops a share of the server's
/// probes towards the client. The reverse table shows loss at every vertex
/// after r3 (nearer the client), none before it; the forward table, whose
/// probes and answers r3 leaves alone, shows none. Discovery and the first
/// cycle run clean, so the path monitored is the whole path.
#[test]
fn live_report_shows_loss_on_the_way_back_in_the_reverse_table_only() {
    let lab = Lab::up(LabConfig::default()).expect("the lab comes up");
    let _server = start_server(&lab);
    for family in FAMILIES {
        lab.set_conditions(&Conditions::default())
            .expect("a clean lab");
        let target = lab.addr(Host::Server, family).to_string();
        let cycles = (LOSSY_CYCLES + 1).to_string();
        let mut child = lab
            .command(Host::Client, env!("CARGO_BIN_EXE_reverse-tr"))
            .args(["-n", "-l", "warning", "two-way", "udp", "live", "--jsonl"])
            .args(["--cycles", &cycles, &target])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the client runs");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut last = lines
            .next()
            .expect("a first cycle")
            .expect("a line of JSON");
        lab.set_conditions(&Conditions::default().reverse_loss(Host::R3, REVERSE_LOSS))
            .expect("reverse loss at r3");
        for line in lines {
            last = line.expect("a line of JSON");
        }
        assert!(child.wait().expect("the client ends").success());
        let report: serde_json::Value = serde_json::from_str(&last).expect("JSON");
        assert_eq!(report["cycle"], LOSSY_CYCLES + 1, "{last}");

        let forward = vertices(&report["forward"]);
        assert!(!forward.is_empty());
        for (ttl, address, sent, received) in &forward {
            assert!(
                loss(*sent, *received) < 0.1,
                "{family:?} forward TTL {ttl} {address}: {received} of {sent} answered"
            );
        }

        let reverse = vertices(&report["reverse"]);
        let r3_ttl = lab
            .expected_hops(Direction::Reverse, family)
            .into_iter()
            .find(|(_, addresses)| addresses.contains(&Host::R3.addr(family)))
            .map(|(ttl, _)| ttl)
            .expect("r3 is on the way back");
        let (before, after): (Vec<_>, Vec<_>) =
            reverse.iter().partition(|(ttl, ..)| *ttl <= r3_ttl);
        assert!(!before.is_empty() && !after.is_empty(), "{reverse:?}");
        for (ttl, address, sent, received) in before {
            assert!(
                loss(*sent, *received) < 0.1,
                "{family:?} reverse TTL {ttl} {address}, up to r3: {received} of {sent} answered"
            );
        }
        for (ttl, address, sent, received) in &after {
            assert!(
                received < sent,
                "{family:?} reverse TTL {ttl} {address}, after r3: no loss in {sent}"
            );
        }
        // 40 % of the lossy cycles' probes: about 38 % of all; 4 standard
        // deviations of the ~160 probes below that is still over 20 %.
        let (sent, received) = after.iter().fold((0, 0), |(s, r), (_, _, sent, received)| {
            (s + sent, r + received)
        });
        assert!(
            loss(sent, received) > 0.2,
            "{family:?} reverse after r3: {received} of {sent} answered"
        );
    }
}

/// TTL, address, sent and received of every vertex of a direction's table.
fn vertices(path: &serde_json::Value) -> Vec<(u8, String, u64, u64)> {
    let mut found = Vec::new();
    for hop in path["hops"].as_array().expect("hops") {
        let ttl = u8::try_from(hop["ttl"].as_u64().expect("ttl")).expect("TTL");
        for vertex in hop["vertices"].as_array().expect("vertices") {
            found.push((
                ttl,
                vertex["address"].to_string(),
                vertex["sent"].as_u64().expect("sent"),
                vertex["received"].as_u64().expect("received"),
            ));
        }
    }
    found
}

fn loss(sent: u64, received: u64) -> f64 {
    assert!(sent > 0, "every vertex is probed");
    (sent - received) as f64 / sent as f64
}
