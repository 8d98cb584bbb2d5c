//! Library side of xtask: what the CLI tasks share. The network-namespace
//! lab they drive lives in its own crate (`reverse_tr_lab`), so the tests of
//! every crate can use it without depending on xtask.
//!
//! The CLI (`cargo xtask ...`, root needed):
//! - `lab up [--asymmetric] [--name N] [--wait] [--silent R,… --rate-limited
//!   R,… --loss R:P,… --reverse-loss R:P,…]` builds a lab and leaves it up (with `--wait`, until
//!   Ctrl-C or SIGTERM, then tears it down), its routers misbehaving as asked
//!   (see [`reverse_tr_lab::Conditions`]); `lab conditions [--name N] [flags]` replaces
//!   them on a lab that is up;
//! - `lab status [--name N]` pings both ways in both families, traces both
//!   ways and shows both diamond branches answer UDP and ICMP probes;
//! - `lab down [--name N | --all]` removes one lab or every lab of ours;
//! - `demo` runs our server and a two-way multipath trace in a fresh
//!   asymmetric lab, prints the report and tears everything down.
//! - `bench [--server] [--client] [--live] [--quick]` measures the
//!   server's per-packet costs, the client's in the lab and its live mode's
//!   pacing and cost, prints the tables and rewrites BENCHMARKS.md (see
//!   [`bench`]).
//! - `package` builds the Debian packages of the client and the server
//!   into `target/debian/` (see [`package`]).

pub mod bench;
pub mod demo;
mod error;
mod interrupt;
pub mod package;

pub use error::{Error, Result};
pub use interrupt::Interrupt;
