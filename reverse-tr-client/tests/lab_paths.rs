//! The per-flow jobs in the symmetric lab: `paths` tables of the diamond
//! forward and reverse, and `fault` isolation with 30 % loss (nftables) on one
//! branch. Needs root (network namespaces, raw sockets, eBPF, nftables).
#![cfg(feature = "root-tests")]

#[allow(
    dead_code,
    reason = "the shared helpers include the trace-report parser, unused here"
)]
mod support;

use std::{collections::BTreeSet, net::IpAddr};

use reverse_tr_lab::{Family, Host, Lab, LabConfig};
use support::{FAMILIES, PROTOCOLS, client, start_server_with};

#[test]
fn per_flow_jobs_in_the_symmetric_lab() {
    let lab = Lab::up(LabConfig::default()).expect("the lab comes up");
    // The jobs run at 2000 probes/s, over the server's default per-source
    // limit (400 requests/s): no rate limit, or reverse rounds lose requests.
    let _server = start_server_with(&lab, &["--rate", "0", "--prefix-rate", "0"]);
    path_tables_show_both_branches_of_equal_length(&lab);
    for family in [Family::V4, Family::V6] {
        fault_isolation_names_the_lossy_branch_only(&lab, family);
    }
}

/// Runs `reverse-tr --rate 2000 --timeout 1 DIRECTION PROTOCOL MODE… TARGET`
/// in the client's namespace and returns its stdout, asserting success.
fn job(lab: &Lab, target: &str, direction: &str, protocol: &str, mode: &[&str]) -> String {
    let args: Vec<&str> = ["--rate", "2000", "--timeout", "1", direction, protocol]
        .into_iter()
        .chain(mode.iter().copied())
        .chain([target])
        .collect();
    let output = client(lab, &args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Every address in the table rows (lines starting with a path ID).
fn addresses(table: &str) -> BTreeSet<IpAddr> {
    table
        .lines()
        .filter(|line| line.starts_with(|c: char| c.is_ascii_digit()))
        .flat_map(|line| line.split_whitespace())
        .flat_map(|cell| cell.split('/'))
        .filter_map(|word| word.parse().ok())
        .collect()
}

fn path_tables_show_both_branches_of_equal_length(lab: &Lab) {
    for family in FAMILIES {
        let target = lab.addr(Host::Server, family).to_string();
        for direction in ["forward", "reverse"] {
            for protocol in PROTOCOLS {
                let table = job(
                    lab,
                    &target,
                    direction,
                    protocol,
                    &["paths", "--paths", "16"],
                );
                let seen = addresses(&table);
                let case = format!("{family:?} {direction} {protocol}:\n{table}");
                for branch in [Host::R2a, Host::R2b] {
                    assert!(seen.contains(&lab.addr(branch, family)), "{case}");
                }
                assert!(
                    table.contains("2 unique path(s) among 16 path IDs"),
                    "{case}"
                );
                assert!(
                    table.contains("all 16 path(s) reaching the destination are 5 hops long"),
                    "{case}"
                );
                assert_eq!(
                    table.matches("= path").count(),
                    14,
                    "every path but the first of each branch is a duplicate, {case}"
                );
            }
        }
    }
}

/// 30 % random loss of the TCP packets a router forwards out of one
/// interface, removed on drop. The kernel here has no netem qdisc, so an
/// nftables rule drops them (`numgen random`), which is the same to the
/// probes. Only TCP: reverse, the server's tr-responses (ICMP) may take the
/// same branch as its probes, and losing them would hide where the probes
/// are lost.
struct Loss<'a> {
    lab: &'a Lab,
    host: Host,
}

impl<'a> Loss<'a> {
    fn add(lab: &'a Lab, host: Host, interface: &str) -> Self {
        let table = ["inet", "reverse_tr_loss"];
        let commands = [
            ["add", "table"]
                .iter()
                .chain(&table)
                .copied()
                .collect::<Vec<_>>(),
            ["add", "chain"]
                .iter()
                .chain(&table)
                .chain(&["forward", "{ type filter hook forward priority 0 ; }"])
                .copied()
                .collect(),
            ["add", "rule"]
                .iter()
                .chain(&table)
                .chain(&["forward", "oifname", interface, "meta", "l4proto", "tcp"])
                .chain(&["numgen", "random", "mod", "100", "lt", "30", "drop"])
                .copied()
                .collect(),
        ];
        for args in commands {
            let status = lab
                .command(host, "nft")
                .args(&args)
                .status()
                .expect("nft runs");
            assert!(status.success(), "nft {args:?} in {host:?}");
        }
        Self { lab, host }
    }
}

impl Drop for Loss<'_> {
    fn drop(&mut self) {
        // The lab's teardown removes the rule with the namespace anyway.
        let _ = self
            .lab
            .command(self.host, "nft")
            .args(["delete", "table", "inet", "reverse_tr_loss"])
            .status();
    }
}

/// The suspect links of a JSON fault report's `direction`:
/// (last good hop, first bad hop).
fn suspect_links(json: &str, direction: &str) -> BTreeSet<(String, String)> {
    let report: serde_json::Value = serde_json::from_str(json).expect("JSON report");
    report[direction]["suspects"]
        .as_array()
        .expect("suspects")
        .iter()
        .map(|suspect| {
            (
                suspect["last_good_hop"].as_str().unwrap_or("*").to_owned(),
                suspect["first_bad_hop"].as_str().unwrap_or("*").to_owned(),
            )
        })
        .collect()
}

/// 16 flows × 5 TTLs × 40 rounds: 3200 probes a run, about 2 s at 2000/s.
fn fault_isolation_names_the_lossy_branch_only(lab: &Lab, family: Family) {
    let target = lab.addr(Host::Server, family).to_string();
    let (r2a, r3, r1) = (
        lab.addr(Host::R2a, family).to_string(),
        lab.addr(Host::R3, family).to_string(),
        lab.addr(Host::R1, family).to_string(),
    );
    let fault = |direction: &str, json: bool| {
        let mode = ["fault", "--flows", "16", "--rounds", "40", "--json"];
        let mode = if json { &mode[..] } else { &mode[..5] };
        job(lab, &target, direction, "tcp", mode)
    };
    let suspects = |direction: &str| {
        let json = fault(direction, true);
        suspect_links(&json, direction)
    };
    for direction in ["forward", "reverse"] {
        assert_eq!(
            suspects(direction),
            BTreeSet::new(),
            "{direction} {family:?} without loss"
        );
    }
    {
        let _loss = Loss::add(lab, Host::R2a, "r3");
        assert_eq!(
            suspects("forward"),
            BTreeSet::from([(r2a.clone(), r3)]),
            "forward {family:?}, loss from r2a to r3"
        );
    }
    {
        let _loss = Loss::add(lab, Host::R2a, "r1");
        assert_eq!(
            suspects("reverse"),
            BTreeSet::from([(r2a.clone(), r1)]),
            "reverse {family:?}, loss from r2a to r1"
        );
    }
    // The text report names the branch too.
    let _loss = Loss::add(lab, Host::R2a, "r3");
    let text = fault("forward", false);
    assert!(text.contains(&format!("suspect: {r2a} -> ")), "{text}");
    let r2b = lab.addr(Host::R2b, family).to_string();
    assert!(!text.contains(&r2b), "{text}");
}
