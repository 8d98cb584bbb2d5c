//! The `live` mode of the command line: its options, and a run of it
//! (discovery, then monitoring shown in the terminal or reported).

mod args;
mod run;
mod terminal;

pub(crate) use args::{LiveArgs, LiveJob};
pub(crate) use run::run_live;
