//! The outputs of a trace: the text, classic, DOT/Graphviz, HTML and CSV
//! views, the JSON report, the reference's statistics file, submission to
//! a collector, alias files and the live views.

pub(crate) mod aliases;
mod classic;
mod csv;
mod dot;
mod error;
mod fault;
mod file;
mod format;
mod html;
pub(crate) mod live;
pub(crate) mod measurement;
mod paths;
pub(crate) mod report;
pub(crate) mod show;
mod stdout;
pub(crate) mod submit;
mod survey;
pub(crate) mod table;
mod text;

use std::{collections::HashMap, net::IpAddr};

/// Host names by address, from reverse DNS: the primary name first, then
/// the others.
pub(crate) type Names = HashMap<IpAddr, Vec<String>>;

pub(crate) use classic::{Route, render_classic};
pub(crate) use csv::render_csv;
pub(crate) use dot::{Drawn, render_dot};
pub use error::OutputError;
pub(crate) use error::Result;
pub(crate) use fault::{fault_json, render_fault};
pub(crate) use file::write_graph;
pub(crate) use format::{GraphFormat, View};
#[cfg(any(test, feature = "test-helpers"))]
pub use html::headless_chromium;
pub(crate) use html::render_html;
pub use measurement::Measurement;
pub(crate) use paths::{Layout, render_paths};
pub use report::{
    HopReport, ModeReport, MultipathReport, REPORT_VERSION, Report, TraceReport, VertexReport,
};
pub(crate) use show::{OutputConfig, Run};
pub(crate) use stdout::write_stdout;
pub use submit::{
    CA_VARIABLE, COLLECTOR_VARIABLE, Collector, PASSWORD_VARIABLE, Transmit, USER_VARIABLE,
};
pub(crate) use survey::{SurveyView, render_surveys};
pub(crate) use text::render_text;
