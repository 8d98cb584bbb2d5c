//! Alias resolution (§11.12, the reference's APAR variant): which addresses
//! seen in a two-way IPv4 trace are interfaces of one router. A router on a
//! point-to-point link answers forward from one end of the link's subnet and
//! is followed, on the way back, by the other end; the two ends of a small,
//! well-filled subnet line up forward and reverse paths, and the addresses
//! just before them are aliases. Runs on the unmerged traces.

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr},
};

use log::{info, warn};

use crate::{
    output::OutputError,
    output::Result,
    trace::graph::{Trace, VertexId},
    trace::run::Traces,
};

/// Interfaces of one router.
pub(crate) type AliasSet = BTreeSet<Ipv4Addr>;

/// One position of a path: an address, or `None` for a black hole (which
/// never joins an alias set and equals nothing here).
type Node = Option<Ipv4Addr>;
type Path = Vec<Node>;

/// A subnet the paths agree with, and the candidates in its host range.
#[derive(Debug)]
struct Subnet {
    prefix: u8,
    members: Vec<Ipv4Addr>,
    completeness: f64,
}

/// The alias sets of a two-way trace, each with at least two addresses,
/// sorted.
pub(crate) fn resolve_aliases(forward: &Trace, reverse: &Trace) -> Vec<AliasSet> {
    let paths: Vec<Path> = paths(forward).into_iter().chain(paths(reverse)).collect();
    let reversed: Vec<Path> = paths
        .iter()
        .map(|path| path.iter().rev().copied().collect())
        .collect();
    let candidates: BTreeSet<Ipv4Addr> = paths.iter().flatten().flatten().copied().collect();
    let subnets = subnets(&candidates, &paths);
    let mut aliases = Vec::new();
    for p2p in [false, true] {
        infer(&subnets, &paths, &reversed, p2p, &mut aliases);
    }
    aliases.sort();
    aliases
}

/// §11.12 for a run: writes the alias sets of a two-way IPv4 trace to
/// `path`; any other run only gets a warning.
pub(crate) fn write_aliases(traces: &Traces, path: &str) -> Result<()> {
    let (Some(forward), Some(reverse), IpAddr::V4(_)) =
        (&traces.forward, &traces.reverse, traces.target)
    else {
        warn!("alias resolution needs a two-way trace to an IPv4 target; skipped");
        return Ok(());
    };
    let aliases = resolve_aliases(forward, reverse);
    std::fs::write(path, aliases_file(&aliases)).map_err(|source| OutputError::Write {
        path: path.to_owned(),
        source,
    })?;
    info!("{} alias set(s) written to {path}", aliases.len());
    Ok(())
}

/// The `<output>.aliases` file: one set per line, addresses joined by
/// commas, no trailing newline.
pub(crate) fn aliases_file(aliases: &[AliasSet]) -> String {
    aliases
        .iter()
        .map(|set| {
            set.iter()
                .map(Ipv4Addr::to_string)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `paths(graph)`: every root-to-leaf walk along successors. Meeting an
/// address already on the path (a loop) cuts the earlier occurrence and what
/// follows it; meeting the very same vertex again abandons the branch.
fn paths(trace: &Trace) -> Vec<Path> {
    let mut found = Vec::new();
    walk(trace, trace.root(), Vec::new(), &mut found);
    found
}

fn walk(trace: &Trace, id: VertexId, mut path: Vec<(VertexId, Node)>, found: &mut Vec<Path>) {
    let node = match trace[id].address() {
        Some(IpAddr::V4(address)) => Some(address),
        _ => None,
    };
    if let Some(earlier) = node.and_then(|_| path.iter().position(|&(_, n)| n == node)) {
        path.truncate(earlier);
    }
    path.push((id, node));
    let successors = &trace[id].successors;
    if successors.is_empty() {
        found.push(path.iter().map(|&(_, node)| node).collect());
        return;
    }
    for &next in successors {
        if path.iter().all(|&(on_path, _)| on_path != next) {
            walk(trace, next, path.clone(), found);
        }
    }
}

/// Step 1: the /24…/31 subnets at least half full of candidates whose
/// members never lie more than one position apart on any path, fullest
/// first (shorter prefixes first among equals).
fn subnets(candidates: &BTreeSet<Ipv4Addr>, paths: &[Path]) -> Vec<Subnet> {
    let mut subnets = Vec::new();
    for prefix in 24..=31u8 {
        let size = 1u32 << (32 - prefix);
        let mask = !(size - 1);
        let networks: BTreeSet<u32> = candidates.iter().map(|&a| u32::from(a) & mask).collect();
        for network in networks {
            let is_host = |a: u32| {
                a & mask == network && (prefix == 31 || (a != network && a != network | !mask))
            };
            let members: Vec<Ipv4Addr> = candidates
                .iter()
                .copied()
                .filter(|&a| is_host(u32::from(a)))
                .collect();
            let completeness = members.len() as f64 / f64::from(size);
            if completeness >= 0.5 && paths.iter().all(|path| adjacent(path, &members)) {
                subnets.push(Subnet {
                    prefix,
                    members,
                    completeness,
                });
            }
        }
    }
    subnets.sort_by(|a, b| b.completeness.total_cmp(&a.completeness));
    subnets
}

/// Whether the members of `members` on `path` are at most one position apart.
fn adjacent(path: &Path, members: &[Ipv4Addr]) -> bool {
    let positions = || members.iter().filter_map(|&m| position(path, m));
    match (positions().min(), positions().max()) {
        (Some(first), Some(last)) => last - first <= 1,
        _ => true,
    }
}

fn position(path: &Path, address: Ipv4Addr) -> Option<usize> {
    path.iter().position(|&node| node == Some(address))
}

/// Step 2, one pass: for every subnet and ordered pair of paths `f` and
/// reversed `r` crossing it, the address before the subnet on `f` and the
/// subnet's address on `r` are aliases when the paths agree around them.
fn infer(
    subnets: &[Subnet],
    paths: &[Path],
    reversed: &[Path],
    p2p: bool,
    aliases: &mut Vec<AliasSet>,
) {
    let mut seen: Vec<&[Ipv4Addr]> = Vec::new();
    for subnet in subnets {
        for (f_index, f) in paths.iter().enumerate() {
            for (r_index, r) in reversed.iter().enumerate() {
                if f_index == r_index {
                    continue;
                }
                for &fv in &subnet.members {
                    let Some(i) = position(f, fv).filter(|&i| i >= 1) else {
                        continue;
                    };
                    for &rv in &subnet.members {
                        let Some(j) = position(r, rv) else {
                            continue;
                        };
                        let Some(a) = f[i - 1] else { continue };
                        if a == rv {
                            continue;
                        }
                        let before = |k: usize| i.checked_sub(k).and_then(|at| f[at]);
                        let back = j.checked_sub(1).and_then(|at| r[at]);
                        let agree = (p2p && subnet.prefix >= 30)
                            || both_in(before(1), back, seen.iter().copied())
                            || both_in(before(2), back, aliases.iter().map(|set| set.iter()))
                            || before(2).is_some_and(|x| Some(x) == back);
                        if agree {
                            add_alias(a, rv, aliases, paths);
                        }
                    }
                }
            }
        }
        seen.push(&subnet.members);
    }
}

/// Whether `x` and `y` are both addresses of one of `sets`.
fn both_in<'a, S: IntoIterator<Item = &'a Ipv4Addr>>(
    x: Node,
    y: Node,
    sets: impl IntoIterator<Item = S>,
) -> bool {
    let (Some(x), Some(y)) = (x, y) else {
        return false;
    };
    sets.into_iter().any(|set| {
        let set: Vec<&Ipv4Addr> = set.into_iter().collect();
        set.contains(&&x) && set.contains(&&y)
    })
}

/// Joins `a`, `b` and the sets holding either, unless a path holds two of
/// the joined addresses (one router never appears twice on a path).
fn add_alias(a: Ipv4Addr, b: Ipv4Addr, aliases: &mut Vec<AliasSet>, paths: &[Path]) {
    let touches = |set: &AliasSet| set.contains(&a) || set.contains(&b);
    let mut joined: AliasSet = [a, b].into();
    for set in aliases.iter().filter(|set| touches(set)) {
        joined.extend(set);
    }
    let on_one_path = paths.iter().any(|path| {
        path.iter()
            .flatten()
            .filter(|address| joined.contains(address))
            .count()
            > 1
    });
    if !on_one_path {
        aliases.retain(|set| !touches(set));
        aliases.push(joined);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn v4(text: &str) -> Ipv4Addr {
        text.parse().expect("test address")
    }

    /// A trace from `root` through `hops`, each a list of (address, flows);
    /// vertices of adjacent hops sharing a flow are linked.
    fn trace(root: &str, hops: &[&[(&str, &[u16])]]) -> Trace {
        let mut trace = Trace::new(IpAddr::V4(v4(root)));
        let root_id = trace.root();
        let all: Vec<u16> = hops
            .iter()
            .flat_map(|hop| hop.iter().flat_map(|(_, flows)| flows.iter().copied()))
            .collect();
        trace.vertex_mut(root_id).flows.extend(all);
        let mut previous = 0;
        for (ttl, vertices) in (1..).zip(hops) {
            let hop = trace.push_hop(ttl);
            for (address, flows) in *vertices {
                for &flow in *flows {
                    trace.record(hop, IpAddr::V4(v4(address)), flow, Duration::from_millis(1));
                }
            }
            trace.connect(previous, hop);
            previous = hop;
        }
        trace
    }

    fn sets(expected: &[&[&str]]) -> Vec<AliasSet> {
        let mut sets: Vec<AliasSet> = expected
            .iter()
            .map(|set| set.iter().map(|a| v4(a)).collect())
            .collect();
        sets.sort();
        sets
    }

    const ONE: &[u16] = &[1];

    /// Client 10.0.0.1 — router A — router B — target 10.0.7.200. A answers
    /// forward from 10.0.0.254, B from its end `b_link` of the A–B link; on
    /// the way back B answers from 10.0.7.1 and A from its end `a_link`.
    fn two_routers(a_link: &str, b_link: &str) -> (Trace, Trace) {
        let forward = trace(
            "10.0.0.1",
            &[
                &[("10.0.0.254", ONE)],
                &[(b_link, ONE)],
                &[("10.0.7.200", ONE)],
            ],
        );
        let reverse = trace(
            "10.0.7.200",
            &[&[("10.0.7.1", ONE)], &[(a_link, ONE)], &[("10.0.0.1", ONE)]],
        );
        (forward, reverse)
    }

    #[test]
    fn a_point_to_point_link_seen_both_ways_gives_each_routers_aliases() {
        let cases = [("10.9.9.0", "10.9.9.1"), ("10.9.9.2", "10.9.9.1")];
        for (a_link, b_link) in cases {
            let (forward, reverse) = two_routers(a_link, b_link);
            assert_eq!(
                resolve_aliases(&forward, &reverse),
                sets(&[&["10.0.0.254", a_link], &["10.0.7.1", b_link]]),
                "link {a_link}–{b_link}"
            );
        }
    }

    #[test]
    fn a_subnet_under_half_full_gives_no_alias() {
        // .1 and .6 share only the /29, two of eight addresses.
        let (forward, reverse) = two_routers("10.9.9.6", "10.9.9.1");
        assert_eq!(resolve_aliases(&forward, &reverse), sets(&[]));
    }

    #[test]
    fn two_members_on_one_path_reject_the_alias() {
        let (_, reverse) = two_routers("10.9.9.0", "10.9.9.1");
        // Forward, a second branch (flow 2) reaches A's end of the link,
        // 10.9.9.0, right after 10.0.0.254: one path holds both, so the
        // link's evidence that they are one router is rejected.
        let forward = trace(
            "10.0.0.1",
            &[
                &[("10.0.0.254", &[1, 2])],
                &[("10.9.9.1", ONE), ("10.9.9.0", &[2])],
                &[("10.0.7.200", &[1, 2])],
            ],
        );
        assert_eq!(
            resolve_aliases(&forward, &reverse),
            sets(&[&["10.0.7.1", "10.9.9.1"]])
        );
    }

    #[test]
    fn loops_are_cut_and_black_holes_never_join() {
        let mut looped = trace(
            "10.0.0.1",
            &[
                &[("10.0.0.254", ONE)],
                &[("10.0.0.9", ONE)],
                &[("10.0.0.254", ONE)],
                &[("10.0.7.200", ONE)],
            ],
        );
        assert_eq!(
            paths(&looped),
            [vec![
                Some(v4("10.0.0.1")),
                Some(v4("10.0.0.254")),
                Some(v4("10.0.7.200"))
            ]]
        );
        let after = looped.push_hop(5);
        looped.add_black_holes(4, after);
        assert_eq!(paths(&looped)[0].last(), Some(&None));
    }

    #[test]
    fn the_file_has_one_set_a_line_without_a_trailing_newline() {
        let text = aliases_file(&sets(&[
            &["10.0.0.2", "10.0.0.1"],
            &["10.0.1.1", "10.0.2.1", "10.0.3.1"],
        ]));
        assert_eq!(text, "10.0.0.1,10.0.0.2\n10.0.1.1,10.0.2.1,10.0.3.1");
    }
}
