//! Ways to show traces to people.

mod dot;
mod fault;
mod file;
mod format;
mod paths;
mod table;
mod text;

pub use dot::{Drawn, render_dot};
pub use fault::{fault_json, render_fault};
pub use file::write_graph;
pub use paths::{Layout, render_paths};
pub use text::{render_text, render_text_within};
