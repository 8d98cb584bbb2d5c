//! reverse-tr client library: forward, reverse and two-way traceroute over
//! UDP, TCP and ICMP, single-path and multipath (PROTOCOL.md §11).
//!
//! Three parts, dependencies pointing one way: the app ([`cli`]) uses the
//! outputs ([`output`]), which use the engine ([`trace`]).

pub mod cli;
pub mod output;
pub mod trace;

pub use cli::main;
pub use cli::{Error, Result};
pub use output::write_stdout;
