//! The `live` mode of the command line: its options, and a run of it
//! (discovery, then monitoring shown in the terminal or reported).

mod args;
mod run;
mod terminal;

pub use args::{LiveArgs, LiveJob, LiveOutput};
pub use run::run_live;
