//! reverse-tr client library: forward, reverse and two-way traceroute over
//! UDP, TCP and ICMP, single-path and multipath (PROTOCOL.md §11).

pub mod aliases;
pub mod cli;
#[cfg(test)]
mod conditions_tests;
pub mod discovery;
pub mod dns;
pub mod endpoints;
mod error;
#[cfg(test)]
mod fake_network;
pub mod fault;
mod flows;
pub mod forward;
pub mod graph;
pub mod live;
pub mod live_cli;
pub mod live_view;
pub mod mda;
pub mod measurement;
pub mod merge;
pub mod net;
pub mod output;
pub mod paths;
pub mod privileges;
pub mod probe;
pub mod progress;
pub mod render;
pub mod report;
mod reprobe;
pub mod resolve;
pub mod reverse;
pub mod run;
mod stdout;
pub mod submit;
pub mod survey;

pub use error::{Error, Result, state_meaning};
pub use stdout::write_stdout;
