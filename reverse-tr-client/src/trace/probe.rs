//! The seam between discovery (which flows to probe at which TTL, §11.8–§11.10)
//! and the probing engines (forward raw-socket probes §11.4, reverse requests
//! §11.5). Discovery only ever sees [`Probe`]s going out and [`Outcome`]s
//! coming back, so single-path and multipath work the same in both directions.

use std::{future::Future, net::IpAddr, time::Duration};

use crate::Result;

/// One probe to send: the TTL it is sent with and the flow it travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Probe {
    pub ttl: u8,
    pub flow: u16,
}

/// What became of one probe.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A hop answered: its address and the round-trip time to it.
    Answered { hop: IpAddr, rtt: Duration },
    /// Nothing came back before the timeout.
    Lost,
    /// The server refused the request with an error state (reverse only);
    /// discovery records the hop as unanswered and reports the state.
    Refused { state: u8 },
}

/// Sends probes of one direction and collects their outcomes.
pub trait Prober: Send + Sync {
    /// Sends every probe of the batch (many in flight at once, within the
    /// configured rate) and waits until each has an outcome or timed out.
    /// The result holds exactly one entry per probe, in the order given.
    fn send_batch(
        &self,
        probes: &[Probe],
    ) -> impl Future<Output = Result<Vec<(Probe, Outcome)>>> + Send;
}
