//! Multipath discovery (PROTOCOL.md §11.10, a Diamond-Miner style MDA):
//! how many flows each vertex needs, sending them in bursts with retries,
//! and one hop step that keeps sending until the stopping points are met.
//!
//! The stopping rule is applied per vertex: every vertex `v` of a hop needs
//! `n(successors(v) + 1)` of the flows that cross it probed at the next hop.
//! The reference (§11.10.2, §11.10.5) estimates instead how many random
//! flows the hop needs in total, ⌈n / share(v)⌉, sends them all at the next
//! hop and only then re-probes the new ones at the hop to learn which vertex
//! they crossed; every new flow that lands on a vertex that already had its
//! `n` is a wasted probe at the next hop, and the estimate overshoots when
//! the observed share is off (7 of 11 flows on one branch: 17 flows sent at
//! the next hop where 12 do). Here new flows are located at a hop with
//! several vertices first, and the next hop is probed only with flows of
//! vertices still short of their stopping point. Same rule, same flow range,
//! same bursts and retries, same "no new link" exit: the graph and its
//! confidence are those of the reference, for fewer probes.

use std::collections::BTreeSet;

use log::{debug, warn};
use rand::{SeedableRng, rngs::StdRng};

use crate::{
    trace::Result,
    trace::flows::{FLOW_RANGE, FlowStream},
    trace::graph::{Trace, VertexId},
    trace::probe::{ProbeSpec, Prober},
    trace::probed::Probed,
    trace::reprobe::looks_rate_limited,
    trace::session::Session,
};

/// `n(k)` of §11.10.1: flows that must cross a vertex so that, if it
/// balances over `k` equally likely successors, all `k` are seen with
/// probability at least `1 − confidence`.
pub(crate) fn stopping_point(successors: usize, confidence: f64) -> usize {
    if successors <= 1 {
        return 0;
    }
    let k = successors as f64;
    ((confidence / k).ln() / ((k - 1.0) / k).ln()).ceil() as usize
}

/// How many flows the vertices of a hop lack at the next hop beyond those
/// known to cross them: `responsive` ones can get more by locating new
/// flows, `silent` ones (black holes) cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Shortfall {
    responsive: usize,
    silent: usize,
}

/// `n(max(1, successors) + 1)`: a vertex is assumed to have one successor
/// more than seen (§11.10.2); but the root known to send every flow to one
/// first hop needs one flow there.
fn vertex_stopping_point(trace: &Trace, id: VertexId, confidence: f64) -> usize {
    if id == trace.root() && trace.first_hop_is_sole() {
        return 1;
    }
    stopping_point(trace[id].successors.len().max(1) + 1, confidence)
}

/// Adds to `batch` the flows each vertex of `hop` still needs at the next
/// hop, from those that cross it and were neither `probed` there nor chosen
/// yet, and returns what they lack beyond those. A flow counts for every
/// vertex it crossed (per-packet balancing); a black hole's flows are those
/// it inherited.
fn take_vertex_flows(
    trace: &Trace,
    hop: usize,
    probed: &Probed,
    batch: &mut Vec<u16>,
    confidence: f64,
) -> Shortfall {
    let mut short = Shortfall::default();
    for &id in &trace.hop(hop).vertices {
        let vertex = &trace[id];
        let needed = vertex_stopping_point(trace, id, confidence);
        let chosen = |flow: &u16| probed.sent(*flow) || batch.contains(flow);
        let have = vertex
            .all_flows()
            .filter(|&flow| probed.counts(flow) || batch.contains(&flow))
            .count();
        let more: Vec<u16> = vertex
            .all_flows()
            .filter(|flow| !chosen(flow))
            .take(needed.saturating_sub(have))
            .collect();
        let lack = needed.saturating_sub(have + more.len());
        if vertex.is_black_hole() {
            short.silent += lack;
        } else {
            short.responsive += lack;
        }
        batch.extend(more);
    }
    short
}

/// Whether every vertex of `hop` had the flows of its stopping point
/// `probed` at the next hop.
fn stopping_points_met(trace: &Trace, hop: usize, probed: &Probed, confidence: f64) -> bool {
    let mut more = Vec::new();
    take_vertex_flows(trace, hop, probed, &mut more, confidence) == Shortfall::default()
        && more.is_empty()
}

/// Whether the step that found `hop` already settled that it has no
/// vertex but the one seen: every vertex of the hop before had the flows
/// of its stopping point answered at `hop`. A new flow then crosses that
/// vertex with the confidence asked for, and re-probing it at `hop`, as
/// the reference does without `--opt-single-vertex-hop` (§11.10.5), costs
/// a probe the stopping rule does not ask for. A hop whose step stopped
/// short (no new link, lost probes) is still re-probed.
pub(crate) fn hop_confirmed(trace: &Trace, hop: usize, confidence: f64) -> bool {
    let Some(previous) = hop.checked_sub(1) else {
        return false;
    };
    let answered: BTreeSet<u16> = trace
        .hop(hop)
        .vertices
        .iter()
        .flat_map(|&id| trace[id].flows.iter().copied())
        .collect();
    trace.hop(previous).vertices.iter().all(|&id| {
        let vertex = &trace[id];
        vertex
            .all_flows()
            .filter(|flow| answered.contains(flow))
            .count()
            >= vertex_stopping_point(trace, id, confidence)
    })
}

/// The new flows the reference would send past `hop` at once: `needed(hop)`
/// of §11.10.2, ⌈n / share(v)⌉ at most over the responsive vertices, less
/// the flows the hop knows.
fn flows_to_locate(trace: &Trace, hop: usize, confidence: f64) -> usize {
    let total = trace.hop_flows(hop).len();
    trace
        .hop(hop)
        .vertices
        .iter()
        .filter(|&&id| !trace[id].is_black_hole() && trace[id].flow_count() > 0)
        .map(|&id| {
            (vertex_stopping_point(trace, id, confidence) * total).div_ceil(trace[id].flow_count())
        })
        .max()
        .map_or(0, |needed| needed.saturating_sub(total))
}

/// The settings of multipath discovery (`Mode::MultiPath`)
/// (§11.10): the ε of the stopping points, retries of unanswered flows,
/// the burst sizes, and whether a hop of one vertex is never re-probed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MultipathSettings {
    pub algorithm: Algorithm,
    pub confidence: f64,
    pub retry: u32,
    pub min_burst: usize,
    pub max_burst: usize,
    pub single_vertex_opt: bool,
}

/// How multipath discovery decides how many flows a hop needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// Per vertex (§11.10): every vertex gets the flows of its own stopping
    /// point; ε bounds the chance of missing a successor of each vertex.
    Mda,
    /// MDA-Lite ([`mda_lite`](crate::trace::mda_lite)): per hop under a
    /// uniform, unmeshed diamond, tested, with the full MDA where the test
    /// fails; ε bounds the chance of missing a vertex of each hop.
    #[default]
    MdaLite,
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Mda => "mda",
            Self::MdaLite => "mda-lite",
        })
    }
}

/// The defaults of `multipath` (the reference's, with MDA-Lite).
impl Default for MultipathSettings {
    fn default() -> Self {
        Self {
            algorithm: Algorithm::default(),
            confidence: 0.05,
            retry: 3,
            min_burst: 20,
            max_burst: 500,
            single_vertex_opt: false,
        }
    }
}

/// One hop step of §11.10.5 in `session`: probe `next` with the flows of
/// each vertex of `hop` until every vertex has its stopping point or a
/// batch adds no link. The flows `probed` were sent to `next` already
/// (none, or MDA-Lite's before it falls back).
pub(crate) async fn multipath_step<P: Prober>(
    session: &mut Session<'_, P>,
    hop: usize,
    next: usize,
    settings: MultipathSettings,
    probed: Probed,
) -> Result<()> {
    Multipath { session }
        .step(hop, next, settings, probed)
        .await
}

/// Probes `next` with `batch` (noted in `probed`) until `enough` of its
/// flows are answered (the rest are spares, handed back), locates the
/// flows that reached it unseen at `hop`, and links the two hops; returns
/// the number of new links.
pub(crate) async fn probe_next<P: Prober>(
    session: &mut Session<'_, P>,
    (hop, next): (usize, usize),
    (batch, enough): (Vec<u16>, usize),
    probed: &mut Probed,
    settings: MultipathSettings,
) -> Result<usize> {
    Multipath { session }
        .probe_next(hop, next, (batch, enough), probed, settings)
        .await
}

/// Sends `flows` to `hop` in bursts with retries (see
/// `Multipath::send_flows`); returns the flows handed back.
pub(crate) async fn send_flows<P: Prober>(
    session: &mut Session<'_, P>,
    hop: usize,
    flows: Vec<u16>,
    settings: MultipathSettings,
) -> Result<Vec<u16>> {
    Multipath { session }.send_flows(hop, flows, settings).await
}

/// Links the vertices of `hop` that answered only on flows never asked at
/// the hop before (see `Multipath::link_back`), e.g. flows deferred past a
/// lone router and answered after the pause.
pub(crate) async fn link_back<P: Prober>(
    session: &mut Session<'_, P>,
    hop: usize,
    settings: MultipathSettings,
) -> Result<()> {
    Multipath { session }.link_back(hop, settings).await
}

/// Multipath steps over a discovery's probing session.
struct Multipath<'s, 'a, P> {
    session: &'s mut Session<'a, P>,
}

impl<P: Prober> Multipath<'_, '_, P> {
    async fn step(
        &mut self,
        hop: usize,
        next: usize,
        settings: MultipathSettings,
        mut probed: Probed,
    ) -> Result<()> {
        let mut fresh = FlowStream::new(
            &self.session.trace.hop_flows(hop),
            FLOW_RANGE,
            StdRng::from_rng(&mut self.session.rng),
        );
        loop {
            let batch = self.next_batch(hop, &probed, &mut fresh, settings).await?;
            if batch.is_empty() || self.session.trace.interrupted() {
                break;
            }
            let counted = probed.count() + batch.len();
            let all = batch.len();
            let links = self
                .probe_next(hop, next, (batch, all), &mut probed, settings)
                .await?;
            if self.session.trace.interrupted() {
                break;
            }
            // Flows handed back are replaced first: a spent rate limit
            // is no sign that the hop has shown all its vertices.
            if links == 0 && probed.count() == counted {
                // §11.10.5 and Q-27: a batch without a new link ends the
                // step, against rate-limited routers skewing the split.
                // Usually the batch met the stopping points anyway; only
                // an early stop is worth a warning.
                let ttl = self.session.trace.hop(next).ttl;
                if stopping_points_met(&self.session.trace, hop, &probed, settings.confidence) {
                    debug!("TTL {ttl} complete");
                } else {
                    warn!("no new link towards TTL {ttl}: stopping before the stopping points");
                }
                break;
            }
        }
        Ok(())
    }

    /// See [`probe_next`].
    async fn probe_next(
        &mut self,
        hop: usize,
        next: usize,
        (batch, enough): (Vec<u16>, usize),
        probed: &mut Probed,
        settings: MultipathSettings,
    ) -> Result<usize> {
        probed.send(batch.iter().copied());
        let handed_back = self.send_flows_until(next, batch, enough, settings).await?;
        probed.hand_back(handed_back);
        if !self.session.trace.interrupted() {
            self.locate_missing(hop, next, settings).await?;
            self.link_back(hop, settings).await?;
        }
        Ok(self.session.trace.connect(hop, next))
    }

    /// Locating flows at `hop` can reveal a vertex there that its own step
    /// missed (its flows were lost, or deferred, there): none of its flows
    /// was asked at the hop before, so it has no predecessor and would drop
    /// off the graph. Its flows are located at the hop before, and so on
    /// back while that reveals unlinked vertices too.
    async fn link_back(&mut self, mut hop: usize, settings: MultipathSettings) -> Result<()> {
        while let Some(previous) = hop.checked_sub(1)
            && self.session.trace.has_unlinked(hop)
            && !self.session.trace.interrupted()
        {
            self.locate_missing(previous, hop, settings).await?;
            self.session.trace.connect(previous, hop);
            hop = previous;
        }
        Ok(())
    }

    /// The flows to probe the next hop with so that every vertex of `hop`
    /// reaches its stopping point, counting the flows `probed` there
    /// already. A vertex's own flows come first; when they do not suffice,
    /// new flows are drawn from `fresh`. At a hop of one vertex (or the
    /// root) every new flow crosses it. At a hop of several, new flows are
    /// probed at the hop first, each round as many as the responsive
    /// vertices lack (so a round never locates a flow the rule could do
    /// without), until they have theirs, a round gets no answer, or twice
    /// the reference's estimate (§11.10.2) has been located: a vertex that
    /// answered once and never again must not drain the flow range.
    async fn next_batch(
        &mut self,
        hop: usize,
        probed: &Probed,
        fresh: &mut FlowStream<StdRng>,
        settings: MultipathSettings,
    ) -> Result<Vec<u16>> {
        let mut batch = Vec::new();
        let mut allowance = None;
        loop {
            let short = take_vertex_flows(
                &self.session.trace,
                hop,
                probed,
                &mut batch,
                settings.confidence,
            );
            let single = self.session.trace.hop(hop).vertices.len() <= 1;
            let wanted = if single {
                short.responsive + short.silent
            } else {
                let allowance = allowance.get_or_insert_with(|| {
                    2 * flows_to_locate(&self.session.trace, hop, settings.confidence)
                });
                let wanted = short.responsive.min(*allowance);
                *allowance -= wanted;
                wanted
            };
            if wanted == 0 || self.session.trace.interrupted() {
                return Ok(batch);
            }
            let new: Vec<u16> = fresh.by_ref().take(wanted).collect();
            if new.len() < wanted {
                warn!(
                    "no more flows to probe past TTL {}",
                    self.session.trace.hop(hop).ttl
                );
            }
            if single || new.is_empty() {
                batch.extend(new);
                return Ok(batch);
            }
            let known = self.session.trace.hop_flows(hop).len();
            // Flows refused there stay unlocated, and unused.
            self.send_flows(hop, new, settings).await?;
            if self.session.trace.hop_flows(hop).len() == known {
                return Ok(batch);
            }
        }
    }

    /// Flows that reached `next` but were never seen at `hop` crossed some
    /// vertex of `hop`: find out which, or attribute them when there is
    /// only one candidate.
    async fn locate_missing(
        &mut self,
        hop: usize,
        next: usize,
        settings: MultipathSettings,
    ) -> Result<()> {
        let known = self.session.trace.hop_flows(hop);
        let missing: Vec<u16> = self
            .session
            .trace
            .hop_flows(next)
            .difference(&known)
            .copied()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let Some(first) = self.session.trace.first(hop) else {
            return Ok(());
        };
        if self.session.trace.hop(hop).vertices.len() > 1 {
            self.send_flows(hop, missing, settings).await?;
            return Ok(());
        }
        if self.session.trace.hop(hop).ttl == 0 {
            // The root sent them itself.
            self.session.trace.vertex_mut(first).flows.extend(missing);
        } else if settings.single_vertex_opt
            || self.session.trace[first].is_black_hole()
            || hop_confirmed(&self.session.trace, hop, settings.confidence)
        {
            // A silent hop's one black hole carries them: asking it would
            // only cost another timeout.
            self.session
                .trace
                .vertex_mut(first)
                .shadow_flows
                .extend(missing);
        } else {
            self.send_flows(hop, missing.clone(), settings).await?;
            let known = self.session.trace.hop_flows(hop);
            self.session
                .trace
                .vertex_mut(first)
                .shadow_flows
                .extend(missing.into_iter().filter(|flow| !known.contains(flow)));
        }
        Ok(())
    }

    /// `send_flows` of §11.10.4: each flow tried at most `retry + 1` times,
    /// in pieces that double from `min_burst` up to `max_burst` while every
    /// probe of a full piece is answered and fall back after any loss. Each
    /// piece goes out as one batch, all of it in flight at once. Only the
    /// flows whose answer is missing are retried, and only at a hop that
    /// answered in the run: a silent hop costs the session's patience, never
    /// one per retry. Scattered losses are retried at once; losses that
    /// look like a rate limit (a burst that spent the routers' errors,
    /// then nothing, or a retry without any answer; any loss at a hop of
    /// several vertices flagged before or one of whose routers is out of
    /// errors, [`ErrorBudget`](crate::trace::reprobe::ErrorBudget))
    /// flag the hop. At a hop where several vertices answered they are
    /// handed back: returned unanswered, for the step to probe other flows
    /// instead ([`Probed`]), at most `retry` times a hop. Otherwise they are
    /// deferred: asked again after the pause of
    /// [`reprobe`](crate::trace::reprobe), at the end of the discovery,
    /// while the step goes on without them. Returns the flows handed back.
    async fn send_flows(
        &mut self,
        hop: usize,
        flows: Vec<u16>,
        settings: MultipathSettings,
    ) -> Result<Vec<u16>> {
        let all = flows.len();
        self.send_flows_until(hop, flows, all, settings).await
    }

    /// [`send_flows`](Self::send_flows) until `enough` of `flows` are
    /// answered: the others are spares, sent in case some are refused,
    /// and once enough answered they are neither waited for nor retried
    /// but handed back, counting for nothing.
    async fn send_flows_until(
        &mut self,
        hop: usize,
        flows: Vec<u16>,
        enough: usize,
        settings: MultipathSettings,
    ) -> Result<Vec<u16>> {
        let ttl = self.session.trace.hop(hop).ttl;
        let mut answers = 0;
        let mut chunk = settings.min_burst;
        let mut pending = flows;
        let mut burst_spent = false;
        for round in 0..=settings.retry {
            if round > 0 {
                if !self.answered_ever(hop) {
                    debug!("TTL {ttl} never answered: asked again at the end, if at all");
                    return Ok(Vec::new());
                }
                // A burst answered and then nothing, or a retry without
                // any answer: a rate limit, which only time refills, or
                // other vertices of the hop answer in its place.
                if burst_spent {
                    self.session.trace.set_rate_limited(hop);
                    if self.several_answered(hop) && self.session.hand_back(hop, settings.retry) {
                        debug!("TTL {ttl}: {} flows handed back", pending.len());
                        return Ok(pending);
                    }
                    debug!("TTL {ttl}: {} flows asked again at the end", pending.len());
                    self.session.deferred.add(ttl, pending);
                    return Ok(Vec::new());
                }
            }
            let mut answered = BTreeSet::new();
            let mut start = 0;
            while start < pending.len() && !self.session.trace.interrupted() {
                let end = pending.len().min(start + chunk);
                let probes: Vec<ProbeSpec> = pending[start..end]
                    .iter()
                    .map(|&flow| ProbeSpec { ttl, flow })
                    .collect();
                let got = self
                    .session
                    .send_until(hop, &probes, enough.saturating_sub(answers))
                    .await?;
                chunk = if got.len() == chunk {
                    chunk.saturating_mul(2).min(settings.max_burst)
                } else {
                    settings.min_burst
                };
                answers += got.len();
                answered.extend(got.iter().map(|probe| probe.flow));
                start = end;
                if answers >= enough {
                    pending.retain(|flow| !answered.contains(flow));
                    if !pending.is_empty() {
                        debug!("TTL {ttl}: enough answered, {} spare flows", pending.len());
                    }
                    return Ok(pending);
                }
            }
            // At a hop of several vertices, a loss while one of them is
            // out of errors is most likely its refusal: a new flow has the
            // better chance, and costs no more than a retry. A burst, then
            // nothing, is a rate limit only if the routers' answers spent
            // their burst; otherwise it is loss at the end of a batch, and
            // a retry now beats the pause. A retry without any answer is a
            // limit the answers did not show (spent before the run) or
            // loss twice over: where only the pause could follow, a router
            // with errors left gets one more retry first.
            let spent = self.session.spent_at(hop);
            let several = self.several_answered(hop);
            burst_spent = (several && (self.session.trace.hop(hop).rate_limited || spent))
                || (spent && looks_rate_limited(&pending, &answered))
                || (round > 0 && answered.is_empty() && (spent || several || round > 1));
            pending.retain(|flow| !answered.contains(flow));
            if pending.is_empty() || self.session.trace.interrupted() {
                return Ok(Vec::new());
            }
        }
        if self.answered_ever(hop) {
            warn!(
                "{} flows at TTL {ttl} unanswered after {} retries",
                pending.len(),
                settings.retry
            );
        }
        Ok(Vec::new())
    }

    /// How many vertices of `hop` answered in this run.
    fn answered(&self, hop: usize) -> usize {
        self.session.trace.responsive(hop).count()
    }

    /// Whether some vertex of `hop` ever answered in this run.
    fn answered_ever(&self, hop: usize) -> bool {
        self.answered(hop) > 0
    }

    /// Whether several vertices of `hop` answered in this run, so that
    /// others can take the flows of one whose rate limit is spent.
    fn several_answered(&self, hop: usize) -> bool {
        self.answered(hop) > 1
    }
}

#[cfg(test)]
mod tests {
    use std::{net::IpAddr, sync::atomic::AtomicBool, time::Duration};

    use rand::rngs::StdRng;

    use super::*;
    use crate::{
        trace::fake_network::{FakeNetwork, answer, host, rate_limited},
        trace::graph::VertexId,
        trace::probe::ProbeOutcome,
    };

    const RTT: Duration = Duration::from_millis(1);

    /// §11.10.1, ε = 0.05.
    const TABLE_5_PERCENT: [(usize, usize); 20] = [
        (1, 0),
        (2, 6),
        (3, 11),
        (4, 16),
        (5, 21),
        (6, 27),
        (7, 33),
        (8, 39),
        (9, 45),
        (10, 51),
        (11, 57),
        (12, 63),
        (13, 70),
        (14, 77),
        (15, 83),
        (16, 90),
        (21, 124),
        (31, 197),
        (51, 350),
        (101, 765),
    ];

    /// §11.10.1, ε = 0.01, k = 1…10.
    const TABLE_1_PERCENT: [usize; 10] = [0, 8, 15, 21, 28, 36, 43, 51, 58, 66];

    #[test]
    fn stopping_points_for_5_percent() {
        for (k, n) in TABLE_5_PERCENT {
            assert_eq!(stopping_point(k, 0.05), n, "n({k})");
        }
    }

    #[test]
    fn stopping_points_for_1_percent() {
        for (k, n) in (1..).zip(TABLE_1_PERCENT) {
            assert_eq!(stopping_point(k, 0.01), n, "n({k})");
        }
    }

    /// A hop at TTL 1 whose vertices answered the given flows, each linked to
    /// `successors` vertices of TTL 2; returns the trace and the hop index.
    fn hop_of(vertices: &[(u8, &[u16], u8)]) -> (Trace, usize) {
        let mut trace = Trace::new(host(100));
        let hop = trace.push_hop(1);
        let next = trace.push_hop(2);
        for &(address, flows, successors) in vertices {
            for &flow in flows {
                trace.record(hop, host(address), flow, RTT);
            }
            for successor in 0..successors {
                // Successor addresses distinct per vertex and per link.
                trace.record(next, host(address * 10 + successor), flows[0], RTT);
            }
        }
        trace.connect(hop, next);
        (trace, hop)
    }

    /// What `take_vertex_flows` picks for `hop` with `probed` already sent.
    /// Returns the batch and the responsive and silent vertices' shortfall.
    fn take(
        trace: &Trace,
        hop: usize,
        probed: &[u16],
        confidence: f64,
    ) -> (Vec<u16>, usize, usize) {
        let mut batch = Vec::new();
        let probed = probed.iter().copied().collect();
        let short = take_vertex_flows(trace, hop, &probed, &mut batch, confidence);
        (batch, short.responsive, short.silent)
    }

    #[test]
    fn fresh_root_lacks_n_2_flows() {
        let trace = Trace::new(host(100));
        assert_eq!(take(&trace, 0, &[], 0.05), (vec![], 6, 0));
    }

    #[test]
    fn root_with_two_successors_lacks_the_rest_of_n_3() {
        let mut trace = Trace::new(host(100));
        let next = trace.push_hop(1);
        for flow in 1..=6 {
            trace.record(next, host(1 + u8::from(flow > 3)), flow, RTT);
        }
        let root = trace.root();
        trace.vertex_mut(root).flows.extend(1..=6);
        assert_eq!(trace.connect(0, next), 2);
        assert_eq!(take(&trace, 0, &[1, 2, 3, 4, 5, 6], 0.05), (vec![], 5, 0));
    }

    #[test]
    fn each_vertex_gets_its_own_stopping_point() {
        let skewed = &[(1, &[1, 2, 3, 4, 5, 6, 7, 8][..], 1), (2, &[9, 10][..], 1)][..];
        for (vertices, probed, batch, short) in [
            // A has more than n(2) = 6 flows: 6 of them; B has 2: both, and
            // lacks 4 (the reference would send ⌈6 / (2/10)⌉ = 30 in all).
            (skewed, &[][..], &[1, 2, 3, 4, 5, 6, 9, 10][..], 4),
            // Flows probed already count and are not sent again.
            (skewed, &[1, 2, 3, 9][..], &[4, 5, 6, 10][..], 4),
            (skewed, &[1, 2, 3, 4, 5, 6, 9, 10][..], &[][..], 4),
            // Two successors seen: assume a third, n(3) = 11.
            (
                &[(1, &[1, 2, 3, 4][..], 2)][..],
                &[][..],
                &[1, 2, 3, 4][..],
                7,
            ),
            // No successor seen yet counts as one.
            (
                &[(1, &[1, 2, 3, 4][..], 0)][..],
                &[][..],
                &[1, 2, 3, 4][..],
                2,
            ),
        ] {
            let (trace, hop) = hop_of(vertices);
            assert_eq!(
                take(&trace, hop, probed, 0.05),
                (batch.to_vec(), short, 0),
                "{vertices:?}, {probed:?} probed"
            );
        }
    }

    #[test]
    fn at_most_the_references_estimate_is_located() {
        for (vertices, expected) in [
            // §11.10.5: A 8 of 10 flows needs 8, B 2 of 10 needs 30 in all.
            (
                &[(1, &[1, 2, 3, 4, 5, 6, 7, 8][..], 1), (2, &[9, 10][..], 1)][..],
                20,
            ),
            // Exact arithmetic: 6 / (3/10) is 20, not 21.
            (
                &[(1, &[1, 2, 3, 4, 5, 6, 7][..], 1), (2, &[8, 9, 10][..], 1)][..],
                10,
            ),
            // Enough flows already: none.
            (&[(1, &[1, 2, 3, 4, 5, 6, 7][..], 1)][..], 0),
        ] {
            let (trace, hop) = hop_of(vertices);
            assert_eq!(flows_to_locate(&trace, hop, 0.05), expected, "{vertices:?}");
        }
    }

    #[test]
    fn black_holes_offer_their_inherited_flows() {
        let (mut trace, hop) = hop_of(&[(1, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 1)]);
        let silent = trace.push_hop(3);
        trace.add_black_holes(hop + 1, silent);
        let hole: VertexId = trace.first(silent).expect("black hole");
        assert!(trace[hole].is_black_hole());
        // It inherited the one flow of its predecessor at TTL 2 and lacks
        // the other 7 of n(2) = 8 (ε = 0.01).
        assert_eq!(take(&trace, silent, &[], 0.01), (vec![1], 0, 7));
        // Locating new flows cannot help a hole.
        assert_eq!(flows_to_locate(&trace, silent, 0.01), 0);
    }

    fn settings(retry: u32, min_burst: usize, max_burst: usize) -> MultipathSettings {
        MultipathSettings {
            retry,
            min_burst,
            max_burst,
            ..MultipathSettings::default()
        }
    }

    /// What `send_flows` of `flows` at TTL 1 left behind.
    struct Sent {
        handed_back: Vec<u16>,
        deferred: Vec<ProbeSpec>,
        rate_limited: bool,
    }

    /// Runs `send_flows` for `flows` at TTL 1 of a fresh session.
    async fn send_at_ttl_1<F>(
        network: &FakeNetwork<F>,
        settings: MultipathSettings,
        flows: Vec<u16>,
    ) -> Sent
    where
        F: Fn(ProbeSpec, usize) -> ProbeOutcome + Send + Sync,
    {
        let stop = AtomicBool::new(false);
        let mut session = Session::new(network, host(100), &stop, StdRng::seed_from_u64(1));
        let hop = session.trace.push_hop(1);
        let handed_back = Multipath {
            session: &mut session,
        }
        .send_flows(hop, flows, settings)
        .await
        .expect("fake network");
        Sent {
            handed_back,
            deferred: session.deferred.take(),
            rate_limited: session.trace.hop(hop).rate_limited,
        }
    }

    /// Runs `send_flows` for `flows` at TTL 1 and returns the batch sizes.
    async fn burst_sizes<F>(
        network: &FakeNetwork<F>,
        settings: MultipathSettings,
        flows: Vec<u16>,
    ) -> Vec<usize>
    where
        F: Fn(ProbeSpec, usize) -> ProbeOutcome + Send + Sync,
    {
        send_at_ttl_1(network, settings, flows).await;
        network.batches().iter().map(Vec::len).collect()
    }

    fn ttl1(flow: u16) -> ProbeSpec {
        ProbeSpec { ttl: 1, flow }
    }

    #[tokio::test]
    async fn bursts_double_while_all_answered() {
        let network = FakeNetwork::new(|probe, _| answer(1, probe));
        let sizes = burst_sizes(&network, settings(3, 4, 16), (1..=100).collect()).await;
        assert_eq!(sizes, [4, 8, 16, 16, 16, 16, 16, 8]);
    }

    #[tokio::test]
    async fn bursts_fall_back_after_a_loss_and_lost_flows_are_retried() {
        // The 6th probe (flow 6, in the second piece) is lost: the piece
        // after it falls back to the minimum; flow 6 answers on the retry.
        let network = FakeNetwork::new(|probe, sequence| {
            if sequence == 5 {
                ProbeOutcome::Lost
            } else {
                answer(1, probe)
            }
        });
        let sizes = burst_sizes(&network, settings(3, 2, 16), (1..=20).collect()).await;
        assert_eq!(sizes, [2, 4, 2, 4, 8, 1]);
        assert_eq!(network.batches()[5], [ttl1(6)]);
    }

    #[tokio::test]
    async fn a_hop_that_never_answered_is_not_retried() {
        let network = FakeNetwork::new(|_, _| ProbeOutcome::Lost);
        let sizes = burst_sizes(&network, settings(2, 20, 500), (1..=6).collect()).await;
        assert_eq!(sizes, [6]);
    }

    #[tokio::test(start_paused = true)]
    async fn spare_flows_are_neither_waited_for_nor_retried_once_enough_answered() {
        // Flow 2 is lost; with flow 1 answered the batch has enough.
        fn flow_2_lost(probe: ProbeSpec, _: usize) -> ProbeOutcome {
            if probe.flow == 2 {
                ProbeOutcome::Lost
            } else {
                answer(1, probe)
            }
        }
        let stop = AtomicBool::new(false);
        let settings = MultipathSettings::default();
        for enough in [1, 2] {
            let network = FakeNetwork::timed(flow_2_lost, Duration::from_secs(2));
            let mut session = Session::new(&network, host(100), &stop, StdRng::seed_from_u64(1));
            let hop = session.trace.push_hop(1);
            let mut multipath = Multipath {
                session: &mut session,
            };
            multipath
                .send_flows(hop, vec![9], settings)
                .await
                .expect("fake network");
            let start = tokio::time::Instant::now();
            let spares = multipath
                .send_flows_until(hop, vec![1, 2], enough, settings)
                .await
                .expect("fake network");
            let elapsed = start.elapsed();
            if enough == 2 {
                // Without spares the same loss is waited for and retried.
                assert!(network.batches().len() > 2, "retried");
                continue;
            }
            assert_eq!(spares, [2], "handed back, counting for nothing");
            assert_eq!(elapsed, RTT, "ended at the answer, no quiet period");
            assert_eq!(network.batches().len(), 2, "not retried");
            assert!(session.deferred.take().is_empty(), "not deferred");
            assert_eq!(session.trace.hop(hop).loss(), 0.0, "not counted as lost");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn flows_over_a_routers_burst_are_deferred_not_waited_for() {
        // Linux's limit: the router answers 6 of the 9 flows, then refuses.
        let network = FakeNetwork::new(rate_limited(|probe| answer(1, probe)));
        let start = tokio::time::Instant::now();
        let sent = send_at_ttl_1(&network, settings(2, 20, 500), (1..=9).collect()).await;
        assert!(
            sent.handed_back.is_empty(),
            "one vertex: nobody to take them"
        );
        assert_eq!(
            network.batches().len(),
            1,
            "a burst, then nothing: no retry now"
        );
        assert_eq!(start.elapsed(), Duration::ZERO, "no pause");
        assert!(sent.rate_limited);
        assert_eq!(sent.deferred, [ttl1(7), ttl1(8), ttl1(9)]);
    }

    #[tokio::test(start_paused = true)]
    async fn losses_at_a_batchs_end_from_a_router_with_errors_left_are_retried_at_once() {
        // The last three of the first six probes are lost: a burst, then
        // nothing, but after 3 answers a Linux router has 3 errors left.
        let network = FakeNetwork::new(|probe, sequence| {
            if (3..6).contains(&sequence) {
                ProbeOutcome::Lost
            } else {
                answer(1, probe)
            }
        });
        let sent = send_at_ttl_1(&network, settings(2, 20, 500), (1..=6).collect()).await;
        assert!(sent.handed_back.is_empty());
        let batches = network.batches();
        assert_eq!(batches.len(), 2, "retried at once, not deferred");
        assert_eq!(batches[1], [ttl1(4), ttl1(5), ttl1(6)]);
        assert!(sent.deferred.is_empty());
        assert!(!sent.rate_limited, "loss, not a limit");
    }

    #[tokio::test(start_paused = true)]
    async fn a_flow_lost_twice_at_a_router_with_errors_left_is_retried_not_deferred() {
        // Flow 6 is lost on its first two tries; the router answered 5.
        let tries = std::sync::Mutex::new(0);
        let network = FakeNetwork::new(move |probe: ProbeSpec, _| {
            let mut tries = tries.lock().expect("tries");
            if probe.flow == 6 && *tries < 2 {
                *tries += 1;
                ProbeOutcome::Lost
            } else {
                answer(1, probe)
            }
        });
        let sizes = burst_sizes(&network, settings(3, 20, 500), (1..=6).collect()).await;
        assert_eq!(sizes, [6, 1, 1], "two retries, the second answered");
        // A router out of errors before the run, unknown to the budget,
        // refuses every retry: deferred after the second.
        let network = FakeNetwork::new(|probe: ProbeSpec, _| {
            if probe.flow == 6 {
                ProbeOutcome::Lost
            } else {
                answer(1, probe)
            }
        });
        let sent = send_at_ttl_1(&network, settings(3, 20, 500), (1..=6).collect()).await;
        assert_eq!(network.batches().len(), 3);
        assert_eq!(sent.deferred, [ttl1(6)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_loss_while_a_router_of_the_hop_is_out_of_errors_is_handed_back_at_once() {
        // Routers 1 (even flows) and 2 (odd) keep Linux's limit: the 7th
        // even flow is refused, between answers, as random loss would be.
        let network = FakeNetwork::new(rate_limited(|probe| {
            answer(1 + u8::from(probe.flow % 2 == 1), probe)
        }));
        let flows = vec![2, 4, 6, 1, 8, 10, 12, 3, 14, 5];
        let sent = send_at_ttl_1(&network, settings(2, 20, 500), flows).await;
        assert_eq!(sent.handed_back, [14], "router 1 answered its burst of 6");
        assert_eq!(network.batches().len(), 1, "no retry to prove the refusal");
        assert!(sent.rate_limited);
        // A loss where every router has errors left is retried.
        let network = FakeNetwork::new(|probe: ProbeSpec, sequence| {
            if sequence == 2 {
                ProbeOutcome::Lost
            } else {
                answer(1 + u8::from(probe.flow % 2 == 1), probe)
            }
        });
        let sent = send_at_ttl_1(&network, settings(2, 20, 500), vec![2, 1, 4, 3, 6]).await;
        assert!(sent.handed_back.is_empty());
        assert_eq!(network.batches()[1], [ttl1(4)]);
    }

    #[tokio::test]
    async fn a_vertex_found_while_probing_past_its_hop_is_linked_to_the_hop_before() {
        // Routers 1, then 2 or 3 by flow parity, then 4. TTL 2 was seen on
        // even flows only (its other answers lost): router 3 shows only
        // when the odd flows probed at TTL 3 are located at TTL 2.
        let network = FakeNetwork::new(|probe: ProbeSpec, _| match probe.ttl {
            1 => answer(1, probe),
            2 => answer(2 + u8::from(probe.flow % 2 == 1), probe),
            _ => answer(4, probe),
        });
        let stop = AtomicBool::new(false);
        let mut session = Session::new(&network, host(100), &stop, StdRng::seed_from_u64(1));
        let first = session.trace.push_hop(1);
        let second = session.trace.push_hop(2);
        let third = session.trace.push_hop(3);
        let root = session.trace.root();
        let even = vec![2, 4, 6, 8, 10, 12];
        session.trace.vertex_mut(root).flows.extend(&even);
        let settings = settings(2, 20, 500);
        let mut multipath = Multipath {
            session: &mut session,
        };
        for (hop, flows) in [(first, even), (second, vec![2, 4])] {
            multipath
                .send_flows(hop, flows, settings)
                .await
                .expect("fake network");
            multipath.session.trace.connect(hop - 1, hop);
        }
        multipath
            .probe_next(
                second,
                third,
                (vec![2, 4, 1, 3], 4),
                &mut Probed::default(),
                settings,
            )
            .await
            .expect("fake network");
        let trace = &mut session.trace;
        trace.prune();
        let hops: Vec<Vec<IpAddr>> = trace.hops()[1..]
            .iter()
            .map(|hop| {
                hop.vertices
                    .iter()
                    .filter_map(|&id| trace[id].address())
                    .collect()
            })
            .collect();
        assert_eq!(hops, [vec![host(1)], vec![host(2), host(3)], vec![host(4)]]);
    }
}
