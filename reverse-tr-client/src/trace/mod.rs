//! The trace engine: probes and their answers, discovery (single-path and
//! multipath), flows, the graph of a trace and its merging, path tables and
//! fault analysis, live monitoring and the network layer. It knows nothing
//! of the command line or of the outputs.

#[cfg(test)]
mod conditions_tests;
pub(crate) mod discovery;
mod error;
#[cfg(test)]
pub(crate) mod fake_network;
pub(crate) mod fault;
pub(crate) mod flows;
pub(crate) mod forward;
pub(crate) mod graph;
pub(crate) mod live;
pub(crate) mod mda;
mod mda_lite;
pub(crate) mod merge;
pub(crate) mod net;
pub(crate) mod paths;
pub(crate) mod probe;
mod probed;
mod reprobe;
pub(crate) mod reverse;
pub(crate) mod run;
mod session;
pub(crate) mod survey;

pub use discovery::{Mode, Params, discover};
pub(crate) use error::Result;
pub use error::TraceError;
pub use graph::{Direction, Hop, RttSummary, Trace, Vertex, VertexId, VertexKind};
pub use mda::{Algorithm, MultipathSettings};
pub use net::Pacer;
pub use probe::{ErrorState, ProbeOutcome, ProbeSpec, Prober};
pub use run::{Directions, Observed, Observer, Probers, TraceConfig, Traces, run_with};
