//! reverse-tr client library: forward, reverse and two-way traceroute over
//! UDP, TCP and ICMP, single-path and multipath (PROTOCOL.md §11).

mod error;
pub mod probe;

pub use error::{Error, Result};
