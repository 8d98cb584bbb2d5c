//! The reverse-traceroute server's loader: loads the eBPF program
//! ([`Server`]), attaches it to interfaces ([`attach()`]), reads its session
//! events ([`event`]) and counters. The daemon binary, the tests and the
//! benchmarks all go through it.

pub mod apply;
pub mod attach;
pub mod cli;
pub mod counters;
pub mod daemon;
pub mod error;
pub mod event;
pub mod local;
pub mod logger;
mod maps;
pub mod metrics;
pub mod policy;
mod privilege;
pub mod server;
pub mod systemd;
#[cfg(feature = "test-helpers")]
pub mod testing;

pub use attach::{Hook, attach, attach_with};
pub use error::{Error, Result};
pub use server::{Config, Run, Server};
