//! Mode options of `live` and what they ask for.

use std::time::Duration;

use clap::Args;

use crate::{
    trace::discovery::Mode,
    trace::live::{LiveSettings, MIN_INTERVAL},
    trace::mda::MultipathSettings,
};

/// Cycles of a report when `--cycles` is not given (as mtr's 10).
const REPORT_CYCLES: u64 = 10;

/// Mode options of `live`.
#[derive(Debug, Args)]
pub(crate) struct LiveArgs {
    /// Monitor the path of this flow only (found single-path); by default
    /// every load-balanced branch (found multipath), each on one flow
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub flow: Option<u16>,
    /// No terminal view: run --cycles cycles, then print the tables (as
    /// `mtr --report`)
    #[arg(long)]
    pub report: bool,
    /// Cycles to run [default: 10 with --report, else until `q`]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub cycles: Option<u64>,
    /// Seconds from one cycle to the next, at least 1: every router is
    /// probed at most once a cycle and direction, within Linux's default
    /// ICMP error budget (about one per second)
    #[arg(long, value_name = "S", default_value = "1", value_parser = interval)]
    pub interval: Duration,
    /// Print the final tables as JSON (implies --report; fields in the README)
    #[arg(long, conflicts_with_all = ["csv", "jsonl"])]
    pub json: bool,
    /// Print the final tables as CSV, one line per vertex (implies --report)
    #[arg(long, conflicts_with = "jsonl")]
    pub csv: bool,
    /// Print the state after every cycle as one line of JSON, for
    /// collectors (implies --report)
    #[arg(long)]
    pub jsonl: bool,
    /// Host name or IP address
    pub target: String,
}

/// Where the live state goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LiveOutput {
    /// The terminal view, refreshed as cycles end.
    Terminal,
    /// The final tables as text.
    Text,
    Json,
    Csv,
    /// One JSON line per cycle.
    JsonLines,
}

/// A validated `live` command line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LiveJob {
    pub output: LiveOutput,
    pub settings: LiveSettings,
}

impl LiveArgs {
    /// The job, and how discovery finds the path(s) to monitor.
    pub(crate) fn job(&self) -> (LiveJob, Mode) {
        let output = match (self.json, self.csv, self.jsonl, self.report) {
            (true, ..) => LiveOutput::Json,
            (_, true, ..) => LiveOutput::Csv,
            (_, _, true, _) => LiveOutput::JsonLines,
            (_, _, _, true) => LiveOutput::Text,
            _ => LiveOutput::Terminal,
        };
        let cycles = match output {
            LiveOutput::Terminal => self.cycles,
            _ => Some(self.cycles.unwrap_or(REPORT_CYCLES)),
        };
        let mode = match self.flow {
            Some(flow) => Mode::SinglePath {
                flow,
                probes: 3,
                retry: 3,
            },
            // The defaults of `multipath`.
            None => Mode::MultiPath(MultipathSettings::default()),
        };
        let settings = LiveSettings {
            interval: self.interval,
            cycles,
        };
        (LiveJob { output, settings }, mode)
    }
}

/// Seconds, at least [`MIN_INTERVAL`].
fn interval(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    match Duration::try_from_secs_f64(value) {
        Ok(interval) if interval >= MIN_INTERVAL => Ok(interval),
        _ => Err(format!(
            "must be at least {} s (routers answer about once a second)",
            MIN_INTERVAL.as_secs()
        )),
    }
}
