//! End to end in the symmetric lab: what a two-way trace leaves behind —
//! `--json` on stdout, the statistics file (`-s`) in the reference's
//! schema, the graph (`-f`, `-o`), and the clear error when Graphviz is
//! missing. Needs root (network namespaces, raw sockets, eBPF).
#![cfg(feature = "root-tests")]

#[allow(
    dead_code,
    reason = "the shared helpers include the text-report parser, unused here"
)]
mod support;

use std::{collections::BTreeSet, path::PathBuf};

use reverse_tr_client::Report;
use reverse_tr_lab::{Family, Host, Lab, LabConfig};
use serde_json::Value;
use support::{client, start_server};

/// ε = 10⁻⁴ so both branches of the diamond are found (see lab.rs).
const TRACE: &[&str] = &["two-way", "udp", "multipath", "--confidence", "0.0001"];

fn scratch() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lab-outputs");
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn vectors() -> PathBuf {
    std::env::var_os("REVERSE_TR_VECTORS").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors")),
        PathBuf::from,
    )
}

#[test]
fn json_statistics_and_graph_of_a_two_way_trace() {
    let lab = Lab::up(LabConfig::default()).expect("the lab comes up");
    let _server = start_server(&lab);
    let target = lab.addr(Host::Server, Family::V4).to_string();
    let base = scratch().join("two-way");
    let base = base.to_string_lossy();
    let mut args = vec!["--json", "-s", "-f", "svg", "-o", &base];
    args.extend(TRACE);
    args.push(&target);
    let output = client(&lab, &args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    // stdout is our JSON, nothing else.
    let report: Report = serde_json::from_slice(&output.stdout).expect("stdout is the report");
    assert_eq!(report.version, 1);
    assert_eq!(report.target, target);
    assert_eq!(report.traces.len(), 2);
    assert!(report.traces.iter().all(|trace| trace.reached));
    let forward: BTreeSet<String> = report.traces[0]
        .hops
        .iter()
        .flat_map(|hop| hop.vertices.iter().filter_map(|v| v.address))
        .map(|address| address.to_string())
        .collect();
    for hop in [
        "10.255.0.1",
        "10.255.0.21",
        "10.255.0.22",
        "10.255.0.3",
        "10.255.0.4",
    ] {
        assert!(forward.contains(hop), "{hop} missing in {forward:?}");
    }

    // The statistics file has the reference's keys, in its order.
    let ours: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{base}.json")).expect("statistics file written"),
    )
    .expect("statistics file parses");
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(vectors().join("reference-v4-two-way-udp-multipath.json"))
            .expect("reference vector"),
    )
    .expect("reference parses");
    let keys = |value: &Value| -> Vec<String> {
        value
            .as_object()
            .map_or_else(Vec::new, |object| object.keys().cloned().collect())
    };
    assert_eq!(keys(&ours), keys(&reference));
    assert_eq!(keys(&ours["multipath"]), keys(&reference["multipath"]));
    assert_eq!(
        keys(&ours["traces"]["forward"][0]),
        keys(&reference["traces"]["forward"][0])
    );
    assert_eq!(ours["traces"]["forward"][0]["address"], "10.0.1.100");
    assert_eq!(ours["traces"]["reverse"][0]["address"], target.as_str());

    // The graph, laid out by Graphviz.
    let svg = std::fs::read_to_string(format!("{base}.svg")).expect("graph written");
    assert!(svg.contains("cluster_forward") && svg.contains("cluster_reverse"));
    assert!(
        stderr.contains(&format!("graph written to {base}.svg")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("statistics written to {base}.json")),
        "{stderr}"
    );

    without_graphviz_the_error_says_what_to_install(&lab, &target);
}

/// With no `dot` on PATH, `-f png` fails with one line naming the package,
/// after the report was printed.
fn without_graphviz_the_error_says_what_to_install(lab: &Lab, target: &str) {
    let base = scratch().join("no-graphviz");
    let output = lab
        .command(Host::Client, "env")
        .args(["PATH=/nonexistent", env!("CARGO_BIN_EXE_reverse-tr")])
        .args(["-n", "-l", "warning", "-f", "png", "-o"])
        .arg(&base)
        .args(["forward", "udp", "singlepath", "--flow", "33434", target])
        .output()
        .expect("the client runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("-f png needs the `dot` program of Graphviz")
            && stderr.contains("`graphviz` package"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("FORWARD"));
    assert!(!base.with_extension("png").exists());
}
