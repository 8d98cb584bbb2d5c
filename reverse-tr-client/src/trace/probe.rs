//! The seam between discovery (which flows to probe at which TTL, §11.8–§11.10)
//! and the probing engines (forward raw-socket probes §11.4, reverse requests
//! §11.5). Discovery only ever sees [`ProbeSpec`]s going out and [`ProbeOutcome`]s
//! coming back, so single-path and multipath work the same in both directions.

use std::{cmp::Ordering, fmt, future::Future, net::IpAddr, time::Duration};

use reverse_tr_common::response::State;

use crate::trace::Result;

/// One probe to send: the TTL it is sent with and the flow it travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeSpec {
    pub ttl: u8,
    pub flow: u16,
}

/// What became of one probe.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeOutcome {
    /// A hop answered: its address and the round-trip time to it.
    Answered { hop: IpAddr, rtt: Duration },
    /// Nothing came back before the timeout.
    Lost,
    /// The server refused the request with an error state (reverse only);
    /// discovery records the hop as unanswered and reports the state.
    Refused { state: ErrorState },
}

impl ProbeOutcome {
    /// The round-trip time, if a hop answered.
    pub fn rtt(&self) -> Option<Duration> {
        match self {
            Self::Answered { rtt, .. } => Some(*rtt),
            Self::Lost | Self::Refused { .. } => None,
        }
    }
}

/// The error state a server refused a request with (§7.3): one of the
/// protocol's [`State`]s, or a code this client does not know (an error too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorState {
    Known(State),
    Unknown(u8),
}

impl ErrorState {
    /// The state's code on the wire.
    pub fn code(self) -> u8 {
        match self {
            Self::Known(state) => state as u8,
            Self::Unknown(code) => code,
        }
    }
}

impl From<u8> for ErrorState {
    fn from(code: u8) -> Self {
        State::try_from(code).map_or(Self::Unknown(code), Self::Known)
    }
}

impl Ord for ErrorState {
    fn cmp(&self, other: &Self) -> Ordering {
        self.code().cmp(&other.code())
    }
}

impl PartialOrd for ErrorState {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The server meaning of the state (§7.3).
impl fmt::Display for ErrorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let meaning = match self {
            Self::Known(State::InvalidTtl) => "invalid TTL",
            Self::Known(State::InvalidProtocol) => "protocol not supported",
            Self::Known(State::InvalidFlow) => "invalid flow",
            Self::Known(State::ExtensionRefused) => "extension not supported or not permitted",
            Self::Known(State::Success) | Self::Unknown(_) => {
                return write!(f, "unknown error state {}", self.code());
            }
        };
        write!(f, "{meaning} (state {})", self.code())
    }
}

/// How a batch to hops known to answer (a retry, flows in place of
/// refused ones) may end before every probe has its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Within {
    /// Nothing answered this long after the last probe: the rest are lost.
    pub patience: Duration,
    /// This many probes answered: the rest are not needed, and are not
    /// waited for (their outcome is lost).
    pub enough: usize,
}

/// Sends probes of one direction and collects their outcomes.
pub trait Prober: Send + Sync {
    /// Sends every probe of the batch (many in flight at once, within the
    /// configured rate) and waits until each has an outcome or timed out.
    /// The result holds exactly one entry per probe, in the order given.
    fn send_batch(
        &self,
        probes: &[ProbeSpec],
    ) -> impl Future<Output = Result<Vec<(ProbeSpec, ProbeOutcome)>>> + Send;

    /// Whether every probe leaves the root towards one and the same first
    /// hop, whatever its flow (checked on the host; false when unknown, as
    /// for a server's probes): the first hop then needs one probe, not the
    /// stopping point of a possible second vertex.
    fn one_first_hop(&self) -> bool {
        false
    }

    /// [`send_batch`](Self::send_batch) for probes to hops known to answer
    /// (a retry of lost probes, spare flows): it ends as [`Within`] says,
    /// not at the timeout. Probers without a clock of their own wait as
    /// `send_batch` does.
    fn send_batch_within(
        &self,
        probes: &[ProbeSpec],
        within: Within,
    ) -> impl Future<Output = Result<Vec<(ProbeSpec, ProbeOutcome)>>> + Send {
        let _ = within;
        self.send_batch(probes)
    }
}
