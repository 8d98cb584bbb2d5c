//! The classic hop view and the HTML page of real traces in the symmetric
//! lab. Needs root (network namespaces, raw sockets, eBPF) and, for the
//! page, Debian's chromium (scripts/setup installs it).
#![cfg(feature = "root-tests")]

#[allow(
    dead_code,
    reason = "the shared helpers include the trace-report parser, unused here"
)]
mod support;

use std::{collections::BTreeSet, net::IpAddr};

use reverse_tr_lab::{Direction, Hops, Host, Lab, LabConfig, describe, fits};
use support::{FAMILIES, chromium::chromium, client, start_server};

#[test]
fn views_of_lab_traces() {
    let lab = Lab::up(LabConfig::default()).expect("the lab comes up");
    let _server = start_server(&lab);
    classic_lists_the_true_hops_per_ttl(&lab);
    the_page_draws_every_hop_of_a_two_way_trace(&lab);
}

fn classic_lists_the_true_hops_per_ttl(lab: &Lab) {
    for family in FAMILIES {
        let target = lab.addr(Host::Server, family).to_string();
        for (direction, header) in [
            (Direction::Forward, "reverse-tr to "),
            (Direction::Reverse, "reverse path from "),
        ] {
            let way = match direction {
                Direction::Forward => "forward",
                Direction::Reverse => "reverse",
            };
            let output = client(
                lab,
                &[
                    "-f",
                    "classic",
                    way,
                    "udp",
                    "singlepath",
                    "--flow",
                    "33457",
                    &target,
                ],
            );
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(output.status.success(), "{output:?}");
            assert!(stdout.starts_with(header), "{stdout}");
            let hops = parse_classic(&stdout);
            let expected = lab.expected_hops(direction, family);
            assert!(
                fits(&hops, &expected),
                "{way} {family:?}: {} instead of {}\n{stdout}",
                describe(&hops),
                describe(&expected)
            );
            let widths: BTreeSet<usize> = hops.values().map(BTreeSet::len).collect();
            assert_eq!(widths, BTreeSet::from([1]), "one address per TTL\n{stdout}");
            // The default three probes per hop, each an RTT or a star.
            for line in stdout.lines().skip(1) {
                assert_eq!(
                    line.matches(" ms").count() + line.matches('*').count(),
                    3,
                    "{stdout}"
                );
            }
        }
    }
}

/// TTL → addresses of a classic view: a line starting with a number opens
/// a TTL, indented lines add to it; stars and RTTs are no addresses.
fn parse_classic(stdout: &str) -> Hops {
    let mut hops = Hops::new();
    let mut ttl = 0u8;
    for line in stdout.lines().skip(1) {
        let mut words = line.split_whitespace().peekable();
        if let Some(number) = words.peek().and_then(|word| word.parse::<u8>().ok()) {
            ttl = number;
            words.next();
        }
        let addresses = words.filter_map(|word| {
            word.trim_matches(|c| c == '(' || c == ')')
                .parse::<IpAddr>()
                .ok()
        });
        hops.entry(ttl).or_default().extend(addresses);
    }
    hops.retain(|_, addresses| !addresses.is_empty());
    hops
}

/// `-f html` of a two-way multipath trace, opened in headless Chromium:
/// every true hop of both directions is a drawn vertex.
fn the_page_draws_every_hop_of_a_two_way_trace(lab: &Lab) {
    let family = FAMILIES[0];
    let target = lab.addr(Host::Server, family).to_string();
    let directory =
        std::env::temp_dir().join(format!("reverse-tr-lab-views-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("a temporary directory");
    let output_name = directory.join("lab");
    let output = client(
        lab,
        &[
            "-f",
            "html",
            "-o",
            &output_name.to_string_lossy(),
            "two-way",
            "udp",
            "multipath",
            "--confidence",
            "0.0001",
            &target,
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let page = directory.join("lab.html");
    let dom = chromium(
        &directory.join("profile"),
        &format!("file://{}", page.display()),
        &["--dump-dom"],
    );
    let drawn: BTreeSet<IpAddr> = dom
        .split("data-address=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect();
    for direction in [Direction::Forward, Direction::Reverse] {
        for address in lab.expected_hops(direction, family).values().flatten() {
            assert!(drawn.contains(address), "{address} not drawn: {drawn:?}");
        }
    }
    std::fs::remove_dir_all(&directory).expect("the temporary directory is removed");
}
