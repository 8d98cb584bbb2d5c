//! Live monitoring (an mtr for both directions): the path of each
//! direction, discovered once, is probed vertex by vertex in cycles, each
//! router at most once a cycle; per vertex the loss and round-trip times
//! are kept, and path changes are followed as they happen.

mod monitor;
mod path;
mod stats;

pub(crate) use monitor::{Control, LiveSettings, MIN_INTERVAL, Snapshot, Watched, monitor};
#[cfg(test)]
pub(crate) use path::VANISH_AFTER;
pub(crate) use path::{Change, LivePath, LiveVertex, PathChange, VertexState};
