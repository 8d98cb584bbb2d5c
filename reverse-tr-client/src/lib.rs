//! reverse-tr client library: forward, reverse and two-way traceroute over
//! UDP, TCP and ICMP, single-path and multipath (PROTOCOL.md §11).

pub mod discovery;
mod error;
#[cfg(test)]
mod fake_network;
mod flows;
pub mod graph;
pub mod mda;
pub mod probe;

pub use error::{Error, Result};
