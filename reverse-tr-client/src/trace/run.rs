//! A trace run (§11.17 steps 3–4), configured by a [`TraceConfig`]: the
//! probers of the directions asked for, and discovery in each, in a
//! two-way run both at the same time. Every batch of probes and its
//! outcomes go to an [`Observer`] the caller passes (a progress line, or
//! nothing), so the engine draws nothing itself.

use std::{
    future::Future,
    net::IpAddr,
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
};

use reverse_tr_common::{Family, ProbeProtocol, forward::FlowPlacement, policy::request_padding};

use crate::{
    trace::Result,
    trace::discovery::{Params, discover},
    trace::forward::{self, ForwardProber},
    trace::graph::{Direction, Trace},
    trace::net::Pacer,
    trace::probe::{ErrorState, ProbeOutcome, ProbeSpec, Prober, Within},
    trace::reverse::{self, ReverseProber, check_presence},
};

/// Which directions a run traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directions {
    Forward,
    Reverse,
    TwoWay,
}

/// How a run probes: its directions, the probes' protocol, the padding of
/// requests, the timing, and what each discovery probes.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceConfig {
    pub directions: Directions,
    pub protocol: ProbeProtocol,
    /// Zero octets appended to every request (§3.7).
    pub padding: u16,
    /// How long to wait for answers after the last probe of a batch.
    pub timeout: Duration,
    /// Gap between two probes sent.
    pub gap: Duration,
    /// The TTL range and abort apply to every job, the mode to traces.
    pub params: Params,
}

/// Sees every batch of probes a run sends, and their outcomes.
pub trait Observer: Send + Sync {
    /// `probes` are about to be sent in `direction`.
    fn sending(&self, direction: Direction, probes: &[ProbeSpec]);
    /// The outcomes of a batch sent in `direction`.
    fn outcomes(&self, direction: Direction, outcomes: &[(ProbeSpec, ProbeOutcome)]);
}

/// Observes nothing.
impl Observer for () {
    fn sending(&self, _: Direction, _: &[ProbeSpec]) {}
    fn outcomes(&self, _: Direction, _: &[(ProbeSpec, ProbeOutcome)]) {}
}

/// A prober whose batches `observer` sees as those of `direction`.
pub struct Observed<'o, P, O> {
    prober: P,
    observer: &'o O,
    direction: Direction,
}

impl<'o, P: Prober, O: Observer> Observed<'o, P, O> {
    pub fn new(prober: P, observer: &'o O, direction: Direction) -> Self {
        Self {
            prober,
            observer,
            direction,
        }
    }
}

impl<P: Prober, O: Observer> Observed<'_, P, O> {
    async fn observe(
        &self,
        probes: &[ProbeSpec],
        batch: impl Future<Output = Result<Vec<(ProbeSpec, ProbeOutcome)>>>,
    ) -> Result<Vec<(ProbeSpec, ProbeOutcome)>> {
        self.observer.sending(self.direction, probes);
        let outcomes = batch.await?;
        self.observer.outcomes(self.direction, &outcomes);
        Ok(outcomes)
    }
}

impl<P: Prober, O: Observer> Prober for Observed<'_, P, O> {
    fn one_first_hop(&self) -> bool {
        self.prober.one_first_hop()
    }

    async fn send_batch(&self, probes: &[ProbeSpec]) -> Result<Vec<(ProbeSpec, ProbeOutcome)>> {
        self.observe(probes, self.prober.send_batch(probes)).await
    }

    async fn send_batch_within(
        &self,
        probes: &[ProbeSpec],
        within: Within,
    ) -> Result<Vec<(ProbeSpec, ProbeOutcome)>> {
        self.observe(probes, self.prober.send_batch_within(probes, within))
            .await
    }
}

/// The probers of a run, one per direction traced.
pub struct Probers {
    pub forward: Option<ForwardProber>,
    pub reverse: Option<ReverseProber>,
}

impl Probers {
    /// Opens the raw sockets of the directions `config` traces between
    /// `local` and `target`, forward flows placed as `placement` says.
    pub fn open(
        config: &TraceConfig,
        local: IpAddr,
        target: IpAddr,
        placement: FlowPlacement,
        pacer: &Arc<Pacer>,
    ) -> Result<Self> {
        let forward = match config.directions {
            Directions::Reverse => None,
            _ => Some(forward::prober(
                local,
                target,
                config.protocol,
                placement,
                Arc::clone(pacer),
                config.timeout,
            )?),
        };
        let reverse = match config.directions {
            Directions::Forward => None,
            _ => Some(reverse::prober(
                local,
                target,
                config.protocol.number(Family::of(target)),
                // Never less than makes the request padded: a server on the
                // Internet serves unpadded requests (the reference client's)
                // from a small budget only (§10.1), and deployed reference
                // servers ignore padding.
                usize::from(config.padding).max(request_padding(
                    Family::of(target),
                    config.protocol.number(Family::of(target)),
                )),
                Arc::clone(pacer),
                config.timeout,
            )?),
        };
        Ok(Self { forward, reverse })
    }

    /// Checks for the server on TARGET when the reverse path is traced
    /// (§11.5.3).
    pub async fn check_presence(&self) -> Result<()> {
        match &self.reverse {
            Some(prober) => check_presence(prober).await,
            None => Ok(()),
        }
    }
}

/// What a run found.
#[derive(Debug)]
pub struct Traces {
    pub target: IpAddr,
    pub local: IpAddr,
    pub forward: Option<Trace>,
    pub reverse: Option<Trace>,
}

impl Traces {
    /// True if Ctrl-C cut a trace short.
    pub fn interrupted(&self) -> bool {
        self.all().any(Trace::interrupted)
    }

    /// The error states the server refused requests with, and how often.
    pub fn refusals(&self) -> impl Iterator<Item = (ErrorState, u32)> + '_ {
        self.reverse.iter().flat_map(|trace| {
            trace
                .refusals()
                .iter()
                .map(|(&state, &count)| (state, count))
        })
    }

    /// The traces with their directions, forward first.
    pub fn labelled(&self) -> Vec<(Direction, &Trace)> {
        let forward = self.forward.iter().map(|trace| (Direction::Forward, trace));
        forward
            .chain(self.reverse.iter().map(|trace| (Direction::Reverse, trace)))
            .collect()
    }

    fn all(&self) -> impl Iterator<Item = &Trace> {
        self.forward.iter().chain(self.reverse.iter())
    }
}

/// Discovers the graph of each direction `probers` has, between `local`
/// and `target`, as `config` says; `observer` sees every batch. Setting
/// `stop` ends discovery after the batches in flight; what was found is
/// returned, flagged as interrupted.
pub async fn run_with<O: Observer>(
    config: &TraceConfig,
    probers: Probers,
    (local, target): (IpAddr, IpAddr),
    stop: &AtomicBool,
    observer: &O,
) -> Result<Traces> {
    let params = &config.params;
    let forward = async {
        match probers.forward {
            None => Ok(None),
            Some(prober) => {
                let prober = Observed::new(prober, observer, Direction::Forward);
                discover(&prober, params, local, Some(target), stop)
                    .await
                    .map(Some)
            }
        }
    };
    let reverse = async {
        match probers.reverse {
            None => Ok(None),
            Some(prober) => {
                let prober = Observed::new(prober, observer, Direction::Reverse);
                discover(&prober, params, target, Some(local), stop)
                    .await
                    .map(Some)
            }
        }
    };
    // Both directions at once; the first error ends the run.
    let (forward, reverse) = tokio::try_join!(forward, reverse)?;
    Ok(Traces {
        target,
        local,
        forward,
        reverse,
    })
}
