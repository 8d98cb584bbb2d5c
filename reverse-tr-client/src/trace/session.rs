//! One discovery's probing session: the prober, the trace being built,
//! the random source of new flows, when each TTL was last probed, and the
//! batches still in flight behind the hop being probed.
//!
//! Probes are in flight across TTLs: a batch that has no answer after the
//! session's [`patience`](Session::patience) (a silent hop, or a router
//! whose rate limit is spent) stops holding discovery up. It lingers: its
//! probes stay in flight until their `--timeout`, and whatever answers
//! them later is recorded at its hop, while the hops after it are probed.
//! Single-path steps ([`discovery`](crate::trace::discovery)) and multipath
//! steps ([`mda`](crate::trace::mda)) both send through it.

use std::{
    collections::{BTreeSet, HashMap},
    future::{Future, poll_fn},
    net::IpAddr,
    pin::{Pin, pin},
    sync::atomic::{AtomicBool, Ordering},
    task::Poll,
    time::Duration,
};

use log::{Level, debug, info, log_enabled, warn};
use rand::rngs::StdRng;
use tokio::time::{Instant, sleep_until};

use crate::{
    trace::Result,
    trace::graph::Trace,
    trace::probe::{ProbeOutcome, ProbeSpec, Prober, Within},
    trace::reprobe::{Deferred, ErrorBudget, LastSent},
};

/// The shortest wait for a batch's first answer before discovery moves on
/// past it. Well above the answer time of the hops of a path (ICMP errors
/// come from a router's slow path, sometimes hundreds of ms late), but a
/// fraction of the usual `--timeout`.
const PATIENCE_FLOOR: Duration = Duration::from_millis(500);

/// The shortest wait, after its last probe, for an answer from a hop that
/// has answered before (a retry of lost probes): its answer time is known.
const RETRY_PATIENCE_FLOOR: Duration = Duration::from_millis(100);

/// How slow, relative to the slowest answer so far, a hop's first answer
/// may be before the hop is passed by.
const PATIENCE_FACTOR: u32 = 4;

type Outcomes = Result<Vec<(ProbeSpec, ProbeOutcome)>>;

/// A batch in flight, as the prober's future.
type InFlight<'a> = Pin<Box<dyn Future<Output = Outcomes> + Send + 'a>>;

/// A batch discovery moved on from without an answer.
struct Lingering<'a> {
    hop: usize,
    probes: Vec<ProbeSpec>,
    batch: InFlight<'a>,
}

/// `probes`, every one lost.
fn lost(probes: &[ProbeSpec]) -> Vec<(ProbeSpec, ProbeOutcome)> {
    probes
        .iter()
        .map(|&probe| (probe, ProbeOutcome::Lost))
        .collect()
}

/// `probes` in the order they go out: round robin over their TTLs (in
/// order of first appearance), each TTL's probes in the order given. A
/// batch that carries several hops (hops asked again, riding along) thus
/// never sends one router its probes back to back while another hop's
/// could go in between: the gaps spread each router's share of the batch,
/// as Yarrp and Diamond-Miner interleave TTLs, at no cost in time.
fn interleaved(probes: &[ProbeSpec]) -> Vec<ProbeSpec> {
    let mut ttls: Vec<Vec<ProbeSpec>> = Vec::new();
    for &probe in probes {
        match ttls.iter_mut().find(|same| same[0].ttl == probe.ttl) {
            Some(same) => same.push(probe),
            None => ttls.push(vec![probe]),
        }
    }
    let longest = ttls.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|round| ttls.iter().filter_map(move |same| same.get(round).copied()))
        .collect()
}

/// What woke a session waiting on its batches.
enum Event {
    /// The batch being sent finished.
    Done(Outcomes),
    /// A lingering batch (by index) finished.
    Late(usize, Outcomes),
    /// The wait's instant came.
    Due,
}

/// The probing state of one discovery in progress.
pub(crate) struct Session<'a, P> {
    prober: &'a P,
    stop: &'a AtomicBool,
    pub(crate) rng: StdRng,
    pub(crate) trace: Trace,
    pub(crate) last_sent: LastSent,
    pub(crate) deferred: Deferred,
    budget: ErrorBudget,
    lingering: Vec<Lingering<'a>>,
    slowest: Duration,
    /// How often each hop handed flows back (see [`hand_back`](Self::hand_back)).
    handed_back: HashMap<usize, u32>,
}

impl<'a, P: Prober> Session<'a, P> {
    /// A session probing from `root` through `prober`; `rng` draws the
    /// multipath flows (tests seed it).
    pub(crate) fn new(prober: &'a P, root: IpAddr, stop: &'a AtomicBool, rng: StdRng) -> Self {
        let mut trace = Trace::new(root);
        if prober.one_first_hop() {
            trace.set_one_first_hop();
        }
        Self {
            prober,
            stop,
            rng,
            trace,
            last_sent: LastSent::default(),
            deferred: Deferred::default(),
            budget: ErrorBudget::default(),
            lingering: Vec::new(),
            slowest: Duration::ZERO,
            handed_back: HashMap::new(),
        }
    }

    /// The hop probed with `ttl`, if there is one yet.
    pub(crate) fn hop_index(&self, ttl: u8) -> Option<usize> {
        self.trace.hops().iter().position(|hop| hop.ttl == ttl)
    }

    /// Whether flows refused at `hop` by a spent rate limit may go back to
    /// the multipath step once more, for other flows to take their place:
    /// at most `times` a hop, as a hop whose every router is spent would
    /// refuse the new flows too. Counts the time.
    pub(crate) fn hand_back(&mut self, hop: usize, times: u32) -> bool {
        let count = self.handed_back.entry(hop).or_default();
        *count += 1;
        *count <= times
    }

    /// Whether a router that answered at `hop` has, by Linux's default
    /// limit, no error left for us now ([`ErrorBudget`]).
    pub(crate) fn spent_at(&self, hop: usize) -> bool {
        let now = Instant::now();
        self.trace
            .responsive(hop)
            .filter_map(|id| self.trace[id].address())
            .any(|router| self.budget.spent(router, now))
    }

    /// How long a batch may go without any answer before discovery moves
    /// on: four times the slowest answer so far, at least `floor`. (A
    /// batch never waits longer than the prober's timeout in any case.)
    fn patience(&self, floor: Duration) -> Duration {
        (self.slowest * PATIENCE_FACTOR).max(floor)
    }

    /// Sends one batch of probes, most with the TTL of `hop`, and records
    /// each answer at the hop of its probe's TTL. Returns the probes that
    /// were answered; none if the batch had no answer within the patience,
    /// in which case it lingers and later answers are recorded as they
    /// come. Once `stop` is set nothing more is sent and the trace is
    /// flagged as interrupted.
    pub(crate) async fn send(
        &mut self,
        hop: usize,
        probes: &[ProbeSpec],
    ) -> Result<Vec<ProbeSpec>> {
        self.exchange(hop, probes, true, probes.len()).await
    }

    /// Like [`send`](Self::send), but a batch to hops that answered (a
    /// retry) ends once `enough` of its probes are answered: the rest are
    /// spares, not waited for. A first batch at a hop waits for all.
    pub(crate) async fn send_until(
        &mut self,
        hop: usize,
        probes: &[ProbeSpec],
        enough: usize,
    ) -> Result<Vec<ProbeSpec>> {
        self.exchange(hop, probes, true, enough).await
    }

    /// Like [`send`](Self::send), but a batch without an answer within the
    /// patience is given up rather than left to linger: asking a hop again
    /// while its first probes are still in flight should never stretch
    /// the discovery beyond their timeout.
    pub(crate) async fn send_again(
        &mut self,
        hop: usize,
        probes: &[ProbeSpec],
    ) -> Result<Vec<ProbeSpec>> {
        self.exchange(hop, probes, false, probes.len()).await
    }

    async fn exchange(
        &mut self,
        hop: usize,
        probes: &[ProbeSpec],
        linger: bool,
        enough: usize,
    ) -> Result<Vec<ProbeSpec>> {
        if self.stop.load(Ordering::Relaxed) {
            self.trace.set_interrupted();
            return Ok(Vec::new());
        }
        self.last_sent.note(probes, Instant::now());
        let prober = self.prober;
        let owned = interleaved(probes);
        // A retry at hops that have answered ends by itself soon after
        // its last probe; a first batch at a hop may be passed by.
        let retry = probes.iter().all(|probe| self.trace.answered_at(probe.ttl));
        let (mut batch, give_up): (InFlight<'a>, _) = if retry {
            let within = Within {
                patience: self.patience(RETRY_PATIENCE_FLOOR),
                enough,
            };
            let batch = async move { prober.send_batch_within(&owned, within).await };
            (Box::pin(batch), None)
        } else {
            let batch = async move { prober.send_batch(&owned).await };
            (
                Box::pin(batch),
                Some(Instant::now() + self.patience(PATIENCE_FLOOR)),
            )
        };
        loop {
            match self.wait(Some(&mut batch), give_up).await {
                Event::Done(outcomes) => {
                    let mut outcomes = outcomes?;
                    self.log_batch(&outcomes);
                    let answered = outcomes
                        .iter()
                        .filter(|(_, outcome)| outcome.rtt().is_some())
                        .count();
                    if retry && answered >= enough {
                        // Spares not waited for: their fate is unknown, no loss.
                        outcomes.retain(|(_, outcome)| *outcome != ProbeOutcome::Lost);
                    }
                    return Ok(self.apply(hop, outcomes));
                }
                Event::Late(index, outcomes) => self.settle(index, outcomes)?,
                Event::Due if linger => {
                    info!(
                        "TTL {}: no answer yet, probing on while its probes stay in flight",
                        self.trace.hop(hop).ttl
                    );
                    self.lingering.push(Lingering {
                        hop,
                        probes: probes.to_vec(),
                        batch,
                    });
                    return Ok(Vec::new());
                }
                Event::Due => {
                    self.apply(hop, lost(probes));
                    return Ok(Vec::new());
                }
            }
        }
    }

    /// Waits until `until`, recording the answers of lingering batches
    /// meanwhile, or until those answers make `done` true.
    pub(crate) async fn sleep_until(
        &mut self,
        until: Instant,
        done: impl Fn(&Trace) -> bool,
    ) -> Result<()> {
        while !done(&self.trace) {
            match self.wait(None, Some(until)).await {
                Event::Late(index, outcomes) => self.settle(index, outcomes)?,
                Event::Done(_) | Event::Due => break,
            }
        }
        Ok(())
    }

    /// Ends the session's lingering batches: each is waited for until its
    /// probes' timeout, unless every hop it probed has answered since (a
    /// rate-limited hop asked again) or `stop` is set; probes given up
    /// count as lost. Discovery calls this before it reads the trace.
    pub(crate) async fn finish(&mut self) -> Result<()> {
        loop {
            let stop = self.stop.load(Ordering::Relaxed);
            let trace = &self.trace;
            let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.lingering)
                .into_iter()
                .partition(|batch| {
                    stop || batch
                        .probes
                        .iter()
                        .all(|probe| trace.answered_at(probe.ttl))
                });
            self.lingering = waiting;
            for given_up in done {
                self.apply(given_up.hop, lost(&given_up.probes));
            }
            if self.lingering.is_empty() {
                return Ok(());
            }
            if let Event::Late(index, outcomes) = self.wait(None, None).await {
                self.settle(index, outcomes)?;
            }
        }
    }

    /// Waits for whichever comes first: `current` finishing, a lingering
    /// batch finishing, or `until`.
    async fn wait(
        &mut self,
        mut current: Option<&mut InFlight<'a>>,
        until: Option<Instant>,
    ) -> Event {
        let lingering = &mut self.lingering;
        let mut due = pin!(until.map(sleep_until));
        poll_fn(|cx| {
            if let Some(batch) = current.as_mut()
                && let Poll::Ready(outcomes) = batch.as_mut().poll(cx)
            {
                return Poll::Ready(Event::Done(outcomes));
            }
            for (index, waiting) in lingering.iter_mut().enumerate() {
                if let Poll::Ready(outcomes) = waiting.batch.as_mut().poll(cx) {
                    return Poll::Ready(Event::Late(index, outcomes));
                }
            }
            match due.as_mut().as_pin_mut().map(|sleep| sleep.poll(cx)) {
                Some(Poll::Ready(())) => Poll::Ready(Event::Due),
                _ => Poll::Pending,
            }
        })
        .await
    }

    /// Records the outcomes of the lingering batch `index`, which finished:
    /// a hop that answers now replaces its black holes.
    fn settle(&mut self, index: usize, outcomes: Outcomes) -> Result<()> {
        let finished = self.lingering.swap_remove(index);
        let outcomes = outcomes?;
        self.log_batch(&outcomes);
        let answered = self.apply(finished.hop, outcomes);
        let hops: BTreeSet<usize> = answered
            .iter()
            .filter_map(|probe| self.hop_index(probe.ttl))
            .collect();
        for hop in hops {
            info!("TTL {}: answered late", self.trace.hop(hop).ttl);
            self.trace.fill_holes(hop);
        }
        Ok(())
    }

    /// Records the outcomes of a batch sent at `hop`, each at the hop of its
    /// probe's TTL; returns the probes answered.
    fn apply(&mut self, hop: usize, outcomes: Vec<(ProbeSpec, ProbeOutcome)>) -> Vec<ProbeSpec> {
        let mut answered = Vec::new();
        // The batch's answers are in: they spent their routers' errors by now.
        let now = Instant::now();
        for (probe, outcome) in outcomes {
            let at = self.hop_index(probe.ttl).unwrap_or(hop);
            self.trace.count_probes(
                at,
                1,
                u32::from(matches!(outcome, ProbeOutcome::Answered { .. })),
            );
            match outcome {
                ProbeOutcome::Answered { hop: address, rtt } => {
                    self.slowest = self.slowest.max(rtt);
                    self.budget.spend(address, now);
                    if self.trace.record(at, address, probe.flow, rtt).is_some() {
                        info!("new vertex {address} at TTL {}", probe.ttl);
                    }
                    answered.push(probe);
                }
                ProbeOutcome::Lost => {}
                ProbeOutcome::Refused { state } => {
                    if !self.trace.refusals().contains_key(&state) {
                        warn!(
                            "the server refused the request for TTL {} with state {}",
                            probe.ttl,
                            state.code()
                        );
                    }
                    self.trace.refused(state);
                }
            }
        }
        answered
    }

    /// At debug level, one line per batch and TTL (a late batch mixes
    /// hops): the root, the TTL and each probe's flow with what answered
    /// it (`*` lost, `!` refused), in the order sent. `cargo xtask bench`
    /// reads these lines to replay the stopping rule on the flows a run
    /// used and the branches they took.
    fn log_batch(&self, outcomes: &[(ProbeSpec, ProbeOutcome)]) {
        if !log_enabled!(Level::Debug) {
            return;
        }
        let root = self.trace[self.trace.root()]
            .address()
            .map_or_else(|| "*".to_owned(), |address| address.to_string());
        let ttls: BTreeSet<u8> = outcomes.iter().map(|(probe, _)| probe.ttl).collect();
        for ttl in ttls {
            let probes: Vec<String> = outcomes
                .iter()
                .filter(|(probe, _)| probe.ttl == ttl)
                .map(|(probe, outcome)| match outcome {
                    ProbeOutcome::Answered { hop: address, .. } => {
                        format!("{}={address}", probe.flow)
                    }
                    ProbeOutcome::Lost => format!("{}=*", probe.flow),
                    ProbeOutcome::Refused { .. } => format!("{}=!", probe.flow),
                })
                .collect();
            debug!("batch from {root} at TTL {ttl}: {}", probes.join(" "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_several_hops_goes_out_round_robin_over_them() {
        let probe = |ttl, flow| ProbeSpec { ttl, flow };
        let batch = [
            probe(5, 1),
            probe(5, 2),
            probe(5, 3),
            probe(3, 9),
            probe(4, 7),
            probe(3, 8),
        ];
        assert_eq!(
            interleaved(&batch),
            [
                probe(5, 1),
                probe(3, 9),
                probe(4, 7),
                probe(5, 2),
                probe(3, 8),
                probe(5, 3)
            ]
        );
        let one_hop = [probe(2, 4), probe(2, 1)];
        assert_eq!(interleaved(&one_hop), one_hop, "one hop keeps its order");
        assert!(interleaved(&[]).is_empty());
    }
}
