//! What is wrong with a trace the client reported, against the hops the
//! lab's topology and conditions let it see: one judge for the lab tests
//! and for `cargo xtask bench`, so that both call the same runs right.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    process::ExitStatus,
};

use crate::topology::{Direction, Hops};

/// What is wrong with a run that ended with `status` and reported
/// `traced` (per heading: `FORWARD`, `REVERSE`), against `expected`, the
/// hops the conditions let each direction it traced see; `None` if it is
/// right. Right is [`fits`](crate::fits) (an answer at every TTL, each
/// from an expected address, nothing past the destination) taken TTL by
/// TTL, so that the reason can name the TTL, and the mode's rule: exactly
/// the expected hops in multipath, at most one vertex per hop in
/// single-path. A reason names each direction's first wrong TTL.
pub fn wrong(
    status: ExitStatus,
    traced: &BTreeMap<String, Hops>,
    expected: &[(Direction, Hops)],
    multipath: bool,
) -> Option<String> {
    if !status.success() {
        return Some(status.to_string());
    }
    let reasons: Vec<String> = expected
        .iter()
        .filter_map(|(direction, expected)| {
            let name = direction.name();
            let Some(traced) = traced.get(&name.to_uppercase()) else {
                return Some(format!("{name}: not in the report"));
            };
            let ttls: BTreeSet<u8> = traced.keys().chain(expected.keys()).copied().collect();
            ttls.into_iter().find_map(|ttl| {
                hop_wrong(traced.get(&ttl), expected.get(&ttl), multipath)
                    .map(|reason| format!("{name} TTL {ttl}: {reason}"))
            })
        })
        .collect();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// What is wrong at one hop: `seen` there (`None`: the trace stopped
/// before it) where `allowed` may answer (`None`: past the destination).
pub fn hop_wrong(
    seen: Option<&BTreeSet<IpAddr>>,
    allowed: Option<&BTreeSet<IpAddr>>,
    multipath: bool,
) -> Option<String> {
    let (seen, allowed) = match (seen, allowed) {
        (Some(seen), Some(allowed)) => (seen, allowed),
        (Some(seen), None) => {
            return Some(format!("saw {} past the destination", addresses(seen)));
        }
        (None, Some(allowed)) => {
            return Some(format!("not traced, expected {}", addresses(allowed)));
        }
        (None, None) => return None,
    };
    if seen.is_empty() && !allowed.is_empty() {
        Some(if multipath || allowed.len() == 1 {
            format!("{} missing", addresses(allowed))
        } else {
            format!("none of {} answered", addresses(allowed))
        })
    } else if !seen.is_subset(allowed) {
        Some(format!(
            "saw {}, expected {}",
            addresses(seen),
            addresses(allowed)
        ))
    } else if multipath && seen != allowed {
        Some(format!(
            "saw {} only, expected {}",
            addresses(seen),
            addresses(allowed)
        ))
    } else if !multipath && seen.len() > 1 {
        Some(format!(
            "{} vertices in single-path: {}",
            seen.len(),
            addresses(seen)
        ))
    } else {
        None
    }
}

/// A hop's addresses as a report shows them: `*` for none.
fn addresses(hop: &BTreeSet<IpAddr>) -> String {
    if hop.is_empty() {
        return "*".to_owned();
    }
    hop.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;
    use crate::topology::{fits, hops_of};

    /// Exit status 0 as `wait` reports it.
    const EXITED_0: i32 = 0;

    /// The forward path of the symmetric lab: r1, the diamond, r3, r4, the
    /// server.
    fn forward() -> Hops {
        hops_of(&[
            &["10.255.0.1"],
            &["10.255.0.2", "10.255.0.3"],
            &["10.255.0.4"],
            &["10.255.0.5"],
            &["10.0.7.200"],
        ])
    }

    /// A single-path trace of [`forward`]: one branch of the diamond.
    fn single() -> Hops {
        let mut hops = forward();
        hops.insert(2, ["10.255.0.3".parse().expect("address")].into());
        hops
    }

    /// What a run that exited with `raw` and traced `traced` forward gets.
    fn judged(raw: i32, traced: Hops, expected: Hops, multipath: bool) -> Option<String> {
        let report = BTreeMap::from([("FORWARD".to_owned(), traced.clone())]);
        let status = ExitStatus::from_raw(raw);
        let reason = wrong(
            status,
            &report,
            &[(Direction::Forward, expected.clone())],
            multipath,
        );
        // The reasons must not change what is right: exit 0, `fits`, and
        // the mode's rule.
        let right = status.success()
            && fits(&traced, &expected)
            && if multipath {
                traced == expected
            } else {
                traced.values().all(|seen| seen.len() <= 1)
            };
        assert_eq!(reason.is_none(), right, "{reason:?}");
        reason
    }

    #[test]
    fn a_right_run_has_no_reason() {
        assert_eq!(judged(EXITED_0, forward(), forward(), true), None);
        assert_eq!(judged(EXITED_0, single(), forward(), false), None);
        // A silent r3: `*` where nothing may answer.
        let mut silent = forward();
        silent.insert(3, BTreeSet::new());
        assert_eq!(judged(EXITED_0, silent.clone(), silent, true), None);
    }

    #[test]
    fn a_missing_vertex_is_named_with_its_ttl() {
        let mut starred = forward();
        starred.insert(3, BTreeSet::new());
        assert_eq!(
            judged(EXITED_0, starred, forward(), true).as_deref(),
            Some("forward TTL 3: 10.255.0.4 missing")
        );
        let mut one_branch = forward();
        one_branch.insert(2, ["10.255.0.2".parse().expect("address")].into());
        assert_eq!(
            judged(EXITED_0, one_branch, forward(), true).as_deref(),
            Some("forward TTL 2: saw 10.255.0.2 only, expected 10.255.0.2 10.255.0.3")
        );
        let mut no_branch = forward();
        no_branch.insert(2, BTreeSet::new());
        assert_eq!(
            judged(EXITED_0, no_branch, forward(), false).as_deref(),
            Some("forward TTL 2: none of 10.255.0.2 10.255.0.3 answered")
        );
    }

    #[test]
    fn two_vertices_at_a_hop_are_wrong_in_single_path_only() {
        assert_eq!(
            judged(EXITED_0, forward(), forward(), false).as_deref(),
            Some("forward TTL 2: 2 vertices in single-path: 10.255.0.2 10.255.0.3")
        );
    }

    #[test]
    fn a_failed_exit_is_the_reason_whatever_was_traced() {
        assert_eq!(
            judged(1 << 8, forward(), forward(), true).as_deref(),
            Some("exit status: 1")
        );
    }

    #[test]
    fn a_short_long_or_strange_trace_is_named() {
        let mut short = forward();
        short.remove(&5);
        assert_eq!(
            judged(EXITED_0, short, forward(), true).as_deref(),
            Some("forward TTL 5: not traced, expected 10.0.7.200")
        );
        let mut long = forward();
        long.insert(6, ["10.0.7.200".parse().expect("address")].into());
        assert_eq!(
            judged(EXITED_0, long, forward(), true).as_deref(),
            Some("forward TTL 6: saw 10.0.7.200 past the destination")
        );
        let mut strange = single();
        strange.insert(4, ["10.9.9.9".parse().expect("address")].into());
        assert_eq!(
            judged(EXITED_0, strange, forward(), false).as_deref(),
            Some("forward TTL 4: saw 10.9.9.9, expected 10.255.0.5")
        );
    }

    #[test]
    fn every_direction_traced_is_judged() {
        let report = BTreeMap::from([("FORWARD".to_owned(), forward())]);
        let expected = [
            (Direction::Forward, forward()),
            (Direction::Reverse, forward()),
        ];
        assert_eq!(
            wrong(ExitStatus::from_raw(EXITED_0), &report, &expected, true).as_deref(),
            Some("reverse: not in the report")
        );
    }
}
