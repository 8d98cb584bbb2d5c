//! The demo of the README runs to its end: the lab comes up, our server
//! answers, the two-way trace shows the forward path through the diamond and
//! the different reverse path through r5, the graph is drawn as SVG and PNG,
//! and everything is torn down.
//! Needs root; uses the binaries `cargo test` built beside this test.
#![cfg(feature = "root-tests")]

use std::path::PathBuf;

use xtask::demo::Demo;

#[test]
fn the_demo_traces_both_ways_and_cleans_up() {
    // target/debug/deps/demo-<hash> → target/debug
    let binaries = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .expect("the test binary lives in the target directory");
    assert!(
        binaries.join("reverse-tr").exists() && binaries.join("reverse-tr-server").exists(),
        "run through `cargo test` at the workspace root so the server and client are built"
    );
    let output = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let namespaces_before = namespaces();

    let trace = Demo { binaries, output }.run().expect("the demo runs");

    assert!(
        trace.status.success(),
        "client exit: {}\n{}",
        trace.status,
        trace.report
    );
    let (forward, reverse) = trace
        .report
        .split_once("REVERSE")
        .expect("the report has a reverse part");
    for (part, hop) in [
        (forward, "10.255.0.1"),
        (forward, "10.255.0.3"),
        (forward, "10.255.0.4"),
        (reverse, "10.255.0.5"),
        (reverse, "10.255.0.1"),
    ] {
        assert!(part.contains(hop), "{hop} missing in\n{part}");
    }
    assert!(
        !forward.contains("10.255.0.5"),
        "r5 is on the reverse path only:\n{forward}"
    );
    assert_eq!(
        trace.report.matches("destination reached").count(),
        2,
        "{}",
        trace.report
    );
    let [svg, png] = &trace.pictures[..] else {
        panic!("an SVG and a PNG: {:?}", trace.pictures)
    };
    let svg = std::fs::read_to_string(svg).expect("the SVG is written");
    for cluster in [
        "cluster_forward",
        "cluster_reverse",
        "FORWARD",
        "REVERSE",
        "10.255.0.5",
    ] {
        assert!(svg.contains(cluster), "{cluster} missing in the SVG");
    }
    let png = std::fs::read(png).expect("the PNG is written");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert_eq!(namespaces(), namespaces_before, "the demo's lab is gone");
}

/// The network namespaces of our labs that exist right now.
fn namespaces() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|dir| {
            dir.filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter(|name| name.starts_with("rtr-"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
