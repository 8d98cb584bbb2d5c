//! The outputs of a trace: the text, classic, DOT/Graphviz, HTML and CSV
//! views, the JSON report, the reference's statistics file, submission to
//! a collector, alias files and the live views.

pub mod aliases;
mod classic;
mod csv;
mod dot;
mod error;
mod fault;
mod file;
mod format;
mod html;
pub mod live;
pub mod measurement;
mod paths;
pub mod report;
pub mod show;
mod stdout;
pub mod submit;
mod survey;
pub(crate) mod table;
mod text;

use std::{collections::HashMap, net::IpAddr};

/// Host names by address, from reverse DNS: the primary name first, then
/// the others.
pub type Names = HashMap<IpAddr, Vec<String>>;

pub use classic::{Route, render_classic};
pub use csv::render_csv;
pub use dot::{Drawn, render_dot};
pub use error::{OutputError, Result};
pub use fault::{fault_json, render_fault};
pub use file::write_graph;
pub use format::{GraphFormat, View};
pub use html::render_html;
pub use paths::{Layout, render_paths};
pub use show::{OutputConfig, Run};
pub use stdout::write_stdout;
pub use submit::Transmit;
pub use survey::{SurveyView, render_surveys};
pub use text::{render_text, render_text_within};
