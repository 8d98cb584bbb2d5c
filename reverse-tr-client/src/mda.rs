//! Multipath discovery (PROTOCOL.md §11.10, a Diamond-Miner style MDA):
//! how many flows a hop needs, sending them in bursts with retries, and one
//! hop step that keeps sending until the stopping points are met.

use std::collections::BTreeSet;

use log::warn;
use rand::{SeedableRng, rngs::StdRng};

use crate::{
    Result,
    discovery::Discovery,
    flows::{FLOW_RANGE, FlowStream},
    graph::Trace,
    probe::{Probe, Prober},
};

/// `n(k)` of §11.10.1: flows that must cross a vertex so that, if it
/// balances over `k` equally likely successors, all `k` are seen with
/// probability at least `1 − confidence`.
pub fn stopping_point(successors: usize, confidence: f64) -> usize {
    if successors <= 1 {
        return 0;
    }
    let k = successors as f64;
    ((confidence / k).ln() / ((k - 1.0) / k).ln()).ceil() as usize
}

/// `needed(hop)` of §11.10.2: flows the hop pair needs in total, assuming
/// every vertex has one successor more than seen so far and scaling by the
/// share of the flows each vertex receives. Exact integer arithmetic, so a
/// share like 3/10 needs 20 flows for n = 6, not a rounding error more.
pub fn needed(trace: &Trace, hop: usize, confidence: f64) -> usize {
    let total = trace.hop_flows(hop).len();
    trace
        .hop(hop)
        .vertices
        .iter()
        .map(|&id| {
            let vertex = &trace[id];
            let n = stopping_point(vertex.successors.len().max(1) + 1, confidence);
            if vertex.flows.is_empty() {
                n
            } else {
                (n * total).div_ceil(vertex.flow_count())
            }
        })
        .max()
        .unwrap_or(0)
}

/// The settings of [`Mode::MultiPath`](crate::discovery::Mode::MultiPath).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub confidence: f64,
    pub retry: u32,
    pub min_burst: usize,
    pub max_burst: usize,
    pub single_vertex_opt: bool,
}

impl<P: Prober> Discovery<'_, P> {
    /// One hop step of §11.10.5: probe `next` with batches of flows until
    /// `needed(hop)` is met or a batch adds no link.
    pub(crate) async fn multipath_step(
        &mut self,
        hop: usize,
        next: usize,
        settings: Settings,
    ) -> Result<()> {
        let mut stream = FlowStream::new(
            &self.trace.hop_flows(hop),
            FLOW_RANGE,
            StdRng::from_rng(&mut self.rng),
        );
        let mut sent = 0;
        loop {
            let target = needed(&self.trace, hop, settings.confidence);
            if target <= sent {
                break;
            }
            let batch: Vec<u16> = stream.by_ref().take(target - sent).collect();
            if batch.len() < target - sent {
                warn!(
                    "no more flows to probe TTL {} with",
                    self.trace.hop(next).ttl
                );
            }
            sent = target;
            self.send_flows(next, batch, settings).await?;
            if !self.trace.interrupted() {
                self.locate_missing(hop, next, settings).await?;
            }
            let links = self.trace.connect(hop, next);
            if self.trace.interrupted() {
                break;
            }
            if links == 0 {
                warn!(
                    "no more links found towards TTL {}",
                    self.trace.hop(next).ttl
                );
                break;
            }
        }
        Ok(())
    }

    /// Flows that reached `next` but were never seen at `hop` crossed some
    /// vertex of `hop`: find out which, or attribute them when there is
    /// only one candidate.
    async fn locate_missing(&mut self, hop: usize, next: usize, settings: Settings) -> Result<()> {
        let known = self.trace.hop_flows(hop);
        let missing: Vec<u16> = self
            .trace
            .hop_flows(next)
            .difference(&known)
            .copied()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let Some(first) = self.trace.first(hop) else {
            return Ok(());
        };
        if self.trace.hop(hop).vertices.len() > 1 {
            return self.send_flows(hop, missing, settings).await;
        }
        if self.trace.hop(hop).ttl == 0 {
            // The root sent them itself.
            self.trace.vertex_mut(first).flows.extend(missing);
        } else if settings.single_vertex_opt {
            self.trace.vertex_mut(first).shadow_flows.extend(missing);
        } else {
            self.send_flows(hop, missing.clone(), settings).await?;
            let known = self.trace.hop_flows(hop);
            self.trace
                .vertex_mut(first)
                .shadow_flows
                .extend(missing.into_iter().filter(|flow| !known.contains(flow)));
        }
        Ok(())
    }

    /// `send_flows` of §11.10.4: each flow tried at most `retry + 1` times,
    /// in pieces that double from `min_burst` up to `max_burst` while every
    /// probe of a full piece is answered and fall back after any loss. Each
    /// piece goes out as one batch, all of it in flight at once.
    async fn send_flows(&mut self, hop: usize, flows: Vec<u16>, settings: Settings) -> Result<()> {
        let ttl = self.trace.hop(hop).ttl;
        let mut chunk = settings.min_burst;
        let mut pending = flows;
        for _ in 0..=settings.retry {
            let mut answered = BTreeSet::new();
            let mut start = 0;
            while start < pending.len() && !self.trace.interrupted() {
                let end = pending.len().min(start + chunk);
                let probes: Vec<Probe> = pending[start..end]
                    .iter()
                    .map(|&flow| Probe { ttl, flow })
                    .collect();
                let got = self.send(hop, &probes).await?;
                chunk = if got.len() == chunk {
                    chunk.saturating_mul(2).min(settings.max_burst)
                } else {
                    settings.min_burst
                };
                answered.extend(got);
                start = end;
            }
            pending.retain(|flow| !answered.contains(flow));
            if pending.is_empty() || self.trace.interrupted() {
                return Ok(());
            }
        }
        warn!(
            "{} flows at TTL {ttl} unanswered after {} retries",
            pending.len(),
            settings.retry
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::atomic::AtomicBool, time::Duration};

    use rand::rngs::StdRng;

    use super::*;
    use crate::{
        discovery::{Discovery, Mode, Params},
        fake_network::{FakeNetwork, answer, host},
        graph::VertexId,
        probe::Outcome,
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

    #[test]
    fn fresh_root_needs_n_2() {
        let trace = Trace::new(host(100));
        assert_eq!(needed(&trace, 0, 0.05), 6);
    }

    #[test]
    fn root_with_two_successors_needs_n_3() {
        let mut trace = Trace::new(host(100));
        let next = trace.push_hop(1);
        for flow in 1..=6 {
            trace.record(next, host(1 + u8::from(flow > 3)), flow, RTT);
        }
        let root = trace.root();
        trace.vertex_mut(root).flows.extend(1..=6);
        assert_eq!(trace.connect(0, next), 2);
        assert_eq!(needed(&trace, 0, 0.05), 11);
    }

    #[test]
    fn needed_scales_by_share_of_flows() {
        for (vertices, expected) in [
            // §11.10.5: A 8 of 10 flows needs 8, B 2 of 10 needs 30.
            (
                &[(1, &[1, 2, 3, 4, 5, 6, 7, 8][..], 1), (2, &[9, 10][..], 1)][..],
                30,
            ),
            // Exact arithmetic: 6 / (3/10) is 20, not 21.
            (
                &[(1, &[1, 2, 3, 4, 5, 6, 7][..], 1), (2, &[8, 9, 10][..], 1)][..],
                20,
            ),
            // Two successors seen: assume a third, n(3) = 11.
            (&[(1, &[1, 2, 3, 4][..], 2)][..], 11),
            // No successor seen yet counts as one.
            (&[(1, &[1, 2, 3, 4][..], 0)][..], 6),
        ] {
            let (trace, hop) = hop_of(vertices);
            assert_eq!(needed(&trace, hop, 0.05), expected, "{vertices:?}");
        }
    }

    #[test]
    fn black_holes_count_with_full_share() {
        let (mut trace, hop) = hop_of(&[(1, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 1)]);
        let silent = trace.push_hop(3);
        trace.add_black_holes(hop + 1, silent);
        let hole: VertexId = trace.first(silent).expect("black hole");
        assert!(trace[hole].is_black_hole());
        assert_eq!(needed(&trace, silent, 0.01), 8);
    }

    fn settings(retry: u32, min_burst: usize, max_burst: usize) -> Settings {
        Settings {
            confidence: 0.05,
            retry,
            min_burst,
            max_burst,
            single_vertex_opt: false,
        }
    }

    /// Runs `send_flows` for `flows` at TTL 1 and returns the batch sizes.
    async fn burst_sizes<F>(
        network: &FakeNetwork<F>,
        settings: Settings,
        flows: Vec<u16>,
    ) -> Vec<usize>
    where
        F: Fn(Probe, usize) -> Outcome + Send + Sync,
    {
        let stop = AtomicBool::new(false);
        // Only `run` reads the parameters; `send_flows` takes the settings.
        let params = Params {
            min_ttl: 1,
            max_ttl: 1,
            abort: 3,
            mode: Mode::SinglePath { flow: 1, probes: 1 },
        };
        let mut discovery =
            Discovery::new(network, &params, host(100), &stop, StdRng::seed_from_u64(1));
        let hop = discovery.trace.push_hop(1);
        discovery
            .send_flows(hop, flows, settings)
            .await
            .expect("fake network");
        network.batches().iter().map(Vec::len).collect()
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
                Outcome::Lost
            } else {
                answer(1, probe)
            }
        });
        let sizes = burst_sizes(&network, settings(3, 2, 16), (1..=20).collect()).await;
        assert_eq!(sizes, [2, 4, 2, 4, 8, 1]);
        assert_eq!(network.batches()[5], [Probe { ttl: 1, flow: 6 }]);
    }

    #[tokio::test]
    async fn silent_flows_are_tried_retry_plus_one_times() {
        let network = FakeNetwork::new(|_, _| Outcome::Lost);
        let sizes = burst_sizes(&network, settings(2, 20, 500), (1..=6).collect()).await;
        assert_eq!(sizes, [6, 6, 6]);
    }
}
