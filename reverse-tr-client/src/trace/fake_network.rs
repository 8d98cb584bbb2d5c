//! A simulated network for discovery tests: a function decides the outcome
//! of each probe, and every probe and batch is logged for assertions.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use crate::{
    trace::Result,
    trace::graph::Trace,
    trace::net::Wait,
    trace::paths::{Path, PathTable, path_flow},
    trace::probe::{ProbeOutcome, ProbeSpec, Prober, Within},
};

/// How long an answer takes on a timed fake network.
const ANSWER_TIME: Duration = Duration::from_millis(1);

/// Linux's default ICMP error limit per router: a burst of 6, then one per
/// second (`net.ipv4.icmp_ratelimit=1000`), on the paused clock.
pub(crate) fn rate_limited(
    route: fn(ProbeSpec) -> ProbeOutcome,
) -> impl Fn(ProbeSpec, usize) -> ProbeOutcome + Send + Sync {
    rate_limited_spent(route, &[])
}

/// [`rate_limited`], the routers `spent` starting with an empty bucket (a
/// run just before spent their burst).
pub(crate) fn rate_limited_spent(
    route: fn(ProbeSpec) -> ProbeOutcome,
    spent: &[u8],
) -> impl Fn(ProbeSpec, usize) -> ProbeOutcome + Send + Sync {
    let buckets: Mutex<HashMap<IpAddr, (f64, Instant)>> = Mutex::new(HashMap::new());
    let spent: Vec<IpAddr> = spent.iter().map(|&n| host(n)).collect();
    move |probe, _| {
        let outcome = route(probe);
        let ProbeOutcome::Answered { hop, .. } = outcome else {
            return outcome;
        };
        let now = Instant::now();
        let mut buckets = buckets.lock().expect("buckets");
        let burst = if spent.contains(&hop) { 0.0 } else { 6.0 };
        let (tokens, last) = buckets.entry(hop).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64()).min(6.0);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            outcome
        } else {
            ProbeOutcome::Lost
        }
    }
}

/// `10.0.0.n`.
pub(crate) fn host(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
}

/// An answer from `host(n)`, with an RTT that tells the TTL apart.
pub(crate) fn answer(n: u8, probe: ProbeSpec) -> ProbeOutcome {
    ProbeOutcome::Answered {
        hop: host(n),
        rtt: Duration::from_millis(u64::from(probe.ttl)),
    }
}

/// An answer: the last octet of the address, the flow and the RTT in ms.
pub(crate) type Answer = (u8, u16, u64);

/// A path table from TTL 1, one path ID per row of cells: each cell the
/// hop's addresses separated by `/` (empty for silence); a path whose last
/// cell ends in `.9` reached the destination.
pub(crate) fn path_table(rows: &[&[&str]]) -> PathTable {
    let paths = rows
        .iter()
        .zip(1..)
        .map(|(cells, id)| Path {
            id,
            flow: path_flow(id),
            hops: cells
                .iter()
                .map(|cell| cell.split('/').filter_map(|a| a.parse().ok()).collect())
                .collect(),
            reached: cells.last().is_some_and(|last| last.ends_with(".9")),
        })
        .collect();
    PathTable {
        min_ttl: 1,
        paths,
        interrupted: false,
    }
}

/// Builds a trace from `host(100)` hop by hop (TTL 1, 2, …) from each
/// hop's answers and probes sent, as discovery would link it.
pub(crate) fn trace(hops: &[(&[Answer], u32)], reached: bool) -> Trace {
    let mut trace = Trace::new(host(100));
    let root = trace.root();
    trace.vertex_mut(root).flows.extend(
        hops.iter()
            .flat_map(|(answers, _)| answers.iter().map(|answer| answer.1)),
    );
    let mut previous = 0;
    for (ttl, &(answers, sent)) in (1..).zip(hops) {
        let hop = trace.push_hop(ttl);
        for &(address, flow, rtt) in answers {
            trace.record(hop, host(address), flow, Duration::from_millis(rtt));
        }
        let answered = u32::try_from(answers.len()).unwrap_or(u32::MAX);
        trace.count_probes(hop, sent, answered);
        trace.connect(previous, hop);
        trace.add_black_holes(previous, hop);
        previous = hop;
    }
    if reached {
        trace.set_reached();
    }
    trace.prune();
    trace
}

/// The outcome of a probe is `route(probe, sequence)`, where `sequence`
/// counts every probe sent before it (for per-packet balancing).
pub(crate) struct FakeNetwork<F> {
    route: F,
    log: Mutex<Vec<(Instant, Vec<ProbeSpec>)>>,
    /// Set once this many batches were sent, to simulate Ctrl-C.
    stop_after: Option<(usize, Arc<AtomicBool>)>,
    /// With a timeout, each batch takes (tokio) time as the engine's would:
    /// until its slowest answer, the quiet period of `net::quiet` after
    /// them, the whole timeout (or the patience) when nothing answered.
    timeout: Option<Duration>,
    /// What [`Prober::one_first_hop`] says.
    one_first_hop: bool,
}

impl<F: Fn(ProbeSpec, usize) -> ProbeOutcome + Send + Sync> FakeNetwork<F> {
    pub(crate) fn new(route: F) -> Self {
        Self {
            route,
            log: Mutex::new(Vec::new()),
            stop_after: None,
            timeout: None,
            one_first_hop: false,
        }
    }

    /// A network whose batches take time, for tests in paused time.
    pub(crate) fn timed(route: F, timeout: Duration) -> Self {
        Self {
            timeout: Some(timeout),
            ..Self::new(route)
        }
    }

    pub(crate) fn stopping(route: F, batches: usize, stop: Arc<AtomicBool>) -> Self {
        Self {
            stop_after: Some((batches, stop)),
            ..Self::new(route)
        }
    }

    /// As a forward prober on a host whose flows all leave by one route.
    pub(crate) fn with_one_first_hop(self) -> Self {
        Self {
            one_first_hop: true,
            ..self
        }
    }

    /// Every batch sent so far, in order.
    pub(crate) fn batches(&self) -> Vec<Vec<ProbeSpec>> {
        self.sent().into_iter().map(|(_, batch)| batch).collect()
    }

    /// Every batch with the instant it was sent.
    pub(crate) fn sent(&self) -> Vec<(Instant, Vec<ProbeSpec>)> {
        self.log.lock().expect("log lock").clone()
    }

    /// Every probe sent so far, in order.
    pub(crate) fn probes(&self) -> Vec<ProbeSpec> {
        self.batches().concat()
    }

    /// Probes sent with `ttl`.
    pub(crate) fn sent_at(&self, ttl: u8) -> usize {
        self.probes()
            .iter()
            .filter(|probe| probe.ttl == ttl)
            .count()
    }
}

impl<F: Fn(ProbeSpec, usize) -> ProbeOutcome + Send + Sync> Prober for FakeNetwork<F> {
    fn one_first_hop(&self) -> bool {
        self.one_first_hop
    }

    async fn send_batch(&self, probes: &[ProbeSpec]) -> Result<Vec<(ProbeSpec, ProbeOutcome)>> {
        self.exchange(probes, None).await
    }

    async fn send_batch_within(
        &self,
        probes: &[ProbeSpec],
        within: Within,
    ) -> Result<Vec<(ProbeSpec, ProbeOutcome)>> {
        self.exchange(probes, Some(within)).await
    }
}

impl<F: Fn(ProbeSpec, usize) -> ProbeOutcome + Send + Sync> FakeNetwork<F> {
    async fn exchange(
        &self,
        probes: &[ProbeSpec],
        within: Option<Within>,
    ) -> Result<Vec<(ProbeSpec, ProbeOutcome)>> {
        let mut outcomes: Vec<(ProbeSpec, ProbeOutcome)> = {
            let mut log = self.log.lock().expect("log lock");
            let before = log.iter().map(|(_, batch)| batch.len()).sum::<usize>();
            let outcomes = probes
                .iter()
                .enumerate()
                .map(|(i, &probe)| (probe, (self.route)(probe, before + i)))
                .collect();
            log.push((Instant::now(), probes.to_vec()));
            if let Some((batches, stop)) = &self.stop_after
                && log.len() >= *batches
            {
                stop.store(true, Ordering::Relaxed);
            }
            outcomes
        };
        if let Some(enough) = within.map(|within| within.enough) {
            give_up_after(&mut outcomes, enough);
        }
        if let Some(timeout) = self.timeout {
            let start = Instant::now();
            let answered = outcomes
                .iter()
                .filter(|(_, outcome)| !matches!(outcome, ProbeOutcome::Lost))
                .count();
            let rtts = outcomes.iter().filter_map(|(_, outcome)| outcome.rtt());
            let slowest = rtts.clone().max().unwrap_or(ANSWER_TIME);
            let hops = rtts.count();
            let enough = within.is_some_and(|within| hops >= within.enough);
            let end = if answered == outcomes.len() || enough {
                start + slowest
            } else {
                let mut wait = Wait::new(start, timeout);
                if let Some(within) = within {
                    wait = wait.within(within);
                }
                if answered > 0 {
                    wait.answered(start + slowest, slowest);
                }
                wait.until()
            };
            tokio::time::sleep_until(end).await;
        }
        Ok(outcomes)
    }
}

/// As the engine ends a batch once it has `enough` answers: the answers
/// slower than the `enough`-th fastest are lost, bar those as fast.
fn give_up_after(outcomes: &mut [(ProbeSpec, ProbeOutcome)], enough: usize) {
    let mut rtts: Vec<Duration> = outcomes
        .iter()
        .filter_map(|(_, outcome)| outcome.rtt())
        .collect();
    rtts.sort();
    let Some(&last) = enough.checked_sub(1).and_then(|index| rtts.get(index)) else {
        return;
    };
    for (_, outcome) in outcomes {
        if outcome.rtt().is_some_and(|rtt| rtt > last) {
            *outcome = ProbeOutcome::Lost;
        }
    }
}
