//! The app: the command-line grammar and its validation, endpoints, name
//! resolution and reverse DNS, privileges, the progress line, and the runs
//! of a trace, of a survey and of live monitoring.

mod app;
mod args;
pub mod dns;
pub mod endpoints;
mod error;
pub mod live;
pub mod privileges;
pub mod progress;
pub mod resolve;
pub mod run;

pub use app::main;
pub use args::{
    Cli, Config, DEFAULT_RATE, DirectionCommand, FaultArgs, Format, Job, LogLevel, ModeChoice,
    ModeCommand, Multipath, Options, PathsArgs, Protocol, ProtocolChoice, Singlepath, command,
};
pub use error::{Error, Result};
