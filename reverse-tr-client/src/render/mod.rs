//! Ways to show traces to people.

mod text;

pub use text::{render_text, render_text_within};
