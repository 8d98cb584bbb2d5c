//! Runs of the per-flow jobs, `paths` and `fault`: the same probers as a
//! trace (forward flows in the source port towards a fixed port, reverse
//! flows in the server's destination port), both directions at once in a
//! two-way run, and their reports as text or JSON.

use std::{net::IpAddr, sync::Arc, sync::atomic::AtomicBool};

use reverse_tr_common::forward::FlowPlacement;

use crate::{
    Result,
    cli::run::{addresses, probers},
    cli::{Config, Job},
    output::{Layout, fault_json, render_fault, render_paths},
    trace::fault::{FaultReport, FaultSurvey, survey_faults},
    trace::graph::Direction,
    trace::net::Pacer,
    trace::paths::{PathTable, Survey, survey_paths},
    trace::probe::Prober,
};

/// What a job found in one direction.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    Paths(PathTable),
    Fault(FaultReport),
}

impl Report {
    fn interrupted(&self) -> bool {
        match self {
            Report::Paths(table) => table.interrupted,
            Report::Fault(report) => report.interrupted,
        }
    }
}

/// The reports of a run, forward first.
#[derive(Debug, Clone, PartialEq)]
pub struct Surveys(pub Vec<(Direction, Report)>);

impl Surveys {
    /// True if Ctrl-C cut a survey short.
    pub fn interrupted(&self) -> bool {
        self.0.iter().any(|(_, report)| report.interrupted())
    }

    /// The reports as `job` shows them: path tables in their layout, fault
    /// reports as text or as one JSON object.
    pub fn render(&self, job: &Job) -> Result<String> {
        if let Job::Fault { json: true, .. } = job {
            let reports: Vec<(Direction, &FaultReport)> = self
                .0
                .iter()
                .filter_map(|(direction, report)| match report {
                    Report::Fault(report) => Some((*direction, report)),
                    Report::Paths(_) => None,
                })
                .collect();
            return fault_json(&reports);
        }
        let layout = match job {
            Job::Paths { layout, .. } => *layout,
            Job::Trace | Job::Fault { .. } | Job::Live(_) => Layout::Horizontal,
        };
        let texts: Vec<String> = self
            .0
            .iter()
            .map(|(direction, report)| match report {
                Report::Paths(table) => render_paths(*direction, table, layout),
                Report::Fault(report) => render_fault(*direction, report),
            })
            .collect();
        Ok(texts.join("\n"))
    }
}

/// Runs the `paths` or `fault` job of `config` (nothing for a trace).
/// Setting `stop` ends it after the batches in flight.
pub async fn run_survey(config: &Config, stop: &AtomicBool) -> Result<Surveys> {
    let (task, port) = match &config.job {
        Job::Trace | Job::Live(_) => return Ok(Surveys(Vec::new())),
        Job::Paths { survey, port, .. } => (Task::Paths(survey), *port),
        Job::Fault { survey, port, .. } => (Task::Fault(survey), *port),
    };
    let (target, local) = addresses(config).await?;
    let pacer = Arc::new(Pacer::new(config.gap));
    let placement = FlowPlacement::SourcePort {
        destination_port: port,
    };
    let (forward_prober, reverse_prober) =
        probers(config, local, target, placement, &pacer).await?;
    let forward = async {
        match forward_prober {
            None => Ok(None),
            Some(prober) => survey(&prober, task, config, target, stop).await.map(Some),
        }
    };
    let reverse = async {
        match reverse_prober {
            None => Ok(None),
            Some(prober) => survey(&prober, task, config, local, stop).await.map(Some),
        }
    };
    let (forward, reverse) = tokio::try_join!(forward, reverse)?;
    let reports = [(Direction::Forward, forward), (Direction::Reverse, reverse)]
        .into_iter()
        .filter_map(|(direction, report)| Some((direction, report?)))
        .collect();
    Ok(Surveys(reports))
}

/// The survey of a job.
#[derive(Clone, Copy)]
enum Task<'a> {
    Paths(&'a Survey),
    Fault(&'a FaultSurvey),
}

/// `task` on one direction's prober, towards `destination`.
async fn survey<P: Prober>(
    prober: &P,
    task: Task<'_>,
    config: &Config,
    destination: IpAddr,
    stop: &AtomicBool,
) -> Result<Report> {
    match task {
        Task::Paths(survey) => survey_paths(prober, survey, destination, stop)
            .await
            .map(Report::Paths),
        Task::Fault(survey) => survey_faults(prober, survey, config.gap, destination, stop)
            .await
            .map(Report::Fault),
    }
}
