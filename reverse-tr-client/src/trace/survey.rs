//! Runs of the per-flow jobs, `paths` and `fault`: the same probers as a
//! trace (forward flows in the source port towards a fixed port, reverse
//! flows in the server's destination port), both directions at once in a
//! two-way run.

use std::{net::IpAddr, sync::atomic::AtomicBool};

use crate::{
    trace::Result,
    trace::fault::{FaultReport, FaultSurvey, survey_faults},
    trace::graph::Direction,
    trace::paths::{PathTable, Survey, survey_paths},
    trace::probe::Prober,
    trace::run::{Probers, TraceConfig},
};

/// What a job found in one direction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SurveyReport {
    Paths(PathTable),
    Fault(FaultReport),
}

impl SurveyReport {
    fn interrupted(&self) -> bool {
        match self {
            SurveyReport::Paths(table) => table.interrupted,
            SurveyReport::Fault(report) => report.interrupted,
        }
    }
}

/// The reports of a run, forward first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Surveys(pub Vec<(Direction, SurveyReport)>);

impl Surveys {
    /// True if Ctrl-C cut a survey short.
    pub(crate) fn interrupted(&self) -> bool {
        self.0.iter().any(|(_, report)| report.interrupted())
    }
}

/// The survey of a job.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SurveyTask<'a> {
    Paths(&'a Survey),
    Fault(&'a FaultSurvey),
}

/// Runs `task` in each direction `probers` has, between `local` and
/// `target`, at the pace of `config`. Setting `stop` ends it after the
/// batches in flight.
pub(crate) async fn run_surveys(
    config: &TraceConfig,
    task: SurveyTask<'_>,
    probers: Probers,
    (local, target): (IpAddr, IpAddr),
    stop: &AtomicBool,
) -> Result<Surveys> {
    let forward = async {
        match probers.forward {
            None => Ok(None),
            Some(prober) => survey(&prober, task, config, target, stop).await.map(Some),
        }
    };
    let reverse = async {
        match probers.reverse {
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

/// `task` on one direction's prober, towards `destination`.
async fn survey<P: Prober>(
    prober: &P,
    task: SurveyTask<'_>,
    config: &TraceConfig,
    destination: IpAddr,
    stop: &AtomicBool,
) -> Result<SurveyReport> {
    match task {
        SurveyTask::Paths(survey) => survey_paths(prober, survey, destination, stop)
            .await
            .map(SurveyReport::Paths),
        SurveyTask::Fault(survey) => survey_faults(prober, survey, config.gap, destination, stop)
            .await
            .map(SurveyReport::Fault),
    }
}
