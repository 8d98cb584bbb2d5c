//! Ways to show traces to people.

mod fault;
mod paths;
mod table;
mod text;

pub use fault::{fault_json, render_fault};
pub use paths::{Layout, render_paths};
pub use text::{render_text, render_text_within};
