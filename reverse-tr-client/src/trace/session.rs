//! One discovery's probing session: the prober, the trace being built,
//! the random source of new flows and when each TTL was last probed.
//! Single-path steps ([`discovery`](crate::trace::discovery)) and multipath
//! steps ([`mda`](crate::trace::mda)) both send through it.

use std::{
    net::IpAddr,
    sync::atomic::{AtomicBool, Ordering},
};

use log::{Level, debug, info, log_enabled, warn};
use rand::rngs::StdRng;
use tokio::time::Instant;

use crate::{
    trace::Result,
    trace::graph::Trace,
    trace::probe::{ProbeOutcome, ProbeSpec, Prober},
    trace::reprobe::LastSent,
};

/// The probing state of one discovery in progress.
pub(crate) struct Session<'a, P> {
    prober: &'a P,
    stop: &'a AtomicBool,
    pub(crate) rng: StdRng,
    pub(crate) trace: Trace,
    pub(crate) last_sent: LastSent,
}

impl<'a, P: Prober> Session<'a, P> {
    /// A session probing from `root` through `prober`; `rng` draws the
    /// multipath flows (tests seed it).
    pub(crate) fn new(prober: &'a P, root: IpAddr, stop: &'a AtomicBool, rng: StdRng) -> Self {
        Self {
            prober,
            stop,
            rng,
            trace: Trace::new(root),
            last_sent: LastSent::default(),
        }
    }

    /// The hop probed with `ttl`, if there is one yet.
    pub(crate) fn hop_index(&self, ttl: u8) -> Option<usize> {
        self.trace.hops().iter().position(|hop| hop.ttl == ttl)
    }

    /// Sends one batch of probes, most with the TTL of `hop`, and records
    /// each answer at the hop of its probe's TTL. Returns the probes that
    /// were answered. Once `stop` is set nothing more is sent and the trace
    /// is flagged as interrupted.
    pub(crate) async fn send(
        &mut self,
        hop: usize,
        probes: &[ProbeSpec],
    ) -> Result<Vec<ProbeSpec>> {
        if self.stop.load(Ordering::Relaxed) {
            self.trace.set_interrupted();
            return Ok(Vec::new());
        }
        self.last_sent.note(probes, Instant::now());
        let outcomes = self.prober.send_batch(probes).await?;
        self.log_batch(hop, &outcomes);
        let mut answered = Vec::new();
        for (probe, outcome) in outcomes {
            let at = self.hop_index(probe.ttl).unwrap_or(hop);
            self.trace.count_probes(
                at,
                1,
                u32::from(matches!(outcome, ProbeOutcome::Answered { .. })),
            );
            match outcome {
                ProbeOutcome::Answered { hop: address, rtt } => {
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
        Ok(answered)
    }

    /// At debug level, one line per batch: the root, the TTL and each
    /// probe's flow with what answered it (`*` lost, `!` refused), in the
    /// order sent. `cargo xtask bench` reads these lines to replay the
    /// stopping rule on the flows a run used and the branches they took.
    fn log_batch(&self, hop: usize, outcomes: &[(ProbeSpec, ProbeOutcome)]) {
        if !log_enabled!(Level::Debug) {
            return;
        }
        let probes: Vec<String> = outcomes
            .iter()
            .map(|(probe, outcome)| match outcome {
                ProbeOutcome::Answered { hop: address, .. } => format!("{}={address}", probe.flow),
                ProbeOutcome::Lost => format!("{}=*", probe.flow),
                ProbeOutcome::Refused { .. } => format!("{}=!", probe.flow),
            })
            .collect();
        let root = self.trace[self.trace.root()]
            .address()
            .map_or_else(|| "*".to_owned(), |address| address.to_string());
        debug!(
            "batch from {root} at TTL {}: {}",
            self.trace.hop(hop).ttl,
            probes.join(" ")
        );
    }
}
