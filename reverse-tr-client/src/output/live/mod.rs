//! The outputs of live monitoring: the final tables as text, JSON and
//! CSV, one JSON line per cycle for collectors, and the terminal view.

mod csv;
mod json;
mod report;
mod rows;
mod tui;

pub use csv::render_csv;
pub use json::{snapshot_json, snapshot_line};
pub use report::render_report;
pub use rows::{Row, change_text, clock, host, millis, rows};
pub use tui::{Shown, ViewOptions, draw};
