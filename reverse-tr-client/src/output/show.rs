//! What a trace run shows and leaves behind (§11.17 steps 7–8): the report
//! on stdout (text, or our JSON with `--json`), the statistics file
//! `<output>.json` with `-s`, and the graph `<output>.<format>` with `-f`/`-o`.
//! Notes naming written files go to stderr, so stdout stays the report.

use std::{collections::HashMap, net::IpAddr, path::PathBuf, time::SystemTime};

use crate::{
    Error, Result,
    cli::run::Traces,
    cli::{Config, Format},
    output::measurement::Measurement,
    output::report::Report,
    output::{Drawn, Route, render_classic, render_dot, render_html, render_text, write_graph},
    trace::discovery::Mode,
    trace::graph::{Direction, Trace},
    trace::merge::merge,
    write_stdout,
};

/// Prints the report of `traces` to stdout: the text report, with
/// `-f classic` the traceroute(8)-like view, or with `--json` the
/// [`Report`] of a run that started at `started`.
pub fn print_report(
    config: &Config,
    traces: &Traces,
    names: &HashMap<IpAddr, Vec<String>>,
    started: SystemTime,
) -> Result<()> {
    let text = if config.json {
        let report = Report::new(config, traces, names, started, SystemTime::now());
        report.to_json()? + "\n"
    } else if config.classic {
        let route = Route {
            target_name: &config.target,
            target: traces.target,
            local: traces.local,
            max_ttl: config.params.max_ttl,
            multipath: matches!(config.params.mode, Mode::MultiPath(_)),
        };
        render_classic(&traces.labelled(), &route, names)
    } else {
        render_text(&traces.labelled(), names)
    };
    write_stdout(&text)
}

/// With `-s`, writes the statistics file `<output>.json` from the unmerged
/// traces (§11.15).
pub fn store_json(
    config: &Config,
    traces: &Traces,
    names: &HashMap<IpAddr, Vec<String>>,
) -> Result<()> {
    if config.store_json {
        let path = Measurement::new(config, &traces.labelled(), names).store(&config.output)?;
        eprintln!("reverse-tr: statistics written to {path}");
    }
    Ok(())
}

/// With `-f`/`-o`, merges equal vertices (unless `--no-merge`) and draws
/// the graph to `<output>.<format>` (§11.13, §11.14).
pub fn draw(config: &Config, traces: &Traces, names: &HashMap<IpAddr, Vec<String>>) -> Result<()> {
    let Some(format) = config.graph else {
        return Ok(());
    };
    let labelled = traces.labelled();
    let merged: Vec<(Direction, Trace)> = labelled
        .iter()
        .map(|&(direction, trace)| {
            let trace = if config.merge {
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
    let path = if format == Format::Html {
        let path = PathBuf::from(format!("{}.html", config.output));
        let page = render_html(&format!("reverse-tr: {}", config.target), &drawn, names);
        std::fs::write(&path, page).map_err(|source| Error::Write {
            path: path.display().to_string(),
            source,
        })?;
        path
    } else {
        let Some(path) = write_graph(&render_dot(&drawn, names), format, &config.output)? else {
            return Ok(());
        };
        path
    };
    eprintln!("reverse-tr: graph written to {}", path.display());
    Ok(())
}
