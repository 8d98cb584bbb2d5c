//! The reports of the per-flow jobs, `paths` and `fault`: path tables in
//! their layout, fault reports as text or as one JSON object.

use crate::{
    output::Result,
    output::{Layout, fault_json, render_fault, render_paths},
    trace::fault::FaultReport,
    trace::graph::Direction,
    trace::survey::{SurveyReport, Surveys},
};

/// How the reports of a job are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SurveyView {
    /// Path tables in `layout`, fault reports as text.
    Text(Layout),
    /// Fault reports as one JSON object (`fault --json`).
    FaultJson,
}

/// The reports of `surveys` as `view` shows them.
pub(crate) fn render_surveys(surveys: &Surveys, view: SurveyView) -> Result<String> {
    let layout = match view {
        SurveyView::FaultJson => {
            let reports: Vec<(Direction, &FaultReport)> = surveys
                .0
                .iter()
                .filter_map(|(direction, report)| match report {
                    SurveyReport::Fault(report) => Some((*direction, report)),
                    SurveyReport::Paths(_) => None,
                })
                .collect();
            return fault_json(&reports);
        }
        SurveyView::Text(layout) => layout,
    };
    let texts: Vec<String> = surveys
        .0
        .iter()
        .map(|(direction, report)| match report {
            SurveyReport::Paths(table) => render_paths(*direction, table, layout),
            SurveyReport::Fault(report) => render_fault(*direction, report),
        })
        .collect();
    Ok(texts.join("\n"))
}
