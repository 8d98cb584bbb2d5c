//! reverse-tr client library: forward, reverse and two-way traceroute over
//! UDP, TCP and ICMP, single-path and multipath (PROTOCOL.md §11).
//!
//! Three parts, dependencies pointing one way: the app (`cli`: the
//! command line, endpoints, DNS, progress, exit statuses) uses the outputs
//! (`output`: text, classic, DOT, HTML, CSV, JSON report, statistics file,
//! submission, alias files), which use the engine (`trace`: probing,
//! discovery, the graph, path tables, fault analysis, the network layer).
//! The modules are private; what follows is the API.

#![warn(unreachable_pub)]

mod cli;
mod output;
mod trace;

/// The app: the `reverse-tr` command, its grammar (for man pages and
/// completions), its errors and its reverse DNS.
pub use cli::{Error, Result, ReverseDns, command, main};
/// Headless Chromium as the tests of the HTML page run it.
#[cfg(any(test, feature = "test-helpers"))]
pub use output::headless_chromium;
/// The outputs: the JSON report (`--json`), the statistics file (`-s`),
/// submission to a collector (`--transmit`), and their errors.
pub use output::{
    CA_VARIABLE, COLLECTOR_VARIABLE, Collector, HopReport, Measurement, ModeReport,
    MultipathReport, OutputError, PASSWORD_VARIABLE, REPORT_VERSION, Report, TraceReport, Transmit,
    USER_VARIABLE, VertexReport,
};
/// The engine: a trace run configured by a [`TraceConfig`], its batches
/// reported to an [`Observer`], and what it finds.
pub use trace::{
    Algorithm, Direction, Directions, ErrorState, Hop, Mode, MultipathSettings, Observed, Observer,
    Pacer, Params, ProbeOutcome, ProbeSpec, Prober, Probers, RttSummary, Trace, TraceConfig,
    TraceError, Traces, Vertex, VertexId, VertexKind, discover, run_with,
};
