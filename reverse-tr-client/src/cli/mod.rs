//! The app: the command-line grammar and its validation, endpoints, name
//! resolution and reverse DNS, privileges, the progress line, and the runs
//! of a trace, of a survey and of live monitoring.

mod app;
mod args;
pub(crate) mod dns;
pub(crate) mod endpoints;
mod error;
pub(crate) mod live;
pub(crate) mod privileges;
pub(crate) mod progress;
pub(crate) mod resolve;
pub(crate) mod run;
mod usage;

pub use app::main;
pub use args::command;
pub(crate) use args::{Cli, Config, Job, LogLevel};
pub use dns::ReverseDns;
pub use error::{Error, Result};
