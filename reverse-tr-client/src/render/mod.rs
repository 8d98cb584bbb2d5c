//! Ways to show traces to people.

mod classic;
mod csv;
mod dot;
mod fault;
mod file;
mod format;
mod html;
mod paths;
pub(crate) mod table;
mod text;

pub use classic::{Route, render_classic};
pub use csv::render_csv;
pub use dot::{Drawn, render_dot};
pub use fault::{fault_json, render_fault};
pub use file::write_graph;
pub use html::render_html;
pub use paths::{Layout, render_paths};
pub use text::{render_text, render_text_within};
