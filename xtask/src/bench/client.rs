//! The client's figures: the real `reverse-tr` (release) in a fresh
//! symmetric lab against the real daemon (release), every direction and
//! mode in both families, `runs` times each; medians reported. How a run
//! is counted and timed: [`case`](super::case).

use std::{collections::BTreeMap, path::Path, time::Duration};

use reverse_tr_lab::{Direction, Family, Lab, LabConfig, topology::Topology};

use super::{
    Judged, Row, Section,
    case::{CONFIDENCE, Case, Measured, install_counters, run_once},
    measure::{Summary, status_kib},
    replay::stopping_point,
};
use crate::{
    Error, Result,
    demo::{Demo, Server},
};

/// Runs every case `runs` times in the clean lab, then every condition
/// `condition_runs` times (see [`conditions`](super::conditions)); the lab
/// and daemon are removed at the end.
pub fn run(workspace: &Path, runs: usize, condition_runs: usize) -> Result<Vec<Section>> {
    let demo = Demo::build_profile(workspace, true)?;
    let lab = Lab::up(LabConfig {
        asymmetric: false,
        name: None,
    })?;
    install_counters(&lab)?;
    let server = Server::start(
        &lab,
        &demo.binaries.join("reverse-tr-server"),
        &demo.output.join("bench-server.log"),
    )?;
    let client = demo.binaries.join("reverse-tr");
    let mut rows = Vec::new();
    let mut probe_rows = Vec::new();
    for family in Family::ALL {
        for directions in ["forward", "reverse", "two-way"] {
            for multipath in [false, true] {
                let case = Case {
                    directions,
                    multipath,
                    family,
                };
                let measured = (0..runs)
                    .map(|_| {
                        let measured = run_once(&lab, &client, case, &demo.output)?;
                        if measured.status.success() {
                            Ok(measured)
                        } else {
                            Err(Error::Bench(format!(
                                "{}: the client failed: {}",
                                case.name(),
                                measured.stderr.trim()
                            )))
                        }
                    })
                    .collect::<Result<Vec<_>>>()?;
                rows.push(cost_row(case, &measured));
                if multipath {
                    probe_rows.extend(probe_rows_of(case, &measured));
                }
            }
        }
    }
    let mut sections = super::conditions::run(&lab, &client, &demo.output, condition_runs)?;
    let daemon = server.pid();
    let rss = status_kib(Some(daemon), "VmRSS")?;
    let hwm = status_kib(Some(daemon), "VmHWM")?;
    server.stop()?;
    lab.down()?;
    rows.push(Row {
        case: "the daemon (release, 5,000 sessions) after every run above".into(),
        figure: format!("RSS {rss} KiB, peak {hwm} KiB"),
        target: None,
    });
    sections.splice(
        0..0,
        [
            Section {
                title: "Client: wall time, CPU and peak RSS (median of the runs), probes per vertex",
                rows,
            },
            Section {
                title: "Client: multipath probes per direction against the MDA stopping-point bound (ε = 0.05)",
                rows: probe_rows,
            },
        ],
    );
    Ok(sections)
}

fn median(values: impl Iterator<Item = Duration>) -> Duration {
    Summary::of(values.collect()).map_or(Duration::ZERO, |summary| summary.median)
}

fn cost_row(case: Case, measured: &[Measured]) -> Row {
    let wall = median(measured.iter().map(|m| m.wall));
    let cpu = median(measured.iter().map(|m| m.cpu));
    let mut rss: Vec<u64> = measured.iter().map(|m| m.max_rss_kib).collect();
    rss.sort_unstable();
    let per_vertex = measured
        .last()
        .map(|m| {
            m.probes
                .iter()
                .map(|(direction, (sent, shown))| {
                    format!(
                        "{direction} {sent} probes / {shown} vertices = {:.1}",
                        *sent as f64 / (*shown).max(1) as f64
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    Row {
        case: case.name(),
        figure: format!(
            "{:.3} s wall, {:.3} s CPU, {} KiB peak RSS; {per_vertex} (last run)",
            wall.as_secs_f64(),
            cpu.as_secs_f64(),
            rss.get(rss.len() / 2).copied().unwrap_or(0),
        ),
        target: case.target().map(|(limit, text)| Judged {
            text: text.into(),
            met: wall <= limit,
        }),
    }
}

/// Per direction of a multipath case: the probes of every run beside what
/// the stopping rule required on that run's split (met when no run sent
/// more), and the even-split bound, which no real split reaches.
fn probe_rows_of(case: Case, measured: &[Measured]) -> Vec<Row> {
    let topology = Topology { asymmetric: false };
    Direction::ALL
        .into_iter()
        .filter(|direction| case.traces(*direction))
        .map(|direction| {
            let bound = mda_bound(topology, direction, CONFIDENCE);
            let name = direction.name();
            let sent: Vec<u64> = measured
                .iter()
                .filter_map(|m| m.probes.get(name).map(|(sent, _)| *sent))
                .collect();
            let required: Vec<Option<usize>> = measured
                .iter()
                .map(|m| m.required.get(name).copied())
                .collect();
            let met = sent.len() == required.len()
                && sent.iter().zip(&required).all(|(sent, required)| {
                    required.is_some_and(|required| *sent <= required as u64)
                });
            let required: Vec<String> = required
                .iter()
                .map(|required| required.map_or_else(|| "?".to_owned(), |r| r.to_string()))
                .collect();
            Row {
                case: format!("{}: {name} probes", case.name()),
                figure: format!("{sent:?} (reference 51–89)"),
                target: Some(Judged {
                    text: format!(
                        "≤ [{}], the rule on each run's split ({bound} for an even split)",
                        required.join(", ")
                    ),
                    met,
                }),
            }
        })
        .collect()
}

/// The probes multipath discovery needs on the lab's true topology when it
/// stops as soon as the stopping points allow (§11.10): at each hop, for
/// every vertex of the hop before, `n(successors + 1)` flows must cross it
/// to rule out one more successor; with flows split evenly by ECMP, a
/// vertex that gets a share `s` of them needs `n / s` at the hop. A hop
/// costs the largest of these; the destination has no successors to rule
/// out.
fn mda_bound(topology: Topology, direction: Direction, confidence: f64) -> u64 {
    let mut level = BTreeMap::from([(direction.source(), 1.0_f64)]);
    let mut total = 0;
    while !level.is_empty() {
        let mut next = BTreeMap::new();
        let mut needed = 0;
        for (&host, &share) in &level {
            let successors = topology.next_hops(host, direction);
            if successors.is_empty() {
                continue;
            }
            let n = stopping_point(successors.len() + 1, confidence) as f64;
            needed = needed.max((n / share).ceil() as u64);
            for successor in successors {
                *next.entry(*successor).or_insert(0.0) += share / successors.len() as f64;
            }
        }
        total += needed;
        level = next;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_adds_the_stopping_points_hop_by_hop() {
        let (n2, n3) = (stopping_point(2, CONFIDENCE), stopping_point(3, CONFIDENCE));
        let symmetric = Topology { asymmetric: false };
        // r1, the diamond (n(3) from r1), r3 (n(2) through each branch, which
        // carries half the flows), r4, the destination.
        let expected = (n2 + n3 + 2 * n2 + n2 + n2) as u64;
        for direction in Direction::ALL {
            assert_eq!(mda_bound(symmetric, direction, CONFIDENCE), expected);
        }
        // Without the diamond on the way back, every hop is a single vertex.
        let asymmetric = Topology { asymmetric: true };
        assert_eq!(
            mda_bound(asymmetric, Direction::Reverse, CONFIDENCE),
            5 * n2 as u64
        );
    }
}
