//! What a trace run shows and leaves behind (§11.17 steps 7–8): the report
//! on stdout (text, classic, CSV, or our JSON with `--json`), the
//! statistics file `<output>.json` with `-s`, and the graph
//! `<output>.<format>` with `-f`/`-o`. Notes naming written files go to
//! stderr, so stdout stays the report.

use std::{path::PathBuf, time::SystemTime};

use crate::{
    output::OutputError,
    output::Result,
    output::measurement::Measurement,
    output::report::Report,
    output::write_stdout,
    output::{
        Drawn, GraphFormat, Names, Route, View, render_classic, render_csv, render_dot,
        render_html, render_text, write_graph,
    },
    trace::discovery::Mode,
    trace::graph::{Direction, Trace},
    trace::merge::merge,
    trace::run::{TraceConfig, Traces},
};

/// What a trace run prints and writes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutputConfig {
    /// Base name of output files (`-o`).
    pub base: String,
    /// The graph file's format, when one is to be written (`-f`, `-o`).
    pub graph: Option<GraphFormat>,
    /// `-s`: write `<output>.json`.
    pub store_json: bool,
    /// Merge equal vertices before rendering (not `--no-merge`).
    pub merge: bool,
    /// What to print on stdout: the text report, or with `-f classic`,
    /// `-f csv` or `--json` instead of it another view.
    pub view: View,
}

/// A finished trace run as the outputs show it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run<'a> {
    /// TARGET as given.
    pub target: &'a str,
    /// How it was probed.
    pub config: &'a TraceConfig,
    pub traces: &'a Traces,
    /// Host names of the addresses found (empty with `-n`).
    pub names: &'a Names,
}

/// Prints the report of `run` to stdout: the text report, with
/// `-f classic` the traceroute(8)-like view, with `-f csv` the hop table
/// as CSV, or with `--json` the [`Report`] of a run that started at
/// `started`.
pub(crate) fn print_report(output: &OutputConfig, run: Run<'_>, started: SystemTime) -> Result<()> {
    write_stdout(&report_text(output.view, run, started)?)
}

/// The report [`print_report`] prints.
fn report_text(view: View, run: Run<'_>, started: SystemTime) -> Result<String> {
    let Run {
        target,
        config,
        traces,
        names,
    } = run;
    Ok(match view {
        View::Json => {
            let report = Report::new(target, config, traces, names, started, SystemTime::now());
            report.to_json()? + "\n"
        }
        View::Classic => {
            let route = Route {
                target_name: target,
                target: traces.target,
                local: traces.local,
                max_ttl: config.params.max_ttl,
                multipath: matches!(config.params.mode, Mode::MultiPath(_)),
            };
            render_classic(&traces.labelled(), &route, names)
        }
        View::Csv => render_csv(&traces.labelled(), names)?,
        View::Text => render_text(&traces.labelled(), names),
    })
}

/// With `-s`, writes the statistics file `<output>.json` from the unmerged
/// traces (§11.15).
pub(crate) fn store_json(output: &OutputConfig, run: Run<'_>) -> Result<()> {
    if output.store_json {
        let measurement =
            Measurement::new(run.target, run.config, &run.traces.labelled(), run.names);
        let path = measurement.store(&output.base)?;
        eprintln!("reverse-tr: statistics written to {path}");
    }
    Ok(())
}

/// With `-f`/`-o`, merges equal vertices (unless `--no-merge`) and draws
/// the graph to `<output>.<format>` (§11.13, §11.14).
pub(crate) fn draw(output: &OutputConfig, run: Run<'_>) -> Result<()> {
    let Some(format) = output.graph else {
        return Ok(());
    };
    let (traces, names) = (run.traces, run.names);
    let labelled = traces.labelled();
    let merged: Vec<(Direction, Trace)> = labelled
        .iter()
        .map(|&(direction, trace)| {
            let trace = if output.merge {
                merge(trace)
            } else {
                trace.clone()
            };
            (direction, trace)
        })
        .collect();
    let drawn: Vec<Drawn<'_>> = merged
        .iter()
        .map(|(direction, trace)| Drawn {
            direction: *direction,
            trace,
            destination: match direction {
                Direction::Forward => traces.target,
                Direction::Reverse => traces.local,
            },
        })
        .collect();
    let path = if format == GraphFormat::Html {
        let path = PathBuf::from(format!("{}.html", output.base));
        let page = render_html(&format!("reverse-tr: {}", run.target), &drawn, names);
        std::fs::write(&path, page).map_err(|source| OutputError::Write {
            path: path.display().to_string(),
            source,
        })?;
        path
    } else {
        write_graph(&render_dot(&drawn, names), format, &output.base)?
    };
    eprintln!("reverse-tr: graph written to {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{
        cli::Cli,
        trace::fake_network::{host, trace},
    };

    /// The report a trace run of `args` prints for a two-hop forward trace.
    fn printed(args: &str) -> String {
        let words = std::iter::once("reverse-tr").chain(args.split_whitespace());
        let config = Cli::try_parse_from(words)
            .expect("command line")
            .config()
            .expect("config");
        let traces = Traces {
            target: host(2),
            local: host(100),
            forward: Some(trace(&[(&[(1, 1, 1)], 1), (&[(2, 1, 2)], 1)], true)),
            reverse: None,
        };
        let run = Run {
            target: &config.target,
            config: &config.trace,
            traces: &traces,
            names: &Names::new(),
        };
        report_text(config.output.view, run, SystemTime::now()).expect("rendered")
    }

    #[test]
    fn csv_view_prints_the_hop_table_instead_of_the_text_report() {
        let csv = printed("-f csv forward udp singlepath --flow 1 192.0.2.1");
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some(
                "direction,ttl,address,names,answers,rtt_min_ms,rtt_avg_ms,rtt_max_ms,\
                 flows,hop_sent,hop_answered,destination"
            )
        );
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 2, "{csv}");
        assert!(rows[0].starts_with("forward,1,10.0.0.1,"), "{csv}");
        assert!(rows[1].starts_with("forward,2,10.0.0.2,"), "{csv}");
        assert!(rows[1].ends_with(",true"), "{csv}");
        let text = printed("forward udp singlepath --flow 1 192.0.2.1");
        assert!(!text.starts_with("direction,"), "{text}");
    }
}
