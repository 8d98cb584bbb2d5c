//! Fault isolation in ECMP networks, as fbtracert does it: many flows (one
//! per path ID of [`crate::trace::paths`]) probed at every TTL up to the target
//! for several rounds; a flow whose probes are answered up to hop N and
//! lost markedly more often after it crosses a faulty link or router
//! between hop N and hop N + 1.
//!
//! The rule (see [`suspect_split`]): for a split after TTL N, the probes at
//! TTLs ≤ N are "before" and those at TTLs > N "after". The split is
//! suspect when before ≥ 90 % answered, every TTL after N is answered less
//! often than before, the after ratio is at least 10 points lower, and a
//! one-sided two-proportion z-test says the drop is no accident (z ≥ 4,
//! p < 3·10⁻⁵, so a thousand flows of thirty TTLs raise about one false
//! alarm). Of several suspect splits of a flow the earliest is reported:
//! the losses of a faulty link go on at every later TTL, so a later split
//! counts lossy TTLs as "before" and may even score a larger z (measured
//! in the lab), while a split before the fault fails the rule because the
//! TTLs between it and the fault are answered as well as before. Destinations and routers that rate-limit their answers
//! lower every TTL from theirs on alike; the 90 % floor before the split
//! keeps a limiter early in the path from hiding behind it.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::{
    trace::Result,
    trace::paths::{Survey, path_flow, survey_paths},
    trace::probe::{ProbeOutcome, ProbeSpec, Prober},
};

/// Answered share the probes before a suspect split reach at least.
const BEFORE_MIN: f64 = 0.9;
/// Fewest percentage points (as a fraction) the after share is lower by.
const DROP_MIN: f64 = 0.1;
/// Smallest z of the two-proportion test for a suspect split.
const Z_MIN: f64 = 4.0;
/// Sending time each batch of rounds aims at: long enough that the wait
/// for late answers after it is a small part, short enough for Ctrl-C and
/// `--duration` to be timely.
const BATCH_SPAN: Duration = Duration::from_secs(1);

/// How long a fault survey probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rounds {
    Count(u32),
    For(Duration),
}

/// What a fault survey probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FaultSurvey {
    pub min_ttl: u8,
    pub max_ttl: u8,
    /// Successive silent TTLs that end the first pass (finding the distance).
    pub abort: u32,
    /// Flows 1..=flows (path IDs).
    pub flows: u16,
    pub rounds: Rounds,
}

/// Probes of one flow at one TTL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct HopCount {
    pub ttl: u8,
    pub sent: u32,
    pub received: u32,
    /// Addresses that answered, most answers first.
    pub addresses: Vec<IpAddr>,
}

/// One flow's counts, TTL by TTL up to its destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FlowCounts {
    pub flow: u16,
    pub hops: Vec<HopCount>,
}

/// A flow answered up to `last_good_ttl` and lost after it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Suspect {
    pub flow: u16,
    pub last_good_ttl: u8,
    /// The address answering at the last good TTL, if any did.
    pub last_good_hop: Option<IpAddr>,
    /// The address most often answering at the TTL after it, if any did.
    pub first_bad_hop: Option<IpAddr>,
    /// Answered share of the probes up to and after the split.
    pub before: f64,
    pub after: f64,
    pub z: f64,
}

/// Suspect flows that share their last good and first bad hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SuspectLink {
    pub last_good_hop: Option<IpAddr>,
    pub first_bad_hop: Option<IpAddr>,
    pub flows: Vec<u16>,
}

/// The outcome of a fault survey.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FaultReport {
    pub rounds: u32,
    pub flows: Vec<FlowCounts>,
    pub suspects: Vec<Suspect>,
    /// Ctrl-C ended the survey early.
    pub interrupted: bool,
}

impl FaultReport {
    /// Builds the report of `flows`, finding their suspects.
    pub(crate) fn new(rounds: u32, flows: Vec<FlowCounts>, interrupted: bool) -> Self {
        let suspects = flows.iter().filter_map(suspect_split).collect();
        Self {
            rounds,
            flows,
            suspects,
            interrupted,
        }
    }

    /// Suspects grouped by their (last good hop, first bad hop).
    pub(crate) fn links(&self) -> Vec<SuspectLink> {
        let mut links: BTreeMap<(Option<IpAddr>, Option<IpAddr>), Vec<u16>> = BTreeMap::new();
        for suspect in &self.suspects {
            links
                .entry((suspect.last_good_hop, suspect.first_bad_hop))
                .or_default()
                .push(suspect.flow);
        }
        links
            .into_iter()
            .map(|((last_good_hop, first_bad_hop), flows)| SuspectLink {
                last_good_hop,
                first_bad_hop,
                flows,
            })
            .collect()
    }
}

/// Sent and received totals of `hops`.
fn totals(hops: &[HopCount]) -> (u32, u32) {
    hops.iter().fold((0, 0), |(sent, received), hop| {
        (sent + hop.sent, received + hop.received)
    })
}

fn share(received: u32, sent: u32) -> f64 {
    if sent == 0 {
        0.0
    } else {
        f64::from(received) / f64::from(sent)
    }
}

/// The suspect split of a flow by the rule of the module documentation.
pub(crate) fn suspect_split(flow: &FlowCounts) -> Option<Suspect> {
    (1..flow.hops.len())
        .filter_map(|split| {
            let (before_hops, after_hops) = flow.hops.split_at(split);
            let (sent_before, received_before) = totals(before_hops);
            let (sent_after, received_after) = totals(after_hops);
            let before = share(received_before, sent_before);
            let after = share(received_after, sent_after);
            let consistent = after_hops
                .iter()
                .all(|hop| share(hop.received, hop.sent) < before);
            // Pooled two-proportion z statistic.
            let pooled = share(received_before + received_after, sent_before + sent_after);
            let spread = (pooled
                * (1.0 - pooled)
                * (1.0 / f64::from(sent_before) + 1.0 / f64::from(sent_after)))
            .sqrt();
            let z = (before - after) / spread;
            let last = before_hops.last()?;
            let suspect = before >= BEFORE_MIN
                && before - after >= DROP_MIN
                && consistent
                && z.is_finite()
                && z >= Z_MIN;
            suspect.then(|| Suspect {
                flow: flow.flow,
                last_good_ttl: last.ttl,
                last_good_hop: last.addresses.first().copied(),
                first_bad_hop: after_hops
                    .first()
                    .and_then(|hop| hop.addresses.first().copied()),
                before,
                after,
                z,
            })
        })
        .next()
}

/// Runs a fault survey towards `destination`: a path survey finds each
/// flow's distance, then rounds of every (flow, TTL ≤ distance) probe
/// follow, several rounds per batch so that about [`BATCH_SPAN`] of sending
/// (at `gap` between probes) shares one wait for late answers.
pub(crate) async fn survey_faults<P: Prober>(
    prober: &P,
    survey: &FaultSurvey,
    gap: Duration,
    destination: IpAddr,
    stop: &AtomicBool,
) -> Result<FaultReport> {
    let paths = Survey {
        min_ttl: survey.min_ttl,
        max_ttl: survey.max_ttl,
        abort: survey.abort,
        paths: survey.flows,
        probes: 1,
    };
    let table = survey_paths(prober, &paths, destination, stop).await?;
    let longest = table.paths.iter().map(|p| p.hops.len()).max().unwrap_or(0);
    // A flow that never reached the destination is probed as far as the longest.
    let round: Vec<ProbeSpec> = table
        .paths
        .iter()
        .flat_map(|path| {
            let length = path.length().unwrap_or(longest);
            (survey.min_ttl..).take(length).map(move |ttl| ProbeSpec {
                ttl,
                flow: path.flow,
            })
        })
        .collect();
    let per_batch = rounds_per_batch(round.len(), gap);
    let mut counts: BTreeMap<ProbeSpec, (u32, BTreeMap<IpAddr, u32>)> = round
        .iter()
        .map(|&probe| (probe, Default::default()))
        .collect();
    let start = Instant::now();
    let mut rounds = 0u32;
    let mut interrupted = table.interrupted;
    while !interrupted && !round.is_empty() {
        let batch = match survey.rounds {
            Rounds::Count(total) => per_batch.min(total - rounds),
            Rounds::For(span) => {
                if start.elapsed() >= span {
                    0
                } else {
                    per_batch
                }
            }
        };
        if batch == 0 {
            break;
        }
        let probes: Vec<ProbeSpec> = (0..batch).flat_map(|_| round.iter().copied()).collect();
        for (probe, outcome) in prober.send_batch(&probes).await? {
            let Some((sent, answers)) = counts.get_mut(&probe) else {
                continue;
            };
            *sent += 1;
            if let ProbeOutcome::Answered { hop, .. } = outcome {
                *answers.entry(hop).or_default() += 1;
            }
        }
        rounds += batch;
        interrupted = stop.load(Ordering::Relaxed);
    }
    let flows = (1..=survey.flows)
        .map(path_flow)
        .map(|flow| FlowCounts {
            flow,
            // Probes order by TTL first: each flow's hops come in TTL order.
            hops: counts
                .iter()
                .filter(|(probe, _)| probe.flow == flow)
                .map(|(probe, (sent, answers))| hop_count(probe.ttl, *sent, answers))
                .collect(),
        })
        .collect();
    Ok(FaultReport::new(rounds, flows, interrupted))
}

/// Rounds whose sending takes about [`BATCH_SPAN`], at least one.
fn rounds_per_batch(probes_per_round: usize, gap: Duration) -> u32 {
    let round = gap.saturating_mul(u32::try_from(probes_per_round).unwrap_or(u32::MAX));
    if round.is_zero() {
        return 1;
    }
    u32::try_from(BATCH_SPAN.as_nanos() / round.as_nanos())
        .unwrap_or(u32::MAX)
        .max(1)
}

fn hop_count(ttl: u8, sent: u32, answers: &BTreeMap<IpAddr, u32>) -> HopCount {
    let mut addresses: Vec<(&IpAddr, &u32)> = answers.iter().collect();
    addresses.sort_by(|a, b| b.1.cmp(a.1));
    HopCount {
        ttl,
        sent,
        received: answers.values().sum(),
        addresses: addresses.into_iter().map(|(address, _)| *address).collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::trace::fake_network::{FakeNetwork, answer, host};

    /// A flow over TTLs 1..=5 with `received[i]` of `sent` answered at TTL i + 1,
    /// hop i + 1 answering from 10.0.0.(i + 1).
    fn flow(sent: u32, received: [u32; 5]) -> FlowCounts {
        FlowCounts {
            flow: 7,
            hops: (1..)
                .zip(received)
                .map(|(ttl, received)| HopCount {
                    ttl,
                    sent,
                    received,
                    addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, ttl))],
                })
                .collect(),
        }
    }

    #[test]
    fn the_rule_flags_a_marked_consistent_drop_only() {
        let cases = [
            ("no loss", flow(40, [40; 5]), None),
            (
                "30 % lost after hop 2",
                flow(40, [40, 40, 28, 27, 29]),
                Some(2),
            ),
            (
                "30 % lost after hop 2, a later split scoring a larger z",
                flow(40, [40, 40, 34, 29, 24]),
                Some(2),
            ),
            (
                "lost from the destination on",
                flow(40, [40, 40, 39, 40, 12]),
                Some(4),
            ),
            ("too few probes to tell", flow(3, [3, 3, 2, 2, 2]), None),
            (
                "lossy before as after",
                flow(40, [30, 29, 28, 27, 29]),
                None,
            ),
            (
                "one lossy TTL, then fine",
                flow(40, [40, 40, 20, 40, 40]),
                None,
            ),
            (
                "a 5 % dip is no fault",
                flow(100, [100, 100, 95, 95, 95]),
                None,
            ),
        ];
        for (name, counts, last_good) in cases {
            let suspect = suspect_split(&counts);
            assert_eq!(
                suspect.as_ref().map(|s| s.last_good_ttl),
                last_good,
                "{name}: {suspect:?}"
            );
            if let Some(suspect) = suspect {
                let address = |ttl| Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, ttl)));
                assert_eq!(
                    suspect.last_good_hop,
                    address(suspect.last_good_ttl),
                    "{name}"
                );
                assert_eq!(
                    suspect.first_bad_hop,
                    address(suspect.last_good_ttl + 1),
                    "{name}"
                );
            }
        }
    }

    /// A diamond: odd flows through 10.0.0.2, whose link onwards loses
    /// every third probe; even ones through 10.0.0.3. The destination,
    /// 10.0.0.9, is at TTL 4.
    fn lossy_diamond(probe: ProbeSpec, sequence: usize) -> ProbeOutcome {
        let odd = probe.flow % 2 == 1;
        match (probe.ttl, odd) {
            (1, _) => answer(1, probe),
            (2, true) => answer(2, probe),
            (2, false) => answer(3, probe),
            (_, true) if sequence.is_multiple_of(3) => ProbeOutcome::Lost,
            (3, _) => answer(4, probe),
            _ => answer(9, probe),
        }
    }

    #[tokio::test]
    async fn a_survey_names_the_lossy_branch_and_no_other() {
        let network = FakeNetwork::new(lossy_diamond);
        let survey = FaultSurvey {
            min_ttl: 1,
            max_ttl: 10,
            abort: 3,
            flows: 4,
            rounds: Rounds::Count(60),
        };
        let report = survey_faults(
            &network,
            &survey,
            Duration::from_millis(10),
            host(9),
            &AtomicBool::new(false),
        )
        .await
        .expect("survey");
        assert_eq!(report.rounds, 60);
        let sent: Vec<u32> = report
            .flows
            .iter()
            .flat_map(|f| f.hops.iter().map(|h| h.sent))
            .collect();
        assert!(sent.iter().all(|&n| n == 60), "{sent:?}");
        let links = report.links();
        assert_eq!(
            links,
            [SuspectLink {
                last_good_hop: Some(host(2)),
                first_bad_hop: Some(host(4)),
                flows: vec![path_flow(1), path_flow(3)],
            }]
        );
        // Rounds share batches: at 10 ms a probe, 1 s of sending is several rounds.
        let round: usize = report.flows.iter().map(|f| f.hops.len()).sum();
        let last = network.batches().last().map_or(0, Vec::len);
        assert!(
            last > round && last.is_multiple_of(round),
            "{last} probes, {round} a round"
        );
    }
}
