#![cfg(feature = "root-tests")]
//! The lab's conditions, checked with plain tools (traceroute, ping): a
//! silent router forwards but never answers, a rate-limited router answers
//! a burst and then about one error a second, a lossy router drops about
//! the share asked, and conditions are replaced, not added up. Needs root.

use std::collections::BTreeSet;

use reverse_tr_lab::{
    Conditions, Direction, Family, Host, Lab, LabConfig, Protocol, TraceOptions, describe, fits,
};

/// Errors (`+N errors`: Time Exceeded here) and replies of `ping`.
struct Pinged {
    received: u32,
    errors: u32,
}

/// `count` pings from the client to the server, `interval` seconds apart,
/// with hop limit `ttl`.
fn ping(lab: &Lab, family: Family, ttl: u8, count: u32, interval: &str) -> Pinged {
    ping_from(lab, Direction::Forward, family, ttl, count, interval)
}

/// [`ping`] from the source of `direction` to its destination.
fn ping_from(
    lab: &Lab,
    direction: Direction,
    family: Family,
    ttl: u8,
    count: u32,
    interval: &str,
) -> Pinged {
    let target = lab.addr(direction.destination(), family).to_string();
    let output = lab
        .command(direction.source(), "ping")
        .args(["-n", "-q", "-W", "1", "-i", interval])
        .args(["-t", &ttl.to_string(), "-c", &count.to_string(), &target])
        .output()
        .expect("ping runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // "20 packets transmitted, 0 received, +6 errors, 100% packet loss, …"
    let summary = stdout
        .lines()
        .find(|line| line.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary: {stdout}"));
    let number_before = |word: &str| {
        summary
            .split(", ")
            .find(|part| part.ends_with(word))
            .and_then(|part| part.trim_start_matches('+').split(' ').next())
            .map_or(0, |n| n.parse().expect("a count"))
    };
    Pinged {
        received: number_before("received"),
        errors: number_before("errors"),
    }
}

#[test]
fn a_silent_router_forwards_without_answering() {
    let lab = Lab::up(LabConfig::default()).expect("lab up");
    let conditions = Conditions::default().silent([Host::R3]);
    lab.set_conditions(&conditions).expect("conditions set");
    for family in Family::ALL {
        for direction in Direction::ALL {
            let expected = conditions.visible(&lab.expected_hops(direction, family));
            let traced = lab.trace(direction, family).expect("traceroute runs");
            assert!(
                fits(&traced, &expected),
                "{family:?} {direction:?}: traced {}, expected {}",
                describe(&traced),
                describe(&expected)
            );
            assert!(
                traced.values().any(BTreeSet::is_empty),
                "{family:?} {direction:?}: r3 answered: {}",
                describe(&traced)
            );
        }
        let pinged = ping(&lab, family, 64, 3, "0.01");
        assert_eq!(pinged.received, 3, "{family:?}: r3 forwards");
    }
    // Back to clean: r3 answers again.
    lab.set_conditions(&Conditions::default()).expect("clean");
    for family in Family::ALL {
        let traced = lab.trace(Direction::Forward, family).expect("traceroute");
        let expected = lab.expected_hops(Direction::Forward, family);
        assert!(fits(&traced, &expected), "{}", describe(&traced));
    }
}

/// Linux's defaults: a burst of 6 errors to one destination, then one a
/// second. A clean router answers every probe of the same burst.
#[test]
fn a_rate_limited_router_answers_a_burst_then_about_one_a_second() {
    let lab = Lab::up(LabConfig::default()).expect("lab up");
    lab.set_conditions(&Conditions::default().rate_limited([Host::R1]))
        .expect("conditions set");
    for family in Family::ALL {
        let burst = ping(&lab, family, 1, 20, "0.005");
        assert!(
            (2..=10).contains(&burst.errors),
            "{family:?}: r1 answered {} of a burst of 20",
            burst.errors
        );
        // r3 (TTL 3) is not limited.
        let clean = ping(&lab, family, 3, 20, "0.005");
        assert_eq!(clean.errors, 20, "{family:?}: r3 answers every probe");
        // Three probes a second apart, after a pause that refills at most
        // the burst: more get through than after the burst, not all.
        std::thread::sleep(std::time::Duration::from_secs(2));
        let paced = ping(&lab, family, 1, 20, "0.005");
        assert!(
            (1..20).contains(&paced.errors),
            "{family:?}: r1 answered {} after a pause",
            paced.errors
        );
    }
    // Cleared, r1 answers a whole burst again.
    lab.set_conditions(&Conditions::default()).expect("clean");
    for family in Family::ALL {
        assert_eq!(ping(&lab, family, 1, 20, "0.005").errors, 20, "{family:?}");
    }
}

/// Each round trip crosses the lossy router twice: 1 − 0.8² = 36 % lost
/// on average; 400 pings put the bounds more than 6 standard deviations out.
#[test]
fn a_lossy_router_drops_about_the_share_asked_both_ways() {
    let lab = Lab::up(LabConfig::default()).expect("lab up");
    lab.set_conditions(&Conditions::default().loss(Host::R4, 20))
        .expect("conditions set");
    for family in Family::ALL {
        let pinged = ping(&lab, family, 64, 400, "0.002");
        let lost = 400 - pinged.received;
        assert!(
            (80..=210).contains(&lost),
            "{family:?}: {lost} of 400 round trips lost, about 144 expected"
        );
    }
    // A loss condition on the diamond still lets traceroute see both
    // branches with enough probes.
    lab.set_conditions(&Conditions::default().loss(Host::R2a, 5))
        .expect("conditions replaced");
    for family in Family::ALL {
        let pinged = ping(&lab, family, 64, 100, "0.002");
        assert!(pinged.received > 0, "{family:?}: the path still works");
        let seen = lab
            .answers_at(Direction::Forward, family, 2, Protocol::Udp)
            .expect("traceroute runs");
        assert_eq!(
            seen,
            [Host::R2a, Host::R2b]
                .iter()
                .map(|host| host.addr(family))
                .collect(),
            "{family:?}"
        );
    }
    // Replaced by a clean lab: nothing lost.
    lab.set_conditions(&Conditions::default()).expect("clean");
    for family in Family::ALL {
        assert_eq!(ping(&lab, family, 64, 200, "0.002").received, 200);
    }
}

/// Reverse loss drops the server's echo requests towards the client (as
/// it drops its reverse probes), and nothing of the client's round trips:
/// 300 pings at 40 % lose about 120, the bounds 7 standard deviations out.
#[test]
fn reverse_loss_drops_probes_towards_the_client_only() {
    let lab = Lab::up(LabConfig::default()).expect("lab up");
    lab.set_conditions(&Conditions::default().reverse_loss(Host::R3, 40))
        .expect("conditions set");
    for family in Family::ALL {
        let forward = ping(&lab, family, 64, 300, "0.002");
        assert_eq!(forward.received, 300, "{family:?}: the way there is clean");
        let back = ping_from(&lab, Direction::Reverse, family, 64, 300, "0.002");
        let lost = 300 - back.received;
        assert!(
            (60..=180).contains(&lost),
            "{family:?}: {lost} of 300 echo requests towards the client lost, about 120 expected"
        );
    }
    lab.set_conditions(&Conditions::default()).expect("clean");
    for family in Family::ALL {
        let back = ping_from(&lab, Direction::Reverse, family, 64, 200, "0.002");
        assert_eq!(back.received, 200, "{family:?}");
    }
}

#[test]
fn conditions_combine_with_the_asymmetric_variant_and_refuse_absent_routers() {
    let symmetric = Lab::up(LabConfig::default()).expect("lab up");
    let refused = symmetric.set_conditions(&Conditions::default().silent([Host::R5]));
    assert!(
        matches!(&refused, Err(reverse_tr_lab::Error::Condition(why)) if why.contains("r5")),
        "{refused:?}"
    );
    drop(symmetric);
    let lab = Lab::up(LabConfig {
        asymmetric: true,
        name: None,
    })
    .expect("lab up");
    let conditions = Conditions::default()
        .silent([Host::R5])
        .rate_limited([Host::R1]);
    lab.set_conditions(&conditions).expect("conditions set");
    for family in Family::ALL {
        let options = TraceOptions {
            queries: 1,
            ..TraceOptions::default()
        };
        let destination = lab.addr(Host::Client, family);
        let traced = lab
            .traceroute(Host::Server, destination, options)
            .expect("traceroute runs");
        let expected = conditions.visible(&lab.expected_hops(Direction::Reverse, family));
        assert!(
            fits(&traced, &expected),
            "{family:?}: traced {}, expected {}",
            describe(&traced),
            describe(&expected)
        );
    }
}
