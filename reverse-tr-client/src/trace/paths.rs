//! Per-flow path tables, as the "Stockholm traceroute" tool traceflow
//! draws them: path ID n travels on flow [`path_flow`]`(n)` (forward, the
//! source port towards a fixed destination port, or the echo checksum;
//! reverse, the server's destination port), every path is probed at every
//! TTL, and the table tells how many distinct paths the flows took, which
//! are duplicates of one another and whether their lengths differ.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    sync::atomic::{AtomicBool, Ordering},
};

use crate::{
    trace::Result,
    trace::probe::{ProbeOutcome, ProbeSpec, Prober},
};

/// Flow of path ID 1 minus one; path n uses `PATH_FLOW_BASE + n`. Above the
/// well-known and registered ports a service might listen on.
pub(crate) const PATH_FLOW_BASE: u16 = 50_000;

/// The flow path ID `id` travels on.
pub(crate) fn path_flow(id: u16) -> u16 {
    PATH_FLOW_BASE.saturating_add(id)
}

/// What a path survey probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Survey {
    pub min_ttl: u8,
    pub max_ttl: u8,
    /// Successive TTLs without any answer after which the survey stops.
    pub abort: u32,
    /// Path IDs 1..=paths.
    pub paths: u16,
    /// Probes per path and TTL.
    pub probes: u16,
}

/// The addresses that answered one path at one TTL; empty if none did.
pub(crate) type Cell = BTreeSet<IpAddr>;

/// One path ID's hops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Path {
    pub id: u16,
    pub flow: u16,
    /// Cell of TTL `min_ttl + i` at index i, up to the destination or the
    /// last TTL probed.
    pub hops: Vec<Cell>,
    /// The destination answered this path (at its last TTL).
    pub reached: bool,
}

impl Path {
    /// Hops to the destination, if it answered.
    pub(crate) fn length(&self) -> Option<usize> {
        self.reached.then_some(self.hops.len())
    }
}

/// The result of a survey: every path ID's hops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathTable {
    pub min_ttl: u8,
    pub paths: Vec<Path>,
    /// Ctrl-C ended the survey early.
    pub interrupted: bool,
}

impl PathTable {
    /// For each path, the ID of the first earlier path with the same hops.
    pub(crate) fn duplicates(&self) -> Vec<Option<u16>> {
        let mut first: BTreeMap<&[Cell], u16> = BTreeMap::new();
        self.paths
            .iter()
            .map(|path| {
                let earlier = first.get(path.hops.as_slice()).copied();
                first.entry(&path.hops).or_insert(path.id);
                earlier
            })
            .collect()
    }

    /// How many different paths the flows took.
    pub(crate) fn unique(&self) -> usize {
        self.duplicates().iter().filter(|d| d.is_none()).count()
    }

    /// Path IDs by their length in hops, for the paths that reached the
    /// destination; more than one entry means paths of unequal length.
    pub(crate) fn lengths(&self) -> BTreeMap<usize, Vec<u16>> {
        let mut lengths: BTreeMap<usize, Vec<u16>> = BTreeMap::new();
        for path in &self.paths {
            if let Some(length) = path.length() {
                lengths.entry(length).or_default().push(path.id);
            }
        }
        lengths
    }
}

/// Probes path IDs 1..=`survey.paths` TTL by TTL, all paths of a TTL in one
/// batch, until every path reached `destination`, `survey.abort` TTLs in a
/// row went unanswered, or `survey.max_ttl`. Setting `stop` ends it after
/// the batch in flight.
pub(crate) async fn survey_paths<P: Prober>(
    prober: &P,
    survey: &Survey,
    destination: IpAddr,
    stop: &AtomicBool,
) -> Result<PathTable> {
    let mut paths: Vec<Path> = (1..=survey.paths)
        .map(|id| Path {
            id,
            flow: path_flow(id),
            hops: Vec::new(),
            reached: false,
        })
        .collect();
    let mut silent = 0;
    let mut interrupted = false;
    for ttl in survey.min_ttl..=survey.max_ttl {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let probes: Vec<ProbeSpec> = paths
            .iter()
            .filter(|path| !path.reached)
            .flat_map(|path| {
                (0..survey.probes).map(move |_| ProbeSpec {
                    ttl,
                    flow: path.flow,
                })
            })
            .collect();
        if probes.is_empty() {
            break;
        }
        let outcomes = prober.send_batch(&probes).await?;
        let mut answered = false;
        for path in paths.iter_mut().filter(|path| !path.reached) {
            let cell: Cell = outcomes
                .iter()
                .filter(|(probe, _)| probe.flow == path.flow)
                .filter_map(|(_, outcome)| match outcome {
                    ProbeOutcome::Answered { hop, .. } => Some(*hop),
                    ProbeOutcome::Lost | ProbeOutcome::Refused { .. } => None,
                })
                .collect();
            answered |= !cell.is_empty();
            path.reached = cell.contains(&destination);
            path.hops.push(cell);
        }
        silent = if answered { 0 } else { silent + 1 };
        if silent >= survey.abort {
            break;
        }
    }
    Ok(PathTable {
        min_ttl: survey.min_ttl,
        paths,
        interrupted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::fake_network::{FakeNetwork, answer, host, path_table as table};

    #[test]
    fn duplicates_point_at_the_first_path_with_the_same_hops() {
        let table = table(&[
            &["10.0.0.1", "10.0.0.2", "10.0.0.9"],
            &["10.0.0.1", "10.0.0.3", "10.0.0.9"],
            &["10.0.0.1", "10.0.0.2", "10.0.0.9"],
            &["10.0.0.1", "*", "10.0.0.9"],
            &["10.0.0.1", "10.0.0.3", "10.0.0.9"],
        ]);
        assert_eq!(table.duplicates(), [None, None, Some(1), None, Some(2)]);
        assert_eq!(table.unique(), 3);
    }

    #[test]
    fn lengths_group_the_paths_that_reached_the_destination() {
        let table = table(&[
            &["10.0.0.1", "10.0.0.9"],
            &["10.0.0.1", "10.0.0.3", "10.0.0.9"],
            &["10.0.0.1", "*", "*"],
            &["10.0.0.1", "10.0.0.9"],
        ]);
        assert_eq!(
            table.lengths(),
            BTreeMap::from([(2, vec![1, 4]), (3, vec![2])])
        );
    }

    /// A diamond: odd flows through 10.0.0.2, even ones through 10.0.0.3
    /// and one hop longer (via 10.0.0.4); the destination is 10.0.0.9.
    fn diamond(probe: ProbeSpec, _: usize) -> ProbeOutcome {
        let odd = probe.flow % 2 == 1;
        match (probe.ttl, odd) {
            (1, _) => answer(1, probe),
            (2, true) => answer(2, probe),
            (2, false) => answer(3, probe),
            (3, false) => answer(4, probe),
            _ => answer(9, probe),
        }
    }

    #[tokio::test]
    async fn a_survey_follows_each_path_to_the_destination_in_one_batch_per_ttl() {
        let network = FakeNetwork::new(diamond);
        let survey = Survey {
            min_ttl: 1,
            max_ttl: 15,
            abort: 3,
            paths: 4,
            probes: 2,
        };
        let table = survey_paths(&network, &survey, host(9), &AtomicBool::new(false))
            .await
            .expect("survey");
        let lengths: Vec<_> = table.paths.iter().map(Path::length).collect();
        // PATH_FLOW_BASE is even: path 1 is on an odd flow.
        assert_eq!(lengths, [Some(3), Some(4), Some(3), Some(4)]);
        assert_eq!(table.duplicates(), [None, None, Some(1), Some(2)]);
        assert_eq!(table.unique(), 2);
        let batches: Vec<usize> = network.batches().iter().map(Vec::len).collect();
        // Two probes per path; paths 1 and 3 stop after TTL 3.
        assert_eq!(batches, [8, 8, 8, 4]);
    }

    #[tokio::test]
    async fn a_survey_gives_up_after_abort_silent_ttls() {
        let network = FakeNetwork::new(|probe: ProbeSpec, _| match probe.ttl {
            1 => answer(1, probe),
            _ => ProbeOutcome::Lost,
        });
        let survey = Survey {
            min_ttl: 1,
            max_ttl: 15,
            abort: 3,
            paths: 2,
            probes: 1,
        };
        let table = survey_paths(&network, &survey, host(9), &AtomicBool::new(false))
            .await
            .expect("survey");
        assert_eq!(network.batches().len(), 4);
        assert!(table.paths.iter().all(|path| path.length().is_none()));
        assert!(table.lengths().is_empty());
    }
}
