//! The MDA stopping rule replayed on the flows one multipath run drew: the
//! fewest probes the rule (§11.10.1) allows on that run's split.
//!
//! The even-split bound (`mda_bound`) assumes the diamond's branches each
//! get exactly half of the flows; real hashing never splits 11 flows into
//! 6 and 6, so some flows beyond the stopping point of the vertex before
//! the diamond must be drawn until every branch has its own. How many
//! depends on where the run's flows landed, which the client's debug log
//! shows: one line per batch, `batch from ROOT at TTL T: FLOW=ADDRESS …`
//! (`*` lost, `!` refused).

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
};

/// `n(k)` of §11.10.1: the flows that must cross a vertex so that all of
/// `k` equally likely successors are seen with probability at least
/// `1 − confidence`. Computed here from the specification, not taken from
/// the client being measured.
pub fn stopping_point(successors: usize, confidence: f64) -> usize {
    let k = successors as f64;
    ((confidence / k).ln() / ((k - 1.0) / k).ln()).ceil() as usize
}

/// Per TTL, the flows in the order first sent there, each with the address
/// that answered it (`None`: never answered).
type Sent = BTreeMap<u8, Vec<(u16, Option<IpAddr>)>>;

/// The batches the log shows for the trace from `root`.
fn sent_from(log: &str, root: IpAddr) -> Sent {
    let prefix = format!("batch from {root} at TTL ");
    let mut sent = Sent::new();
    for line in log.lines() {
        let Some(rest) = line.split_once(&prefix).map(|(_, rest)| rest) else {
            continue;
        };
        let Some((ttl, probes)) = rest.split_once(": ") else {
            continue;
        };
        let Ok(ttl) = ttl.parse::<u8>() else {
            continue;
        };
        let flows = sent.entry(ttl).or_default();
        for probe in probes.split_whitespace() {
            let Some((flow, answer)) = probe.split_once('=') else {
                continue;
            };
            let Ok(flow) = flow.parse::<u16>() else {
                continue;
            };
            let answer = answer.parse().ok();
            match flows.iter_mut().find(|(known, _)| *known == flow) {
                // A retry that got an answer fills in a lost first try.
                Some((_, first)) => *first = first.or(answer),
                None => flows.push((flow, answer)),
            }
        }
    }
    sent
}

/// The fewest probes the stopping rule allows the trace from `root` on the
/// split its flows took: at each TTL, every vertex of the TTL before needs
/// `n(successors + 1)` flows crossing it (the destination none), and, where
/// a TTL has several vertices, the flows sent there must reach each of
/// them `n` times for the TTL after, in the order the run drew them.
/// `None` if the log shows no trace from `root`.
pub fn requirement(log: &str, root: IpAddr, confidence: f64) -> Option<usize> {
    let sent = sent_from(log, root);
    let last = *sent.keys().next_back()?;
    let vertices = |ttl: u8| -> BTreeSet<IpAddr> {
        sent.get(&ttl)
            .into_iter()
            .flatten()
            .filter_map(|(_, answer)| *answer)
            .collect()
    };
    let answered_by = |ttl: u8, vertex: IpAddr| -> BTreeSet<u16> {
        sent.get(&ttl)
            .into_iter()
            .flatten()
            .filter(|(_, answer)| *answer == Some(vertex))
            .map(|(flow, _)| *flow)
            .collect()
    };
    // What `vertex` at `ttl` needs at `ttl + 1`: none at the last TTL (the
    // destination); at a TTL of one vertex every flow crosses it.
    let needs = |ttl: u8, vertex: IpAddr| -> usize {
        if ttl == last {
            return 0;
        }
        let next = ttl + 1;
        let successors = if ttl == 0 || vertices(ttl).len() == 1 {
            vertices(next).len()
        } else {
            let flows = answered_by(ttl, vertex);
            sent.get(&next)
                .into_iter()
                .flatten()
                .filter(|(flow, _)| flows.contains(flow))
                .filter_map(|(_, answer)| *answer)
                .collect::<BTreeSet<_>>()
                .len()
        };
        stopping_point(successors.max(1) + 1, confidence)
    };
    let mut total = 0;
    for ttl in 1..=last {
        let before: usize = if ttl == 1 {
            needs(0, root)
        } else {
            vertices(ttl - 1).iter().map(|&v| needs(ttl - 1, v)).sum()
        };
        let here = vertices(ttl);
        let located = if here.len() > 1 {
            let mut short: BTreeMap<IpAddr, usize> =
                here.iter().map(|&v| (v, needs(ttl, v))).collect();
            sent.get(&ttl)
                .into_iter()
                .flatten()
                .position(|(_, answer)| {
                    if let Some(left) = answer.and_then(|v| short.get_mut(&v)) {
                        *left = left.saturating_sub(1);
                    }
                    short.values().all(|left| *left == 0)
                })
                .map_or(0, |index| index + 1)
        } else {
            0
        };
        total += before.max(located);
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "10.0.1.100";

    fn log(batches: &[(u8, &str)]) -> String {
        batches
            .iter()
            .map(|(ttl, probes)| format!("[DEBUG] batch from {ROOT} at TTL {ttl}: {probes}\n"))
            .collect()
    }

    /// `count` flows from `first` at `ttl`, answered by `address`.
    fn flows(first: u16, count: u16, address: &str) -> String {
        (first..first + count)
            .map(|flow| format!("{flow}={address}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn stopping_points_are_those_of_the_mda_tables() {
        // ε = 0.05 (Veitch et al., Diamond-Miner): n(2) = 6, n(3) = 11, n(4) = 16.
        let points: Vec<usize> = (2..=4).map(|k| stopping_point(k, 0.05)).collect();
        assert_eq!(points, [6, 11, 16]);
    }

    #[test]
    fn a_diamond_needs_flows_until_each_branch_has_its_own() {
        let root = ROOT.parse().expect("address");
        // TTL 2: 11 flows split 7 / 4, then 3 more on B before C gets its
        // two: r1 needs 11, but B and C need 6 each (14 flows in that order).
        for (extra, located) in [
            ("", None),
            ("20=10.0.0.2 21=10.0.0.3", None),
            ("20=10.0.0.3 21=10.0.0.2 22=10.0.0.2 23=10.0.0.3", Some(15)),
            ("20=10.0.0.3 21=* 22=10.0.0.3", Some(14)),
        ] {
            let at_2 = format!(
                "{} {} {extra}",
                flows(1, 7, "10.0.0.2"),
                flows(8, 4, "10.0.0.3")
            );
            let run = log(&[
                (1, &flows(1, 6, "10.0.0.1")),
                (2, &at_2),
                (
                    3,
                    &format!("{} {}", flows(1, 7, "10.0.0.4"), flows(8, 4, "10.0.0.4")),
                ),
                (4, &flows(1, 6, "10.0.0.9")),
            ]);
            // TTL 1: n(2) for the root; TTL 2: the larger of n(3) for r1 and
            // the flows until each branch has n(2); TTL 3: n(2) per branch;
            // TTL 4: n(2) for r4.
            let at_ttl_2 = located.unwrap_or(11);
            assert_eq!(
                requirement(&run, root, 0.05),
                Some(6 + at_ttl_2 + 12 + 6),
                "{extra}"
            );
        }
    }

    #[test]
    fn a_chain_needs_n_2_per_hop_and_no_log_no_figure() {
        let root = ROOT.parse().expect("address");
        let run = log(&[
            (1, &flows(1, 6, "10.0.0.1")),
            (2, &flows(1, 6, "10.0.0.2")),
            (3, &flows(1, 6, "10.0.0.9")),
        ]);
        assert_eq!(requirement(&run, root, 0.05), Some(18));
        assert_eq!(
            requirement(&run, "10.0.7.200".parse().expect("address"), 0.05),
            None
        );
    }
}
