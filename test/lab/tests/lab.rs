//! The lab, built for real (needs root): paths as classic traceroute sees
//! them, the diamond's flow splitting, and that nothing is left behind.
#![cfg(feature = "root-tests")]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use reverse_tr_lab::{
    Direction, Error, Family, HOST_INTERFACE, Host, Lab, LabConfig, Protocol, RemoveOnDrop,
    describe, fits,
};

fn namespaces_of(lab: &Lab) -> Vec<String> {
    lab.hosts().map(|host| lab.netns(host).to_owned()).collect()
}

fn assert_gone(namespaces: &[String]) {
    for netns in namespaces {
        assert!(
            !Path::new("/run/netns").join(netns).exists(),
            "{netns} is left behind"
        );
    }
}

fn addrs(hosts: &[Host], family: Family) -> BTreeSet<IpAddr> {
    hosts.iter().map(|host| host.addr(family)).collect()
}

/// Traces both directions in both families and checks each against the
/// expected hop lists.
fn assert_paths(lab: &Lab) {
    for family in Family::ALL {
        for direction in Direction::ALL {
            let expected = lab.expected_hops(direction, family);
            let traced = lab.trace(direction, family).expect("traceroute runs");
            assert!(
                fits(&traced, &expected),
                "{family:?} {direction:?}: traced {}, expected {}",
                describe(&traced),
                describe(&expected)
            );
        }
    }
}

#[test]
fn symmetric_lab_has_the_diamond_both_ways_and_leaves_nothing() {
    let lab = Lab::up(LabConfig::default()).expect("lab up");
    let namespaces = namespaces_of(&lab);
    assert_eq!(namespaces.len(), 7, "no r5 in the symmetric lab");
    assert_paths(&lab);
    for family in Family::ALL {
        let diamond = addrs(&[Host::R2a, Host::R2b], family);
        for (direction, ttl) in [(Direction::Forward, 2), (Direction::Reverse, 3)] {
            for protocol in Protocol::ALL {
                let seen = lab
                    .answers_at(direction, family, ttl, protocol)
                    .expect("traceroute runs");
                assert_eq!(
                    seen, diamond,
                    "{family:?} {direction:?} {protocol:?} TTL {ttl}"
                );
            }
        }
    }
    drop(lab);
    assert_gone(&namespaces);
}

#[test]
fn asymmetric_lab_returns_through_r5_and_passes_its_status() {
    let lab = Lab::up(LabConfig {
        asymmetric: true,
        name: None,
    })
    .expect("lab up");
    let namespaces = namespaces_of(&lab);
    for family in Family::ALL {
        let reverse = lab
            .trace(Direction::Reverse, family)
            .expect("traceroute runs");
        assert_eq!(
            reverse.get(&3),
            Some(&addrs(&[Host::R5], family)),
            "{family:?} reverse: {}",
            describe(&reverse)
        );
        let forward = lab
            .trace(Direction::Forward, family)
            .expect("traceroute runs");
        assert!(
            forward
                .values()
                .all(|hop| !hop.contains(&Host::R5.addr(family))),
            "{family:?} forward: {}",
            describe(&forward)
        );
        let seen = lab
            .answers_at(Direction::Forward, family, 2, Protocol::Udp)
            .expect("traceroute runs");
        assert_eq!(seen, addrs(&[Host::R2a, Host::R2b], family), "{family:?}");
    }
    let checks = lab.status().expect("checks run");
    let failed: Vec<String> = checks
        .iter()
        .filter(|check| !check.passed())
        .map(ToString::to_string)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(checks.len() >= 10, "pings, paths and spread: {checks:#?}");
    lab.down().expect("lab down");
    assert_gone(&namespaces);
}

#[test]
fn a_panicking_test_leaves_nothing() {
    let mut namespaces = Vec::new();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = Lab::up(LabConfig::default()).expect("lab up");
        namespaces = namespaces_of(&lab);
        panic!("a failing test");
    }));
    assert!(outcome.is_err());
    assert_eq!(namespaces.len(), 7);
    assert_gone(&namespaces);
}

#[test]
fn up_reaps_labs_whose_owner_is_gone() {
    let mut child = Command::new("true").spawn().expect("spawn true");
    let dead = child.id();
    child.wait().expect("wait for true");
    let stale = format!("rtr-{dead}x0-client");
    let added = Command::new("ip")
        .args(["netns", "add", &stale])
        .status()
        .expect("run ip");
    assert!(added.success());
    let lab = Lab::up(LabConfig::default()).expect("lab up");
    assert_gone(&[stale]);
    drop(lab);
}

#[test]
fn a_named_lab_outlives_its_handle_until_removed() {
    let name = format!("t{}", std::process::id());
    let _cleanup = RemoveOnDrop(name.clone());
    let lab = Lab::up(LabConfig {
        asymmetric: true,
        name: Some(name.clone()),
    })
    .expect("lab up");
    let namespaces = namespaces_of(&lab);
    lab.keep();

    let attached = Lab::attach(&name).expect("still up");
    assert!(attached.is_asymmetric());
    assert_eq!(namespaces_of(&attached), namespaces);
    drop(attached);
    assert!(matches!(
        Lab::up(LabConfig {
            asymmetric: false,
            name: Some(name.clone()),
        }),
        Err(Error::AlreadyUp(_))
    ));

    assert!(Lab::remove(&name).expect("remove"));
    assert_gone(&namespaces);
    assert!(matches!(Lab::attach(&name), Err(Error::NotFound(_))));
    assert!(!Lab::remove(&name).expect("remove again"));
}

/// Captures, on the destination's eth0, one UDP probe a kernel socket of the
/// source sent, and returns tcpdump's verbose line for it.
fn capture_probe(lab: &Lab, direction: Direction, family: Family) -> String {
    let mut tcpdump = lab
        .command(direction.destination(), "timeout")
        .args([
            "5",
            "tcpdump",
            "-nn",
            "-vv",
            "--immediate-mode",
            "-c1",
            "-i",
        ])
        .args([HOST_INTERFACE, "udp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tcpdump");
    // Kept open until tcpdump is done: it reports on stderr as it exits.
    let mut stderr = BufReader::new(tcpdump.stderr.take().expect("piped stderr")).lines();
    let listening = stderr
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("listening on"));
    assert!(listening, "tcpdump did not start");
    let destination = lab.addr(direction.destination(), family).to_string();
    let sent = lab
        .command(direction.source(), "traceroute")
        .args(["-n", "-q1", "-f5", "-m5", &destination])
        .output()
        .expect("run traceroute");
    assert!(sent.status.success(), "{sent:?}");
    let captured = tcpdump.wait_with_output().expect("wait for tcpdump");
    drop(stderr);
    String::from_utf8_lossy(&captured.stdout).into_owned()
}

#[test]
fn end_hosts_put_complete_checksums_on_the_wire() {
    let lab = Lab::up(LabConfig::default()).expect("lab up");
    for family in Family::ALL {
        for direction in Direction::ALL {
            let captured = capture_probe(&lab, direction, family);
            assert!(
                captured.contains("[udp sum ok]"),
                "{family:?} {direction:?}: {captured}"
            );
        }
    }
}

#[test]
fn racing_ups_of_one_name_leave_the_winner_intact() {
    let config = LabConfig {
        asymmetric: false,
        name: Some(format!("r{}", std::process::id())),
    };
    let outcomes: Vec<reverse_tr_lab::Result<Lab>> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| Lab::up(config.clone())))
            .collect();
        racers
            .into_iter()
            .map(|racer| racer.join().expect("no panic"))
            .collect()
    });
    let (won, lost): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(Result::is_ok);
    assert_eq!(won.len(), 1, "{lost:?}");
    assert!(matches!(lost[..], [Err(Error::AlreadyUp(_))]), "{lost:?}");
    drop(lost);
    let winner = won.into_iter().flatten().next().expect("one winner");
    for host in winner.hosts() {
        let netns = winner.netns(host);
        assert!(
            Path::new("/run/netns").join(netns).exists(),
            "{netns} is gone"
        );
    }
    let namespaces = namespaces_of(&winner);
    drop(winner);
    assert_gone(&namespaces);
}
