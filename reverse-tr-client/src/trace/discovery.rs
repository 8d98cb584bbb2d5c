//! Hop-by-hop discovery (PROTOCOL.md §11.8), the same for both directions
//! and both modes: probe the next TTL, link what answered, stand black holes
//! in for silence, and stop at the destination, after `abort` unproductive
//! hops, or at the last TTL.

use std::{collections::BTreeSet, net::IpAddr, sync::atomic::AtomicBool};

use log::{debug, info};
use rand::{SeedableRng, rngs::StdRng};

use crate::{
    trace::Result,
    trace::TraceError,
    trace::graph::{Trace, VertexId},
    trace::mda::{Algorithm, MultipathSettings, hop_confirmed, link_back, multipath_step},
    trace::mda_lite::{hop_settled, mda_lite_step},
    trace::probe::{ProbeSpec, Prober},
    trace::probed::Probed,
    trace::reprobe::Pending,
    trace::session::Session,
};

/// Flows a black hole is asked on again (multipath): a few, so that one
/// lost probe does not hide a rate-limited router.
const FLOWS_PER_HOLE: usize = 2;

/// How each hop is probed.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// §11.9: `probes` probes per hop, all on `flow`; a hop whose probes
    /// were all lost is asked again with the next `retry` hops' batches.
    SinglePath { flow: u16, probes: u16, retry: u32 },
    /// §11.10: enough flows per hop to find every successor with probability
    /// at least `1 − confidence`.
    MultiPath(MultipathSettings),
}

/// What one discovery probes.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub min_ttl: u8,
    pub max_ttl: u8,
    /// Successive unproductive hops after which discovery stops.
    pub abort: u32,
    pub mode: Mode,
}

impl Params {
    /// Checks the constraints of §11.1 so discovery never runs on nonsense.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, name, constraint| {
            if ok {
                Ok(())
            } else {
                Err(TraceError::InvalidParameter { name, constraint })
            }
        };
        check(self.min_ttl >= 1, "min-ttl", "at least 1")?;
        check(
            self.max_ttl >= self.min_ttl,
            "max-ttl",
            "at least --min-ttl",
        )?;
        check(self.abort >= 2, "abort", "at least 2")?;
        match self.mode {
            Mode::SinglePath { probes, .. } => check(probes >= 1, "probes", "at least 1"),
            Mode::MultiPath(MultipathSettings {
                confidence,
                min_burst,
                max_burst,
                ..
            }) => {
                check(
                    confidence > 0.0 && confidence < 1.0,
                    "confidence",
                    "between 0 and 1 (exclusive)",
                )?;
                check(min_burst >= 1, "min-burst", "at least 1")?;
                check(max_burst >= min_burst, "max-burst", "at least --min-burst")
            }
        }
    }
}

#[cfg(test)]
impl Params {
    /// The tests' discovery: TTL 1 to 15, stopping after 3 unproductive
    /// hops, probing as `mode` says.
    pub(crate) fn up_to_15(mode: Mode) -> Self {
        Self {
            min_ttl: 1,
            max_ttl: 15,
            abort: 3,
            mode,
        }
    }
}

/// Discovers the graph from `root` (TTL 0) towards `destination`, probing
/// through `prober`. Setting `stop` ends discovery after the batch in flight;
/// the trace found so far is returned, flagged as interrupted.
pub async fn discover<P: Prober>(
    prober: &P,
    params: &Params,
    root: IpAddr,
    destination: Option<IpAddr>,
    stop: &AtomicBool,
) -> Result<Trace> {
    params.validate()?;
    Discovery::new(prober, params, root, stop, StdRng::from_os_rng())
        .run(destination)
        .await
}

/// The state of one discovery in progress.
pub(crate) struct Discovery<'a, P> {
    session: Session<'a, P>,
    params: &'a Params,
    pending: Pending,
}

impl<'a, P: Prober> Discovery<'a, P> {
    /// `rng` draws the multipath flows; tests seed it.
    pub(crate) fn new(
        prober: &'a P,
        params: &'a Params,
        root: IpAddr,
        stop: &'a AtomicBool,
        rng: StdRng,
    ) -> Self {
        Self {
            session: Session::new(prober, root, stop, rng),
            params,
            pending: Pending::default(),
        }
    }

    /// The loop of §11.8.
    pub(crate) async fn run(mut self, destination: Option<IpAddr>) -> Result<Trace> {
        let mut hop = 0;
        let mut unresponsive = 0;
        let mut last_known: Option<VertexId> = None;
        for ttl in self.params.min_ttl..=self.params.max_ttl {
            info!("probing hop with TTL {ttl}");
            let next = self.session.trace.push_hop(ttl);
            match self.params.mode {
                Mode::SinglePath {
                    flow,
                    probes,
                    retry,
                } => {
                    self.single_path_step(hop, next, flow, probes, retry)
                        .await?
                }
                Mode::MultiPath(settings) => {
                    let session = &mut self.session;
                    match settings.algorithm {
                        Algorithm::Mda => {
                            multipath_step(session, hop, next, settings, Probed::default()).await?;
                        }
                        Algorithm::MdaLite => mda_lite_step(session, hop, next, settings).await?,
                    }
                }
            }
            if self.session.trace.interrupted() {
                // Keep everything found, trailing holes included: the user
                // asked for what is known so far.
                self.session.finish().await?;
                self.session.trace.prune();
                return Ok(self.session.trace);
            }
            self.session.trace.add_black_holes(hop, next);
            if let Mode::MultiPath(_) = self.params.mode
                && !self.session.trace.answered_at(ttl)
            {
                self.pending.add(ttl, 1);
            }
            let responsive: Vec<VertexId> = self.session.trace.responsive(next).take(2).collect();
            match (responsive.first().copied(), responsive.get(1)) {
                (None, _) => unresponsive += 1,
                (Some(w), None) => {
                    if last_known.is_some_and(|known| self.session.trace.same_vertex(known, w)) {
                        unresponsive += 1;
                    } else if destination.is_some()
                        && self.session.trace[w].address() == destination
                    {
                        info!("reached the destination at TTL {ttl}");
                        self.session.trace.set_reached();
                        last_known = None;
                        break;
                    } else {
                        unresponsive = 0;
                        last_known = Some(w);
                    }
                }
                (Some(_), Some(_)) => {
                    unresponsive = 0;
                    last_known = None;
                }
            }
            if unresponsive >= self.params.abort {
                info!("stopping after {unresponsive} unproductive hops");
                break;
            }
            hop = next;
        }
        self.ask_again().await?;
        self.session.finish().await?;
        // A hop asked again may have answered from the destination only
        // now (its own rate limit refused the hop's step): the trace ends
        // at the first hop where the destination answered alone.
        if let Some(reached) =
            destination.and_then(|address| self.session.trace.first_alone(address))
        {
            self.session.trace.set_reached();
            last_known = Some(reached);
        }
        // Cut the chain of black holes or repeated copies after the last new vertex.
        if let Some(known) = last_known {
            self.session.trace.vertex_mut(known).successors.clear();
        }
        self.session.trace.prune();
        Ok(self.session.trace)
    }

    /// Asks again, once the pause after their last probe has passed, in
    /// one batch per round: the hops still waiting in `pending` while black
    /// holes are left there and they or a deeper hop answered (each black
    /// hole on flows of the vertex before it; single-path: the hop's probes
    /// on its flow; multipath: up to [`FLOWS_PER_HOLE`] of them), and, in
    /// the first round, the flows a spent rate limit made multipath defer
    /// (in later rounds, the flows of the vertices those revealed, one hop
    /// on). Rounds go on while they find something, at most `retry` times: a
    /// rate limit gives one answer a second, a silent hop none.
    async fn ask_again(&mut self) -> Result<()> {
        let ttls: Vec<u8> = self.pending.ttls().collect();
        let retry = match self.params.mode {
            Mode::SinglePath { retry, .. } => retry,
            Mode::MultiPath(settings) => settings.retry,
        };
        for _ in 0..retry {
            if let Mode::MultiPath(settings) = self.params.mode {
                self.withdraw_settled(settings);
            }
            let trace = &self.session.trace;
            let waiting: Vec<(u8, usize)> = ttls
                .iter()
                .filter_map(|&ttl| Some((ttl, self.session.hop_index(ttl)?)))
                .filter(|&(ttl, hop)| trace.has_holes(hop) && trace.answered_from(ttl))
                .collect();
            let Some(rested) = waiting
                .iter()
                .map(|&(ttl, _)| ttl)
                .chain(self.session.deferred.ttls())
                .map(|ttl| self.session.last_sent.rested_at(ttl))
                .max()
            else {
                return Ok(());
            };
            // Late answers may fill the holes meanwhile; deferred flows
            // are asked in any case.
            let nothing_deferred = self.session.deferred.ttls().next().is_none();
            let whole = |trace: &Trace| {
                nothing_deferred && waiting.iter().all(|&(_, hop)| !trace.has_holes(hop))
            };
            self.session.sleep_until(rested, whole).await?;
            let mut batch = self.again_probes(&waiting);
            batch.extend(self.session.deferred.take());
            let Some(hop) = batch
                .first()
                .and_then(|probe| self.session.hop_index(probe.ttl))
            else {
                return Ok(());
            };
            let answered = self.session.send_again(hop, &batch).await?;
            if answered.is_empty() {
                return Ok(());
            }
            let ttls: Vec<u8> = waiting.iter().map(|&(ttl, _)| ttl).collect();
            self.reprobed(&ttls, &answered);
            // Deferred flows answered: link them (holes were seen to). A
            // vertex they reveal may sit on flows never asked at the hop
            // before (sent past a lone router there): locate them.
            let late: BTreeSet<usize> = answered
                .iter()
                .filter(|probe| !ttls.contains(&probe.ttl))
                .filter_map(|probe| self.session.hop_index(probe.ttl))
                .collect();
            for hop in late {
                self.session.trace.fill_holes(hop);
                if let Mode::MultiPath(settings) = self.params.mode {
                    link_back(&mut self.session, hop, settings).await?;
                    self.defer_onwards(hop);
                }
            }
        }
        Ok(())
    }

    /// Drops the deferred flows of each hop of several vertices whose
    /// stopping rule, and the next hop's (for which flows are located at
    /// it), the answers met alone: asking them again would add no
    /// confidence, only the pause. There, as for flows handed back, the
    /// losses are taken for a spent vertex's refusals, which skew the
    /// answers towards the others, seen or not. At a hop of one vertex
    /// they may be all an unseen one's, spent before the run: kept.
    fn withdraw_settled(&mut self, settings: MultipathSettings) {
        let trace = &self.session.trace;
        let settled = |next: usize| {
            next >= trace.hops().len()
                || match settings.algorithm {
                    Algorithm::Mda => hop_confirmed(trace, next, settings.confidence),
                    Algorithm::MdaLite => hop_settled(trace, next - 1, next, settings.confidence),
                }
        };
        let done: Vec<u8> = self
            .session
            .deferred
            .ttls()
            .filter(|&ttl| {
                self.session.hop_index(ttl).is_some_and(|hop| {
                    trace.responsive(hop).nth(1).is_some() && settled(hop) && settled(hop + 1)
                })
            })
            .collect();
        for ttl in done {
            let withdrawn = self.session.deferred.withdraw(ttl);
            debug!("TTL {ttl}: stopping point met, {withdrawn} deferred flows not asked again");
        }
    }

    /// A vertex of `hop` that only a late batch revealed was never probed
    /// past: its flows are asked at the next hop in the next round, so it
    /// leads on instead of ending the path there.
    fn defer_onwards(&mut self, hop: usize) {
        let trace = &self.session.trace;
        let Some(next) = trace.hops().get(hop + 1) else {
            return;
        };
        let flows: Vec<u16> = trace
            .responsive(hop)
            .filter(|&id| trace[id].successors.is_empty())
            .flat_map(|id| trace[id].all_flows())
            .collect();
        self.session.deferred.add(next.ttl, flows);
    }

    /// The probes asking the holes of the hops `waiting` (TTL and index)
    /// again.
    fn again_probes(&self, waiting: &[(u8, usize)]) -> Vec<ProbeSpec> {
        let trace = &self.session.trace;
        let mut batch = Vec::new();
        for &(ttl, hop) in waiting {
            for &hole in &trace.hop(hop).vertices {
                if !trace[hole].is_black_hole() {
                    continue;
                }
                let flows = trace[hole].all_flows().map(|flow| ProbeSpec { ttl, flow });
                match self.params.mode {
                    Mode::SinglePath { probes, .. } => batch.extend(
                        flows
                            .take(1)
                            .flat_map(|probe| vec![probe; usize::from(probes)]),
                    ),
                    Mode::MultiPath(_) => batch.extend(flows.take(FLOWS_PER_HOLE)),
                }
            }
        }
        batch
    }

    /// After hops `again` were asked again: each that answered was rate
    /// limited, not silent; its vertices replace its black holes.
    fn reprobed(&mut self, again: &[u8], answered: &[ProbeSpec]) {
        for &earlier in again {
            if answered.iter().any(|probe| probe.ttl == earlier)
                && let Some(index) = self.session.hop_index(earlier)
            {
                info!("TTL {earlier} answered after a pause: it looked rate-limited");
                self.pending.answered(earlier);
                self.session.trace.set_rate_limited(index);
                self.session.trace.fill_holes(index);
            }
        }
    }

    /// §11.9: every probe of the hop on the one flow. Earlier hops whose
    /// probes were all lost ride along with one probe each (after the
    /// rate-limit pause), so they cost no wait of their own; one that
    /// answers now fills its black hole and is flagged as rate-limited.
    async fn single_path_step(
        &mut self,
        hop: usize,
        next: usize,
        flow: u16,
        probes: u16,
        retry: u32,
    ) -> Result<()> {
        let ttl = self.session.trace.hop(next).ttl;
        let mut batch = vec![ProbeSpec { ttl, flow }; usize::from(probes)];
        let session = &self.session;
        let again = self.pending.take(|earlier| {
            session.last_sent.rested(earlier) && !session.trace.answered_at(earlier)
        });
        batch.extend(
            again
                .iter()
                .map(|&earlier| ProbeSpec { ttl: earlier, flow }),
        );
        let answered = self.session.send(next, &batch).await?;
        if let Some(first) = self.session.trace.first(hop) {
            self.session.trace.vertex_mut(first).flows.insert(flow);
        }
        self.session.trace.connect(hop, next);
        self.reprobed(&again, &answered);
        if !answered.iter().any(|probe| probe.ttl == ttl) {
            self.pending.add(ttl, retry);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use reverse_tr_common::response::State;

    use super::*;
    use crate::trace::{
        fake_network::{FakeNetwork, answer, host},
        probe::{ErrorState, ProbeOutcome},
    };

    const INVALID_FLOW: ErrorState = ErrorState::Known(State::InvalidFlow);

    const DESTINATION: u8 = 200;
    const FLOW: u16 = 12_345;

    fn single_path(probes: u16) -> Params {
        Params::up_to_15(Mode::SinglePath {
            flow: FLOW,
            probes,
            retry: 3,
        })
    }

    fn multipath(single_vertex_opt: bool) -> Params {
        let mode = Mode::MultiPath(MultipathSettings {
            algorithm: Algorithm::Mda,
            single_vertex_opt,
            ..MultipathSettings::default()
        });
        Params::up_to_15(mode)
    }

    /// Runs discovery from `10.0.0.100` towards `10.0.0.200` with flows drawn
    /// from a seeded generator.
    async fn trace<F>(network: &FakeNetwork<F>, params: &Params, seed: u64) -> Trace
    where
        F: Fn(ProbeSpec, usize) -> ProbeOutcome + Send + Sync,
    {
        let stop = AtomicBool::new(false);
        let discovery = Discovery::new(
            network,
            params,
            host(100),
            &stop,
            StdRng::seed_from_u64(seed),
        );
        discovery
            .run(Some(host(DESTINATION)))
            .await
            .expect("fake network")
    }

    /// Each hop as its sorted vertex names: the last octet, `*` for black holes.
    fn shape(trace: &Trace) -> Vec<Vec<String>> {
        trace
            .hops()
            .iter()
            .map(|hop| {
                let mut names: Vec<String> = hop
                    .vertices
                    .iter()
                    .map(|&id| match trace[id].address() {
                        Some(IpAddr::V4(address)) => address.octets()[3].to_string(),
                        _ => "*".to_owned(),
                    })
                    .collect();
                names.sort();
                names
            })
            .collect()
    }

    fn expect_shape(trace: &Trace, expected: &[&[&str]]) {
        let expected: Vec<Vec<String>> = expected
            .iter()
            .map(|hop| hop.iter().map(|name| (*name).to_owned()).collect())
            .collect();
        assert_eq!(shape(trace), expected);
    }

    /// The addresses linked from the vertex with `address`, sorted.
    fn successors_of(trace: &Trace, address: u8) -> Vec<IpAddr> {
        let hop = trace.hops().iter().find(|hop| {
            hop.vertices
                .iter()
                .any(|&id| trace[id].address() == Some(host(address)))
        });
        let id = hop.and_then(|hop| {
            hop.vertices
                .iter()
                .copied()
                .find(|&id| trace[id].address() == Some(host(address)))
        });
        let mut successors: Vec<IpAddr> = id
            .map(|id| {
                trace[id]
                    .successors
                    .iter()
                    .filter_map(|&s| trace[s].address())
                    .collect()
            })
            .unwrap_or_default();
        successors.sort();
        successors
    }

    fn chain(probe: ProbeSpec, _: usize) -> ProbeOutcome {
        if probe.ttl < 4 {
            answer(probe.ttl, probe)
        } else {
            answer(DESTINATION, probe)
        }
    }

    /// A at TTL 1, B or C at TTL 2 by the flow's parity, D at TTL 3, then the
    /// destination.
    fn diamond(probe: ProbeSpec, _: usize) -> ProbeOutcome {
        match probe.ttl {
            1 => answer(1, probe),
            2 => answer(2 + u8::from(probe.flow % 2 == 1), probe),
            3 => answer(4, probe),
            _ => answer(DESTINATION, probe),
        }
    }

    fn max_ttl_sent<F: Fn(ProbeSpec, usize) -> ProbeOutcome + Send + Sync>(
        network: &FakeNetwork<F>,
    ) -> u8 {
        network
            .probes()
            .iter()
            .map(|probe| probe.ttl)
            .max()
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn chain_is_found_to_the_destination_in_both_modes() {
        for params in [single_path(3), multipath(false)] {
            let network = FakeNetwork::new(chain);
            let trace = trace(&network, &params, 1).await;
            expect_shape(&trace, &[&["100"], &["1"], &["2"], &["3"], &["200"]]);
            assert!(trace.reached());
            assert_eq!(successors_of(&trace, 100), [host(1)]);
            assert_eq!(successors_of(&trace, 3), [host(DESTINATION)]);
            assert_eq!(max_ttl_sent(&network), 4);
            assert!(trace.hops().iter().all(|hop| hop.loss() == 0.0));
        }
    }

    #[tokio::test]
    async fn single_path_sends_its_probes_on_one_flow() {
        let network = FakeNetwork::new(chain);
        let trace = discover(
            &network,
            &single_path(3),
            host(100),
            Some(host(DESTINATION)),
            &AtomicBool::new(false),
        )
        .await
        .expect("fake network");
        assert!(trace.reached());
        assert_eq!(network.probes().len(), 12);
        assert!(network.probes().iter().all(|probe| probe.flow == FLOW));
        assert!(network.batches().iter().all(|batch| batch.len() == 3));
    }

    #[tokio::test]
    async fn multipath_finds_both_branches_of_a_diamond() {
        let network = FakeNetwork::new(diamond);
        let trace = trace(&network, &multipath(false), 1).await;
        expect_shape(&trace, &[&["100"], &["1"], &["2", "3"], &["4"], &["200"]]);
        assert_eq!(successors_of(&trace, 1), [host(2), host(3)]);
        assert_eq!(successors_of(&trace, 2), [host(4)]);
        assert_eq!(successors_of(&trace, 3), [host(4)]);
        assert!(trace.reached());
        let flows = network
            .probes()
            .iter()
            .map(|probe| probe.flow)
            .collect::<Vec<_>>();
        assert!(
            flows
                .iter()
                .all(|flow| crate::trace::flows::FLOW_RANGE.contains(flow))
        );
    }

    /// Four ways at TTL 2 by `flow % 4`, joined at TTL 3.
    fn wide(probe: ProbeSpec, sequence: usize) -> ProbeOutcome {
        match probe.ttl {
            2 => answer(2 + u8::try_from(probe.flow % 4).unwrap_or(0), probe),
            3 => answer(6, probe),
            _ => diamond(probe, sequence),
        }
    }

    /// Two ways at TTL 2, each splitting two ways again at TTL 3.
    fn nested(probe: ProbeSpec, sequence: usize) -> ProbeOutcome {
        match probe.ttl {
            3 => answer(10 + u8::try_from(probe.flow % 4).unwrap_or(0), probe),
            4 => answer(20, probe),
            5.. => answer(DESTINATION, probe),
            _ => diamond(probe, sequence),
        }
    }

    #[tokio::test]
    async fn multipath_misses_branches_no_more_often_than_the_confidence_allows() {
        type Route = fn(ProbeSpec, usize) -> ProbeOutcome;
        let cases: [(Route, &[&[&str]], u32); 3] = [
            (
                diamond,
                &[&["100"], &["1"], &["2", "3"], &["4"], &["200"]],
                1,
            ),
            (
                wide,
                &[&["100"], &["1"], &["2", "3", "4", "5"], &["6"], &["200"]],
                1,
            ),
            (
                nested,
                &[
                    &["100"],
                    &["1"],
                    &["2", "3"],
                    &["10", "11", "12", "13"],
                    &["20"],
                    &["200"],
                ],
                3,
            ),
        ];
        const RUNS: u32 = 200;
        for (route, complete, balancers) in cases {
            let complete: Vec<Vec<String>> = complete
                .iter()
                .map(|hop| hop.iter().map(|name| (*name).to_owned()).collect())
                .collect();
            let mut found = 0;
            for seed in 0..u64::from(RUNS) {
                let network = FakeNetwork::new(route);
                found +=
                    u32::from(shape(&trace(&network, &multipath(false), seed).await) == complete);
            }
            // Each balancer misses a successor with probability below ε = 0.05;
            // allow three standard deviations of chance on top.
            let misses = f64::from(RUNS * balancers) * 0.05;
            let bound = f64::from(RUNS) - misses - 3.0 * misses.sqrt();
            assert!(
                f64::from(found) >= bound,
                "{complete:?} found in {found} of {RUNS} traces, expected {bound:.0}"
            );
        }
    }

    #[tokio::test]
    async fn single_path_stays_on_one_branch() {
        let network = FakeNetwork::new(diamond);
        let trace = trace(&network, &single_path(3), 1).await;
        // FLOW is odd: branch C (10.0.0.3).
        expect_shape(&trace, &[&["100"], &["1"], &["3"], &["4"], &["200"]]);
    }

    #[tokio::test]
    async fn per_packet_balancing_shows_every_answering_router() {
        let balancer = |probe: ProbeSpec, sequence: usize| match probe.ttl {
            2 => answer(2 + u8::try_from(sequence % 2).unwrap_or(0), probe),
            _ => diamond(probe, sequence),
        };
        for params in [single_path(3), multipath(false)] {
            let network = FakeNetwork::new(balancer);
            let trace = trace(&network, &params, 1).await;
            expect_shape(&trace, &[&["100"], &["1"], &["2", "3"], &["4"], &["200"]]);
            assert_eq!(successors_of(&trace, 1), [host(2), host(3)]);
            assert_eq!(successors_of(&trace, 3), [host(4)]);
        }
    }

    #[tokio::test]
    async fn black_holes_bridge_a_silent_hop() {
        let silent = |probe: ProbeSpec, sequence| {
            if probe.ttl == 2 {
                ProbeOutcome::Lost
            } else {
                chain(probe, sequence)
            }
        };
        for params in [single_path(3), multipath(false)] {
            let network = FakeNetwork::new(silent);
            let trace = trace(&network, &params, 1).await;
            expect_shape(&trace, &[&["100"], &["1"], &["*"], &["3"], &["200"]]);
            assert!(trace.reached());
            assert_eq!(trace.hops()[2].loss(), 1.0);
            let hole = trace.hops()[2].vertices[0];
            assert_eq!(trace[hole].successors.len(), 1);
        }
    }

    #[tokio::test]
    async fn trailing_holes_are_removed_after_abort() {
        let vanishing = |probe: ProbeSpec, _| {
            if probe.ttl <= 2 {
                answer(probe.ttl, probe)
            } else {
                ProbeOutcome::Lost
            }
        };
        for params in [single_path(3), multipath(false)] {
            let network = FakeNetwork::new(vanishing);
            let trace = trace(&network, &params, 1).await;
            expect_shape(&trace, &[&["100"], &["1"], &["2"]]);
            assert!(!trace.reached());
            assert!(successors_of(&trace, 2).is_empty());
            // Two answering hops, then `abort` = 3 silent ones.
            assert_eq!(max_ttl_sent(&network), 5);
        }
    }

    #[tokio::test]
    async fn a_repeated_vertex_counts_as_unproductive() {
        // Behind NAT the reverse trace never sees the client: the NAT answers.
        let nat = |probe: ProbeSpec, _| {
            if probe.ttl <= 2 {
                answer(probe.ttl, probe)
            } else {
                answer(50, probe)
            }
        };
        let network = FakeNetwork::new(nat);
        let trace = trace(&network, &single_path(1), 1).await;
        expect_shape(&trace, &[&["100"], &["1"], &["2"], &["50"]]);
        assert!(successors_of(&trace, 50).is_empty());
        assert!(!trace.reached());
        assert_eq!(max_ttl_sent(&network), 6);
    }

    #[tokio::test]
    async fn the_destination_ends_the_trace_only_when_alone() {
        let route = |probe: ProbeSpec, sequence: usize| match probe.ttl {
            3 if sequence.is_multiple_of(2) => answer(9, probe),
            ttl if ttl >= 3 => answer(DESTINATION, probe),
            ttl => answer(ttl, probe),
        };
        let network = FakeNetwork::new(route);
        let trace = trace(&network, &single_path(4), 1).await;
        expect_shape(&trace, &[&["100"], &["1"], &["2"], &["200", "9"], &["200"]]);
        assert!(trace.reached());
        assert_eq!(max_ttl_sent(&network), 4);
    }

    #[tokio::test]
    async fn refusals_are_unanswered_hops_and_reported() {
        for params in [single_path(3), multipath(false)] {
            let network = FakeNetwork::new(|_, _| ProbeOutcome::Refused {
                state: INVALID_FLOW,
            });
            let trace = trace(&network, &params, 1).await;
            // No vertex was ever new, so nothing is cut: root and three holes.
            expect_shape(&trace, &[&["100"], &["*"], &["*"], &["*"]]);
            assert!(!trace.reached());
            let sent = u32::try_from(network.probes().len()).unwrap_or(u32::MAX);
            assert_eq!(trace.refusals().get(&INVALID_FLOW), Some(&sent));
        }
    }

    #[tokio::test]
    async fn min_ttl_links_the_root_to_the_first_probed_hop() {
        let network = FakeNetwork::new(chain);
        let params = Params {
            min_ttl: 3,
            ..single_path(1)
        };
        let trace = trace(&network, &params, 1).await;
        expect_shape(&trace, &[&["100"], &["3"], &["200"]]);
        assert_eq!(trace.hops()[1].ttl, 3);
        assert_eq!(successors_of(&trace, 100), [host(3)]);
    }

    #[tokio::test]
    async fn stop_returns_what_was_found_after_the_batch_in_flight() {
        let stop = Arc::new(AtomicBool::new(false));
        let network = FakeNetwork::stopping(chain, 2, Arc::clone(&stop));
        let params = single_path(3);
        let trace = Discovery::new(
            &network,
            &params,
            host(100),
            &stop,
            StdRng::seed_from_u64(1),
        )
        .run(Some(host(DESTINATION)))
        .await
        .expect("fake network");
        assert!(trace.interrupted());
        assert!(!trace.reached());
        expect_shape(&trace, &[&["100"], &["1"], &["2"]]);
        assert_eq!(network.batches().len(), 2);
    }

    #[tokio::test]
    async fn a_single_vertex_hop_is_reprobed_only_when_its_step_fell_short() {
        // A answers only even flows at TTL 1: the root step ends with
        // about 3 of the 6 flows of its stopping point answered.
        let lossy = |probe: ProbeSpec, sequence| {
            if probe.ttl == 1 && probe.flow % 2 == 1 {
                ProbeOutcome::Lost
            } else {
                diamond(probe, sequence)
            }
        };
        let confirmed = FakeNetwork::new(diamond);
        let trace_confirmed = trace(&confirmed, &multipath(false), 1).await;
        let short = FakeNetwork::new(lossy);
        let trace_short = trace(&short, &multipath(false), 1).await;
        let assumed = FakeNetwork::new(diamond);
        let trace_assumed = trace(&assumed, &multipath(true), 1).await;
        for trace in [&trace_confirmed, &trace_short, &trace_assumed] {
            assert_eq!(successors_of(trace, 1), [host(2), host(3)]);
        }
        // The root step sends 6 flows at TTL 1; A→{B, C} needs n(3) = 11, so
        // 5 flows new to A are sent at TTL 2. A answered all 6 of the root's
        // flows: the new ones cross it, as with --opt-single-vertex-hop.
        for (network, trace) in [(&confirmed, &trace_confirmed), (&assumed, &trace_assumed)] {
            assert_eq!(network.sent_at(1), 6);
            let a = trace.hops()[1].vertices[0];
            assert_eq!(trace[a].shadow_flows.len(), 5);
        }
        // After the lossy step, flows first sent at TTL 2 are located at TTL 1.
        let probes = short.probes();
        let located = probes.iter().enumerate().filter(|(index, probe)| {
            probe.ttl == 1
                && probes[..*index]
                    .iter()
                    .any(|earlier| earlier.ttl == 2 && earlier.flow == probe.flow)
        });
        assert!(located.count() > 0, "no flow re-probed at TTL 1");
    }

    #[tokio::test]
    async fn parameters_out_of_range_are_refused_before_probing() {
        let multipath = |confidence, min_burst, max_burst| {
            Mode::MultiPath(MultipathSettings {
                confidence,
                min_burst,
                max_burst,
                ..MultipathSettings::default()
            })
        };
        let base = single_path(3);
        for (params, name) in [
            (
                Params {
                    min_ttl: 0,
                    ..base.clone()
                },
                "min-ttl",
            ),
            (
                Params {
                    min_ttl: 5,
                    max_ttl: 4,
                    ..base.clone()
                },
                "max-ttl",
            ),
            (
                Params {
                    abort: 1,
                    ..base.clone()
                },
                "abort",
            ),
            (single_path(0), "probes"),
            (
                Params {
                    mode: multipath(0.0, 20, 500),
                    ..base.clone()
                },
                "confidence",
            ),
            (
                Params {
                    mode: multipath(1.0, 20, 500),
                    ..base.clone()
                },
                "confidence",
            ),
            (
                Params {
                    mode: multipath(f64::NAN, 20, 500),
                    ..base.clone()
                },
                "confidence",
            ),
            (
                Params {
                    mode: multipath(0.05, 0, 500),
                    ..base.clone()
                },
                "min-burst",
            ),
            (
                Params {
                    mode: multipath(0.05, 30, 20),
                    ..base.clone()
                },
                "max-burst",
            ),
        ] {
            let network = FakeNetwork::new(chain);
            let result =
                discover(&network, &params, host(100), None, &AtomicBool::new(false)).await;
            assert!(
                matches!(result, Err(TraceError::InvalidParameter { name: refused, .. }) if refused == name),
                "{params:?} gave {result:?}"
            );
            assert!(network.probes().is_empty());
        }
    }

    /// A at TTL 1; B for three flows in four and C for the rest at TTL 2; D
    /// at TTL 3, then the destination.
    fn skewed_diamond(probe: ProbeSpec, _: usize) -> ProbeOutcome {
        match probe.ttl {
            1 => answer(1, probe),
            2 => answer(if probe.flow.is_multiple_of(4) { 3 } else { 2 }, probe),
            3 => answer(4, probe),
            _ => answer(200, probe),
        }
    }

    #[tokio::test]
    async fn after_a_diamond_each_branch_gets_n_flows_located_first() {
        let mut both = 0;
        for seed in 0..20 {
            let network = FakeNetwork::new(skewed_diamond);
            let stop = AtomicBool::new(false);
            let params = Params {
                min_ttl: 1,
                max_ttl: 10,
                abort: 3,
                mode: Mode::MultiPath(MultipathSettings {
                    algorithm: Algorithm::Mda,
                    ..MultipathSettings::default()
                }),
            };
            let discovery = Discovery::new(
                &network,
                &params,
                host(100),
                &stop,
                StdRng::seed_from_u64(seed),
            );
            let trace = discovery.run(Some(host(200))).await.expect("fake network");
            assert!(trace.reached());
            if trace.hops()[2].vertices.len() < 2 {
                // None of the first 11 flows took C: the miss the MDA
                // allows for an uneven split ((3/4)^11 ≈ 4 %).
                continue;
            }
            both += 1;
            let probes = network.probes();
            // n(2) = 6 flows of each branch at TTL 3, each sent at TTL 2 before.
            assert_eq!(network.sent_at(3), 12, "seed {seed}");
            for (index, probe) in probes.iter().enumerate().filter(|(_, p)| p.ttl == 3) {
                assert!(
                    probes[..index]
                        .iter()
                        .any(|earlier| earlier.ttl == 2 && earlier.flow == probe.flow),
                    "seed {seed}: flow {} sent at TTL 3 before TTL 2",
                    probe.flow
                );
            }
            // TTL 2: n(3) = 11 flows for A, then new ones only until the
            // rarer branch C has its 6.
            let at_2: Vec<u16> = probes
                .iter()
                .filter(|p| p.ttl == 2)
                .map(|p| p.flow)
                .collect();
            let mut on_c = 0;
            let mut on_b = 0;
            let prefix = at_2
                .iter()
                .position(|flow| {
                    if flow.is_multiple_of(4) {
                        on_c += 1
                    } else {
                        on_b += 1
                    }
                    on_b >= 6 && on_c >= 6
                })
                .map_or(at_2.len(), |last| last + 1);
            assert_eq!(at_2.len(), prefix.max(11), "seed {seed}");
        }
        assert!(both >= 15, "both branches found in only {both} of 20");
    }
}
