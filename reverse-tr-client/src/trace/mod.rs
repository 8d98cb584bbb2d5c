//! The trace engine: probes and their answers, discovery (single-path and
//! multipath), flows, the graph of a trace and its merging, path tables and
//! fault analysis, live monitoring and the network layer. It knows nothing
//! of the command line or of the outputs.

#[cfg(test)]
mod conditions_tests;
pub mod discovery;
mod error;
#[cfg(test)]
pub(crate) mod fake_network;
pub mod fault;
pub(crate) mod flows;
pub mod forward;
pub mod graph;
pub mod live;
pub mod mda;
pub mod merge;
pub mod net;
pub mod paths;
pub mod probe;
mod reprobe;
pub mod reverse;
pub mod run;
mod session;
pub mod survey;

pub use error::{Result, TraceError};
