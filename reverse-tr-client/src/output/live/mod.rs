//! The outputs of live monitoring: the final tables as text, JSON and
//! CSV, one JSON line per cycle for collectors, and the terminal view.

mod csv;
mod json;
mod report;
mod rows;
mod tui;

pub(crate) use csv::render_csv;
pub(crate) use json::{snapshot_json, snapshot_line};
pub(crate) use report::render_report;
pub(crate) use tui::{ViewOptions, draw};
