//! Discovery on paths that misbehave as the Internet's do (DESIGN.md, "The
//! Internet is not the clean lab"): a silent router, routers that
//! rate-limit their ICMP errors as Linux does, and loss. Time is tokio's
//! paused clock, so the costs asserted are behaviour, not measurements.

use std::{collections::BTreeSet, net::IpAddr, sync::atomic::AtomicBool, time::Duration};

use rand::{SeedableRng, rngs::StdRng};
use tokio::time::Instant;

use crate::{
    trace::discovery::{Discovery, Mode, Params},
    trace::fake_network::{FakeNetwork, answer, host, rate_limited, rate_limited_spent},
    trace::graph::Trace,
    trace::mda::{Algorithm, MultipathSettings, stopping_point},
    trace::probe::{ProbeOutcome, ProbeSpec},
    trace::reprobe::PAUSE,
};

const TIMEOUT: Duration = Duration::from_secs(2);
const DESTINATION: u8 = 200;

fn single_path() -> Params {
    Params::up_to_15(Mode::SinglePath {
        flow: 12_345,
        probes: 3,
        retry: 3,
    })
}

fn multipath() -> Params {
    Params::up_to_15(Mode::MultiPath(MultipathSettings::default()))
}

/// Routers 1, 2 or 3 (by flow parity at TTL 2), 4, 5, then the destination.
fn diamond(probe: ProbeSpec) -> ProbeOutcome {
    match probe.ttl {
        1 => answer(1, probe),
        2 => answer(2 + u8::from(probe.flow % 2 == 1), probe),
        3..=4 => answer(probe.ttl + 1, probe),
        _ => answer(DESTINATION, probe),
    }
}

/// The hops of the diamond, by last octet.
const DIAMOND: [&[u8]; 5] = [&[1], &[2, 3], &[4], &[5], &[DESTINATION]];

async fn run<F>(network: &FakeNetwork<F>, params: &Params, seed: u64) -> Trace
where
    F: Fn(ProbeSpec, usize) -> ProbeOutcome + Send + Sync,
{
    let stop = AtomicBool::new(false);
    Discovery::new(
        network,
        params,
        host(100),
        &stop,
        StdRng::seed_from_u64(seed),
    )
    .run(Some(host(DESTINATION)))
    .await
    .expect("fake network")
}

/// Each hop after the root as its sorted addresses (black holes left out)
/// and whether it has a black hole.
fn hops(trace: &Trace) -> Vec<(Vec<IpAddr>, bool)> {
    trace.hops()[1..]
        .iter()
        .map(|hop| {
            let mut addresses: Vec<IpAddr> = hop
                .vertices
                .iter()
                .filter_map(|&id| trace[id].address())
                .collect();
            addresses.sort();
            let hole = hop.vertices.iter().any(|&id| trace[id].is_black_hole());
            (addresses, hole)
        })
        .collect()
}

fn complete(trace: &Trace, single: bool) -> bool {
    let found = hops(trace);
    found.len() == DIAMOND.len()
        && found.iter().zip(DIAMOND).all(|((addresses, hole), want)| {
            let want: Vec<IpAddr> = want.iter().map(|&n| host(n)).collect();
            let fits = if single {
                addresses.len() == 1 && want.contains(&addresses[0])
            } else {
                *addresses == want
            };
            fits && !hole
        })
}

#[tokio::test(start_paused = true)]
async fn a_silent_hop_costs_one_timeout_whatever_the_mode_and_retries() {
    let silent = |probe: ProbeSpec, _| {
        if probe.ttl == 3 {
            ProbeOutcome::Lost
        } else {
            diamond(probe)
        }
    };
    for params in [single_path(), multipath()] {
        let start = Instant::now();
        let clean = run(&FakeNetwork::timed(|p, _| diamond(p), TIMEOUT), &params, 1).await;
        let clean_time = start.elapsed();
        assert!(complete(
            &clean,
            matches!(params.mode, Mode::SinglePath { .. })
        ));
        let start = Instant::now();
        let network = FakeNetwork::timed(silent, TIMEOUT);
        let trace = run(&network, &params, 1).await;
        let silent_time = start.elapsed();
        assert!(trace.reached());
        assert!(hops(&trace)[2].1, "TTL 3 is a black hole");
        // The hops after it are probed while its probes time out, and
        // asking it again (single-path) ends within that timeout.
        assert!(
            silent_time <= clean_time + TIMEOUT,
            "{:?}: clean {clean_time:?}, silent {silent_time:?}",
            params.mode
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_hop_is_waited_for_while_the_hops_after_it_are_probed() {
    const SLOW: Duration = Duration::from_millis(800);
    let slow = |probe: ProbeSpec, _| match diamond(probe) {
        ProbeOutcome::Answered { hop, .. } if probe.ttl == 3 => {
            ProbeOutcome::Answered { hop, rtt: SLOW }
        }
        outcome => outcome,
    };
    for params in [single_path(), multipath()] {
        let network = FakeNetwork::timed(slow, TIMEOUT);
        let start = Instant::now();
        let trace = run(&network, &params, 1).await;
        let single = matches!(params.mode, Mode::SinglePath { .. });
        assert!(complete(&trace, single), "{:?}", hops(&trace));
        let sent = network.sent();
        let first_at = |ttl: u8| {
            sent.iter()
                .find(|(_, batch)| batch.iter().any(|probe| probe.ttl == ttl))
                .map(|&(at, _)| at)
        };
        let (Some(slow_sent), Some(deeper_sent)) = (first_at(3), first_at(4)) else {
            panic!("TTL 3 and 4 probed: {sent:?}");
        };
        assert!(deeper_sent < slow_sent + SLOW, "TTL 4 waited for TTL 3");
        // The trace ends with the slow answer: the hops after it took
        // nothing on top.
        assert_eq!(
            start.elapsed(),
            slow_sent - start + SLOW,
            "{:?}",
            params.mode
        );
    }
}

#[tokio::test(start_paused = true)]
async fn rate_limited_routers_lose_no_hop_in_back_to_back_single_path_runs() {
    let network = FakeNetwork::timed(rate_limited(diamond), TIMEOUT);
    let mut flagged = 0;
    for run_number in 0..6 {
        let trace = run(&network, &single_path(), run_number).await;
        assert!(
            complete(&trace, true),
            "run {run_number}: {:?}",
            hops(&trace)
        );
        flagged += trace.hops().iter().filter(|hop| hop.rate_limited).count();
    }
    assert!(
        flagged > 0,
        "a hop that answered only after a pause is flagged"
    );
    // Hops asked again ride along with later ones, interleaved: each
    // batch of several hops opens with one probe to each.
    let mixed: Vec<Vec<ProbeSpec>> = network
        .batches()
        .into_iter()
        .filter(|batch| batch.iter().any(|probe| probe.ttl != batch[0].ttl))
        .collect();
    assert!(!mixed.is_empty(), "no hop rode along");
    for batch in mixed {
        let ttls: BTreeSet<u8> = batch.iter().map(|probe| probe.ttl).collect();
        let opening: BTreeSet<u8> = batch[..ttls.len()].iter().map(|probe| probe.ttl).collect();
        assert_eq!(opening, ttls, "{batch:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn rate_limited_routers_keep_the_diamond_whole_in_multipath() {
    let network = FakeNetwork::timed(rate_limited(diamond), TIMEOUT);
    for algorithm in [Algorithm::MdaLite, Algorithm::Mda] {
        let params = Params::up_to_15(Mode::MultiPath(MultipathSettings {
            algorithm,
            ..MultipathSettings::default()
        }));
        for seed in 0..5 {
            let trace = run(&network, &params, seed).await;
            assert!(
                complete(&trace, false),
                "{algorithm} run {seed}: {:?}",
                hops(&trace)
            );
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_branch_router_out_of_errors_costs_no_pause_when_the_other_can_answer() {
    // MDA-Lite asks TTL 2 with 11 flows; whenever 7 of them take one
    // branch, that router refuses the 7th. Replacing the refused flows
    // with others, which the other branch answers, beats waiting for the
    // bucket to refill.
    let network = FakeNetwork::timed(rate_limited(diamond), TIMEOUT);
    let (mut limited, mut missed) = (0, 0);
    for seed in 0..20 {
        let start = Instant::now();
        let trace = run(&network, &multipath(), seed).await;
        assert!(
            start.elapsed() < PAUSE,
            "run {seed} waited for a router's bucket: {:?}",
            start.elapsed()
        );
        limited += u32::from(trace.hops()[2].rate_limited);
        missed += u32::from(!complete(&trace, false));
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    assert!(limited > 0, "no run met a spent branch router");
    // ε = 0.05 allows one miss in 20 on average even without a limit.
    assert!(missed <= 2, "{missed} of 20 traces incomplete");
}

#[tokio::test(start_paused = true)]
async fn a_router_whose_burst_was_spent_before_the_run_is_not_taken_for_silent() {
    for params in [single_path(), multipath()] {
        let network = FakeNetwork::timed(rate_limited_spent(diamond, &[4]), TIMEOUT);
        let trace = run(&network, &params, 1).await;
        let single = matches!(params.mode, Mode::SinglePath { .. });
        assert!(complete(&trace, single), "{:?}", hops(&trace));
        assert!(trace.hops()[3].rate_limited, "{:?}", params.mode);
    }
}

#[tokio::test(start_paused = true)]
async fn loss_on_two_routers_costs_no_hop_and_no_branch() {
    // About one probe in 20 dropped at TTL 2 and 3, by a hash of its place.
    let lossy = |probe: ProbeSpec, sequence: usize| {
        let dropped = (sequence.wrapping_mul(2_654_435_761) >> 7).is_multiple_of(20);
        if (2..=3).contains(&probe.ttl) && dropped {
            ProbeOutcome::Lost
        } else {
            diamond(probe)
        }
    };
    let mut missed = 0;
    for seed in 0..20 {
        let trace = run(&FakeNetwork::timed(lossy, TIMEOUT), &single_path(), seed).await;
        assert!(complete(&trace, true), "seed {seed}: {:?}", hops(&trace));
        let trace = run(&FakeNetwork::timed(lossy, TIMEOUT), &multipath(), seed).await;
        missed += u32::from(!complete(&trace, false));
    }
    // ε = 0.05 allows one miss in 20 on average even without loss.
    assert!(missed <= 2, "{missed} of 20 multipath traces incomplete");
}

#[tokio::test(start_paused = true)]
async fn flows_over_a_lone_routers_burst_are_asked_again_at_the_end_not_waited_for() {
    // The full MDA gives each of the two branch routers 6 flows at TTL 3:
    // 12 for the one router there, which refuses 6. Discovery goes on to
    // the destination at once; the refused flows are asked once more after
    // the pause, all hops' in one batch.
    let network = FakeNetwork::timed(rate_limited(diamond), TIMEOUT);
    let params = Params::up_to_15(Mode::MultiPath(MultipathSettings {
        algorithm: Algorithm::Mda,
        ..MultipathSettings::default()
    }));
    for seed in 0..5 {
        let start = Instant::now();
        let trace = run(&network, &params, seed).await;
        let elapsed = start.elapsed();
        assert!(complete(&trace, false), "run {seed}: {:?}", hops(&trace));
        assert!(trace.hops()[3].rate_limited, "run {seed}");
        let sent = network.sent();
        let destination_asked = sent
            .iter()
            .filter(|&&(at, _)| at >= start)
            .find(|(_, batch)| batch.iter().any(|probe| probe.ttl == 5))
            .map(|&(at, _)| at - start);
        assert!(
            destination_asked.is_some_and(|at| at < PAUSE),
            "run {seed}: destination asked after {destination_asked:?}"
        );
        assert!(elapsed < 2 * PAUSE, "run {seed}: {elapsed:?}");
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_branch_that_answers_only_after_the_pause_is_linked_to_both_neighbouring_hops() {
    // Router 2 alone at TTL 2, then 4 (even flows) or 5 (odd) at TTL 3;
    // a run just before spent 5's burst. Its flows are deferred, new ones
    // sent past router 2 without being asked there among them, and answer
    // after the pause: router 5 shows up then, and must hang off router 2
    // and lead on to router 6.
    let route = |probe: ProbeSpec| match probe.ttl {
        1..=2 => answer(probe.ttl, probe),
        3 => answer(4 + u8::from(probe.flow % 2 == 1), probe),
        4 => answer(6, probe),
        _ => answer(DESTINATION, probe),
    };
    for algorithm in [Algorithm::MdaLite, Algorithm::Mda] {
        let params = Params::up_to_15(Mode::MultiPath(MultipathSettings {
            algorithm,
            ..MultipathSettings::default()
        }));
        let mut asked = 0;
        for seed in 0..10 {
            let network = FakeNetwork::timed(rate_limited_spent(route, &[5]), TIMEOUT);
            let trace = run(&network, &params, seed).await;
            let odd = |probe: &ProbeSpec| probe.ttl == 3 && probe.flow % 2 == 1;
            if !network.probes().iter().any(odd) {
                // The miss ε allows: no flow of the first 6 took router 5.
                continue;
            }
            asked += 1;
            assert_eq!(
                hops(&trace)[2].0,
                [host(4), host(5)],
                "{algorithm:?}, seed {seed}: {:?}",
                hops(&trace)
            );
            assert!(trace.hops()[3].rate_limited, "{algorithm:?}, seed {seed}");
            // And leads on: its flows were asked at TTL 4 in turn.
            let successors: Vec<Option<IpAddr>> = trace.hops()[3]
                .vertices
                .iter()
                .filter(|&&id| trace[id].address() == Some(host(5)))
                .flat_map(|&id| &trace[id].successors)
                .map(|&id| trace[id].address())
                .collect();
            assert_eq!(successors, [Some(host(6))], "{algorithm:?}, seed {seed}");
        }
        assert!(
            asked >= 8,
            "{algorithm:?}: router 5 asked in {asked} of 10 runs"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn flows_deferred_at_a_hop_that_met_its_stopping_point_are_not_asked_again() {
    // Router 2 takes three flows in four at TTL 2 and refuses after its
    // burst (the other routers answer all), so new flows keep meeting it
    // and the last are deferred. When the hop has the answered flows of
    // its stopping point anyway, asking them again would only cost the
    // pause. (The full MDA may still want them: located at TTL 2, they
    // give router 3 its own stopping point at TTL 3.)
    fn skewed(probe: ProbeSpec) -> ProbeOutcome {
        match probe.ttl {
            2 => answer(2 + u8::from(probe.flow.is_multiple_of(4)), probe),
            _ => diamond(probe),
        }
    }
    let limited = rate_limited(skewed);
    let route = move |probe: ProbeSpec, sequence| match probe.ttl {
        2 => limited(probe, sequence),
        _ => skewed(probe),
    };
    let network = FakeNetwork::timed(route, TIMEOUT);
    let (mut met, mut deferred) = (0, 0);
    for seed in 0..20 {
        let start = Instant::now();
        let trace = run(&network, &multipath(), seed).await;
        let elapsed = start.elapsed();
        let again: BTreeSet<u16> = network
            .sent()
            .into_iter()
            .filter(|&(at, _)| at >= start + PAUSE)
            .flat_map(|(_, batch)| batch)
            .filter(|probe| probe.ttl == 2)
            .map(|probe| probe.flow)
            .collect();
        // Flows TTL 2 answered before the pause.
        let answered = trace.hops()[2]
            .vertices
            .iter()
            .flat_map(|&id| trace[id].flows.iter())
            .filter(|flow| !again.contains(flow))
            .count();
        if answered >= stopping_point(3, MultipathSettings::default().confidence) {
            met += 1;
            assert!(
                again.is_empty() && elapsed < PAUSE,
                "seed {seed}: TTL 2 had {answered} flows, asked {again:?} again, {elapsed:?}"
            );
        }
        deferred += u32::from(trace.hops()[2].rate_limited);
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    assert!(
        met >= 10,
        "TTL 2 met its stopping point in {met} of 20 runs"
    );
    assert!(
        deferred >= 5,
        "router 2 refused flows in {deferred} of 20 runs"
    );
}

#[tokio::test(start_paused = true)]
async fn a_destination_that_answers_only_when_asked_again_ends_the_trace_there() {
    // The destination's own error budget was spent by the runs before:
    // TTL 5 and 6 reach it while it refuses, TTL 7 once it has refilled
    // one error. Asked again after the pause, TTL 5 answers from the
    // destination: the trace ends there, not two hops past it.
    let network = FakeNetwork::timed(rate_limited_spent(diamond, &[DESTINATION]), TIMEOUT);
    let trace = run(&network, &single_path(), 1).await;
    assert!(trace.reached());
    assert!(complete(&trace, true), "{:?}", hops(&trace));
    assert!(
        network.sent_at(6) > 0,
        "TTL 6 was probed: {:?}",
        network.batches()
    );
}
