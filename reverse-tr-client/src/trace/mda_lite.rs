//! MDA-Lite (Vermeulen et al., "Multilevel MDA-Lite Paris Traceroute",
//! IMC 2018), the default multipath algorithm.
//!
//! The full MDA ([`mda`](crate::trace::mda)) gives every vertex of a hop its own
//! stopping point at the next hop, which at a hop of several vertices means
//! locating flows vertex by vertex. MDA-Lite assumes the diamond is
//! *uniform* (flows reaching a hop are spread evenly over its vertices, each
//! vertex of a hop has as many successors as the others) and *unmeshed* (no
//! vertex with several successors feeds a vertex with several
//! predecessors). Then the vertices of the next hop are found like the
//! successors of one vertex: `n(k + 1)` flows at the next hop, `k` the
//! vertices seen there so far, reusing flows whose path is known so that
//! links follow; and every vertex of the hop gets at least one flow (two
//! where the next hop is wide, for the meshing test) so that none is left
//! without a successor. With the same `n(k)` the probability of missing a
//! vertex of the next hop stays below ε.
//!
//! Both assumptions are then tested on what was found: a meshed pair of
//! hops, or vertices of one hop with different numbers of successors (width
//! asymmetry), switches that pair of hops to the full MDA, which continues
//! from the flows already probed.

use log::info;
use rand::{SeedableRng, rngs::StdRng};

use crate::{
    trace::Result,
    trace::flows::{FLOW_RANGE, FlowStream},
    trace::graph::{Trace, VertexId},
    trace::mda::{MultipathSettings, multipath_step, probe_next, send_flows, stopping_point},
    trace::probe::Prober,
    trace::probed::Probed,
    trace::session::Session,
};

/// `n(k + 1)` for the `k` responsive vertices of `hop` seen so far (at
/// least one assumed): how many flows the hop needs in all; one for the
/// first hop of a root known to send every flow there.
fn hop_stopping_point(trace: &Trace, hop: usize, confidence: f64) -> usize {
    if hop == 1 && trace.first_hop_is_sole() {
        return 1;
    }
    stopping_point(trace.responsive(hop).count().max(1) + 1, confidence)
}

/// Flows each vertex of `hop` needs probed at the next hop at least: one,
/// so that none is left without a successor; two when the next hop has
/// several vertices, so that a vertex with several successors shows.
fn per_vertex(trace: &Trace, next: usize) -> usize {
    if trace.responsive(next).count() > 1 {
        2
    } else {
        1
    }
}

/// Flows of `hop`'s vertices not yet `probed` at the next hop: first as
/// many per vertex as it lacks of `per_vertex`, then round robin over the
/// vertices until `wanted` flows are chosen (so the flows stay spread over
/// the hop as the uniform assumption has them).
fn known_flows(trace: &Trace, hop: usize, next: usize, probed: &Probed, wanted: usize) -> Vec<u16> {
    let minimum = per_vertex(trace, next);
    let mut unprobed: Vec<Vec<u16>> = trace
        .hop(hop)
        .vertices
        .iter()
        .map(|&id| {
            trace[id]
                .all_flows()
                .filter(|&flow| !probed.sent(flow))
                .collect()
        })
        .collect();
    let mut batch = Vec::new();
    for (&id, flows) in trace.hop(hop).vertices.iter().zip(&mut unprobed) {
        let have = trace[id]
            .all_flows()
            .filter(|&flow| probed.counts(flow))
            .count();
        for _ in have..minimum {
            take_new(flows, &mut batch);
        }
    }
    while batch.len() < wanted && unprobed.iter().any(|flows| !flows.is_empty()) {
        for flows in &mut unprobed {
            if batch.len() < wanted {
                take_new(flows, &mut batch);
            }
        }
    }
    batch
}

/// Moves the first flow of `flows` not in `batch` yet (a flow may cross
/// several vertices under per-packet balancing) into `batch`.
fn take_new(flows: &mut Vec<u16>, batch: &mut Vec<u16>) {
    while !flows.is_empty() {
        let flow = flows.remove(0);
        if !batch.contains(&flow) {
            batch.push(flow);
            return;
        }
    }
}

/// Whether the hop pair breaks an assumption of MDA-Lite: meshed (a vertex
/// of `hop` with several successors and a vertex of `next` with several
/// predecessors), or uneven (vertices of `hop` with different numbers of
/// successors).
fn needs_full_mda(trace: &Trace, hop: usize, next: usize) -> bool {
    let vertices: Vec<VertexId> = trace.responsive(hop).collect();
    let successors: Vec<usize> = vertices
        .iter()
        .map(|&id| {
            trace[id]
                .successors
                .iter()
                .filter(|&&successor| !trace[successor].is_black_hole())
                .count()
        })
        .collect();
    let forks = successors.iter().any(|&count| count > 1);
    let joins = trace.responsive(next).any(|w| {
        vertices
            .iter()
            .filter(|&&v| trace[v].successors.contains(&w))
            .count()
            > 1
    });
    let uneven = successors.iter().min() != successors.iter().max();
    (forks && joins) || (vertices.len() > 1 && uneven)
}

/// Whether the step towards `next` ended as one that lost nothing would:
/// the flows of the hop's stopping point answered there, a successor for
/// every vertex of `hop`, and the pair left to MDA-Lite.
pub(crate) fn hop_settled(trace: &Trace, hop: usize, next: usize, confidence: f64) -> bool {
    let answered: usize = trace.responsive(next).map(|id| trace[id].flows.len()).sum();
    answered >= hop_stopping_point(trace, next, confidence)
        && trace.responsive(hop).all(|id| {
            trace[id]
                .successors
                .iter()
                .any(|&successor| !trace[successor].is_black_hole())
        })
        && !needs_full_mda(trace, hop, next)
}

/// One hop step of MDA-Lite in `session`: probe `next` until it has the
/// flows of its stopping point and every vertex of `hop` its share, then
/// test the assumptions and fall back to the full MDA for this pair if
/// they fail.
pub(crate) async fn mda_lite_step<P: Prober>(
    session: &mut Session<'_, P>,
    hop: usize,
    next: usize,
    settings: MultipathSettings,
) -> Result<()> {
    let mut fresh = FlowStream::new(
        &session.trace.hop_flows(hop),
        FLOW_RANGE,
        StdRng::from_rng(&mut session.rng),
    );
    let mut probed = Probed::default();
    let mut replacing = false;
    loop {
        let target = hop_stopping_point(&session.trace, next, settings.confidence);
        let lacking = target.saturating_sub(probed.count());
        // Flows handed back are replaced twice over: at a hop of two
        // vertices, one of them spent, a new flow meets it half the time.
        let wanted = if replacing { 2 * lacking } else { lacking };
        let mut batch = known_flows(&session.trace, hop, next, &probed, wanted);
        let short = wanted.saturating_sub(batch.len());
        if short > 0 {
            let new: Vec<u16> = fresh.by_ref().take(short).collect();
            if session.trace.hop(hop).vertices.len() > 1 && !new.is_empty() {
                // Which vertex a new flow crosses must be known for the
                // links: ask the hop first, keep those it answered (not
                // those it handed back).
                send_flows(session, hop, new.clone(), settings).await?;
                let known = session.trace.hop_flows(hop);
                batch.extend(new.into_iter().filter(|flow| known.contains(flow)));
            } else {
                batch.extend(new);
            }
        }
        if batch.is_empty() || session.trace.interrupted() {
            break;
        }
        // Flows in place of refused ones: the first `lacking` answers
        // settle the hop, the rest are spares, not waited for (unless a
        // vertex of `hop` still needs a flow of its own among them).
        let enough = if replacing && known_flows(&session.trace, hop, next, &probed, 0).is_empty() {
            lacking
        } else {
            batch.len()
        };
        let counted = probed.count() + batch.len();
        probe_next(session, (hop, next), (batch, enough), &mut probed, settings).await?;
        replacing = probed.count() < counted;
        if session.trace.interrupted() {
            break;
        }
    }
    if !session.trace.interrupted() && needs_full_mda(&session.trace, hop, next) {
        info!(
            "TTL {}: meshed or uneven diamond, switching to the full MDA",
            session.trace.hop(next).ttl
        );
        multipath_step(session, hop, next, settings, probed).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{net::IpAddr, sync::atomic::AtomicBool};

    use rand::{SeedableRng, rngs::StdRng};

    use crate::{
        trace::discovery::{Discovery, Mode, Params},
        trace::fake_network::{FakeNetwork, answer, host},
        trace::graph::Trace,
        trace::mda::{Algorithm, MultipathSettings},
        trace::probe::{ProbeOutcome, ProbeSpec},
    };

    const DESTINATION: u8 = 200;
    const RUNS: u64 = 100;

    fn params(algorithm: Algorithm) -> Params {
        Params::up_to_15(Mode::MultiPath(MultipathSettings {
            algorithm,
            ..MultipathSettings::default()
        }))
    }

    type Route = fn(ProbeSpec) -> ProbeOutcome;

    /// The lab's diamond: 1, {2, 3} by the flow's parity, 4, 5, destination.
    fn uniform(probe: ProbeSpec) -> ProbeOutcome {
        match probe.ttl {
            1 => answer(1, probe),
            2 => answer(2 + u8::from(probe.flow % 2 == 1), probe),
            3 | 4 => answer(probe.ttl + 1, probe),
            _ => answer(DESTINATION, probe),
        }
    }

    /// Two vertices at TTL 2 each with one successor of its own at TTL 3.
    fn parallel(probe: ProbeSpec) -> ProbeOutcome {
        match probe.ttl {
            3 => answer(4 + u8::from(probe.flow % 2 == 1), probe),
            4 => answer(6, probe),
            _ => uniform(probe),
        }
    }

    /// Two vertices at TTL 2, both balancing over the same two at TTL 3.
    fn meshed(probe: ProbeSpec) -> ProbeOutcome {
        match probe.ttl {
            3 => answer(4 + u8::from((probe.flow / 2) % 2 == 1), probe),
            4 => answer(6, probe),
            _ => uniform(probe),
        }
    }

    /// At TTL 3, vertex 2 balances over 4 and 5, vertex 3 has 6 alone.
    fn asymmetric(probe: ProbeSpec) -> ProbeOutcome {
        match probe.ttl {
            3 if probe.flow.is_multiple_of(2) => {
                answer(4 + u8::from((probe.flow / 2) % 2 == 1), probe)
            }
            3 => answer(6, probe),
            4 => answer(7, probe),
            _ => uniform(probe),
        }
    }

    /// Every link between responsive vertices, as (from, to) last octets,
    /// sorted.
    fn links(trace: &Trace) -> Vec<(u8, u8)> {
        let octet = |address: Option<IpAddr>| match address {
            Some(IpAddr::V4(v4)) => Some(v4.octets()[3]),
            _ => None,
        };
        let mut links: Vec<(u8, u8)> = trace
            .preorder()
            .into_iter()
            .flat_map(|v| {
                trace[v].successors.iter().filter_map(move |&w| {
                    Some((octet(trace[v].address())?, octet(trace[w].address())?))
                })
            })
            .collect();
        links.sort_unstable();
        links.dedup();
        links
    }

    /// Runs `RUNS` seeded traces; returns how many found exactly `expected`
    /// and the probes each complete run sent.
    async fn survey(
        route: Route,
        algorithm: Algorithm,
        expected: &[(u8, u8)],
        one_first_hop: bool,
    ) -> (u64, Vec<usize>) {
        let mut complete = 0;
        let mut probes = Vec::new();
        for seed in 0..RUNS {
            let network = FakeNetwork::new(move |probe, _| route(probe));
            let network = if one_first_hop {
                network.with_one_first_hop()
            } else {
                network
            };
            let stop = AtomicBool::new(false);
            let params = params(algorithm);
            let trace = Discovery::new(
                &network,
                &params,
                host(100),
                &stop,
                StdRng::seed_from_u64(seed),
            )
            .run(Some(host(DESTINATION)))
            .await
            .expect("fake network");
            if links(&trace) == expected {
                complete += 1;
                probes.push(network.probes().len());
            }
        }
        (complete, probes)
    }

    /// At least the share of runs ε allows for `balancers` load balancers,
    /// with three standard deviations of chance.
    fn enough(complete: u64, balancers: u64) -> bool {
        let misses = (RUNS * balancers) as f64 * 0.05;
        complete as f64 >= RUNS as f64 - misses - 3.0 * misses.sqrt()
    }

    const UNIFORM: [(u8, u8); 7] = [(1, 2), (1, 3), (2, 4), (3, 4), (4, 5), (5, 200), (100, 1)];

    #[tokio::test]
    async fn a_uniform_diamond_costs_the_hop_stopping_points_only() {
        let (complete, probes) = survey(uniform, Algorithm::MdaLite, &UNIFORM, false).await;
        assert!(enough(complete, 1), "{complete} of {RUNS}");
        // n(2) at TTL 1, n(3) at TTL 2, n(2) at TTL 3, 4 and 5: 6 + 11 + 6 + 6 + 6.
        assert!(probes.iter().all(|&sent| sent == 35), "{probes:?}");
        let (_, full) = survey(uniform, Algorithm::Mda, &UNIFORM, false).await;
        assert!(
            full.iter().all(|&sent| sent > 35),
            "the full MDA spends more: {full:?}"
        );
    }

    #[tokio::test]
    async fn a_root_known_to_have_one_first_hop_asks_it_once() {
        let (complete, probes) = survey(uniform, Algorithm::MdaLite, &UNIFORM, true).await;
        assert!(enough(complete, 1), "{complete} of {RUNS}");
        // 1 at TTL 1, then as above: 1 + 11 + 6 + 6 + 6.
        assert!(probes.iter().all(|&sent| sent == 30), "{probes:?}");
        let (complete, with) = survey(uniform, Algorithm::Mda, &UNIFORM, true).await;
        assert!(enough(complete, 1), "{complete} of {RUNS}");
        let (_, without) = survey(uniform, Algorithm::Mda, &UNIFORM, false).await;
        let total = |runs: &[usize]| runs.iter().sum::<usize>();
        assert!(
            total(&with) * without.len() < total(&without) * with.len(),
            "the full MDA saves too: {with:?} against {without:?}"
        );
    }

    #[tokio::test]
    async fn unmeshed_parallel_branches_stay_lite() {
        let expected = [
            (1, 2),
            (1, 3),
            (2, 4),
            (3, 5),
            (4, 6),
            (5, 6),
            (6, 200),
            (100, 1),
        ];
        let (complete, probes) = survey(parallel, Algorithm::MdaLite, &expected, false).await;
        assert!(enough(complete, 2), "{complete} of {RUNS}");
        // TTL 3 has two vertices, so n(3) flows there; nothing located again.
        assert!(
            probes.iter().all(|&sent| sent == 6 + 11 + 11 + 6 + 6),
            "{probes:?}"
        );
    }

    #[tokio::test]
    async fn a_meshed_diamond_falls_back_to_the_full_mda() {
        let expected = [
            (1, 2),
            (1, 3),
            (2, 4),
            (2, 5),
            (3, 4),
            (3, 5),
            (4, 6),
            (5, 6),
            (6, 200),
            (100, 1),
        ];
        let (complete, _) = survey(meshed, Algorithm::MdaLite, &expected, false).await;
        assert!(enough(complete, 3), "{complete} of {RUNS}");
    }

    #[tokio::test]
    async fn an_asymmetric_diamond_falls_back_to_the_full_mda() {
        let expected = [
            (1, 2),
            (1, 3),
            (2, 4),
            (2, 5),
            (3, 6),
            (4, 7),
            (5, 7),
            (6, 7),
            (7, 200),
            (100, 1),
        ];
        let (complete, _) = survey(asymmetric, Algorithm::MdaLite, &expected, false).await;
        assert!(enough(complete, 2), "{complete} of {RUNS}");
    }
}
