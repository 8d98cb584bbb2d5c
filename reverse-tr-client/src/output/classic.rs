//! The classic hop view (`--format classic`), as traceroute(8) prints it:
//! a header line per direction, then per TTL the addresses with their names
//! and each answer's RTT, a star for each probe of that TTL left
//! unanswered. A hop with several vertices (a load balancer) gets one line
//! per vertex.

use std::{collections::HashMap, fmt::Write, net::IpAddr, time::Duration};

use crate::trace::graph::{Direction, Hop, Trace};

/// RTTs (and stars) shown per line in multipath mode, where a vertex can
/// have dozens; the rest is counted as `(+N)`.
const MULTIPATH_SHOWN: usize = 3;

/// What the header lines name: the run's two ends and its TTL limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route<'a> {
    /// TARGET as given on the command line.
    pub target_name: &'a str,
    pub target: IpAddr,
    pub local: IpAddr,
    pub max_ttl: u8,
    /// Multipath mode: long RTT lists are cut to the first few.
    pub multipath: bool,
}

/// Renders `traces` (forward first) the way traceroute(8) does, a blank
/// line between two directions.
pub(crate) fn render_classic(
    traces: &[(Direction, &Trace)],
    route: &Route<'_>,
    names: &HashMap<IpAddr, Vec<String>>,
) -> String {
    let blocks: Vec<String> = traces
        .iter()
        .map(|&(direction, trace)| block(direction, trace, route, names))
        .collect();
    blocks.join("\n")
}

fn block(
    direction: Direction,
    trace: &Trace,
    route: &Route<'_>,
    names: &HashMap<IpAddr, Vec<String>>,
) -> String {
    let Route {
        target_name,
        target,
        local,
        max_ttl,
        ..
    } = *route;
    let mut text = match direction {
        Direction::Forward => {
            format!("reverse-tr to {target_name} ({target}), {max_ttl} hops max\n")
        }
        Direction::Reverse => {
            format!("reverse path from {target_name} ({target}) to {local}, {max_ttl} hops max\n")
        }
    };
    // TTL 0 is the root, which traceroute does not print.
    for hop in trace.hops().iter().filter(|hop| hop.ttl > 0) {
        for line in hop_lines(trace, hop, route.multipath, names) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

/// The lines of one hop: its responsive vertices, one a line, and a star
/// per probe of the hop that got no answer.
fn hop_lines(
    trace: &Trace,
    hop: &Hop,
    multipath: bool,
    names: &HashMap<IpAddr, Vec<String>>,
) -> Vec<String> {
    let shown = if multipath {
        MULTIPATH_SHOWN
    } else {
        usize::MAX
    };
    let mut lines: Vec<String> = hop
        .vertices
        .iter()
        .filter_map(|&id| {
            let vertex = &trace[id];
            let address = vertex.address()?;
            let mut line = match names.get(&address).and_then(|names| names.first()) {
                Some(name) => format!("{name} ({address})"),
                None => address.to_string(),
            };
            let rtts: Vec<String> = vertex.rtts.iter().copied().map(ms).collect();
            line.push_str(&capped(&rtts, shown, "  "));
            Some(line)
        })
        .collect();
    let lost = hop.sent.saturating_sub(hop.answered);
    // A hop of black holes was probed, so it lost at least one probe.
    let stars = if lines.is_empty() { lost.max(1) } else { lost };
    let stars = vec!["*".to_owned(); usize::try_from(stars).unwrap_or(usize::MAX)];
    let stars = capped(&stars, shown, " ");
    // Beside a single vertex as traceroute has them; on a line of their own
    // when several vertices share the hop, belonging to none of them.
    match lines.as_mut_slice() {
        [only] => only.push_str(&stars),
        _ if !stars.is_empty() => lines.push(stars.trim_start().to_owned()),
        _ => {}
    }
    lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            if index == 0 {
                format!("{:>2}  {line}", hop.ttl)
            } else {
                format!("    {line}")
            }
        })
        .collect()
}

/// The first `shown` items, each after `separator`, then `(+N)` for the rest.
fn capped(items: &[String], shown: usize, separator: &str) -> String {
    let mut text = String::new();
    for item in items.iter().take(shown) {
        text.push_str(separator);
        text.push_str(item);
    }
    if items.len() > shown {
        let _ = write!(text, " (+{})", items.len() - shown);
    }
    text
}

/// An RTT as traceroute prints it.
fn ms(rtt: Duration) -> String {
    format!("{:.3} ms", rtt.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::fake_network::{host, trace};

    fn route(multipath: bool) -> Route<'static> {
        Route {
            target_name: "target.example.net",
            target: host(200),
            local: host(100),
            max_ttl: 15,
            multipath,
        }
    }

    fn names() -> HashMap<IpAddr, Vec<String>> {
        HashMap::from([
            (
                host(1),
                vec!["gw.example.net".to_owned(), "alias.example.net".to_owned()],
            ),
            (host(200), vec!["target.example.net".to_owned()]),
        ])
    }

    /// One flow; hop 2 loses one of three probes, hop 3 all of them.
    fn single_path_with_losses() -> Trace {
        trace(
            &[
                (&[(1, 9, 1), (1, 9, 2), (1, 9, 3)], 3),
                (&[(2, 9, 4), (2, 9, 5)], 3),
                (&[], 3),
                (&[(200, 9, 7), (200, 9, 8), (200, 9, 9)], 3),
            ],
            true,
        )
    }

    /// 1, then 2 or 3 by flow (2 with five answers), then 4, then 200.
    fn diamond() -> Trace {
        trace(
            &[
                (&[(1, 1, 1), (1, 2, 2), (1, 3, 3)], 3),
                (
                    &[
                        (2, 1, 4),
                        (3, 2, 5),
                        (2, 3, 6),
                        (2, 1, 7),
                        (2, 3, 8),
                        (2, 1, 9),
                    ],
                    12,
                ),
                (&[(4, 1, 7), (4, 2, 8), (4, 3, 9)], 3),
                (&[(200, 1, 9), (200, 2, 10), (200, 3, 11)], 3),
            ],
            true,
        )
    }

    /// Two branches, one of which goes silent: a black hole beside an answer.
    fn black_holes() -> Trace {
        trace(
            &[
                (&[(1, 1, 1), (2, 2, 2)], 2),
                (&[(3, 1, 3)], 2),
                (&[], 2),
                (&[], 2),
            ],
            false,
        )
    }

    #[test]
    fn single_path_with_names_and_losses() {
        let trace = single_path_with_losses();
        insta::assert_snapshot!(render_classic(
            &[(Direction::Forward, &trace)],
            &route(false),
            &names()
        ));
    }

    #[test]
    fn multipath_diamond_one_line_per_vertex_with_capped_rtts() {
        let trace = diamond();
        insta::assert_snapshot!(render_classic(
            &[(Direction::Forward, &trace)],
            &route(true),
            &HashMap::new()
        ));
    }

    #[test]
    fn single_path_shows_every_rtt() {
        let trace = diamond();
        let text = render_classic(
            &[(Direction::Forward, &trace)],
            &route(false),
            &HashMap::new(),
        );
        let second_hop: String = text
            .lines()
            .skip_while(|line| !line.starts_with(" 2"))
            .take_while(|line| !line.starts_with(" 3"))
            .collect();
        assert_eq!(second_hop.matches(" ms").count(), 6, "{text}");
        assert_eq!(second_hop.matches('*').count(), 6, "{text}");
        assert!(!text.contains("(+"), "{text}");
    }

    #[test]
    fn black_holes_and_two_directions() {
        let (forward, reverse) = (black_holes(), single_path_with_losses());
        insta::assert_snapshot!(render_classic(
            &[
                (Direction::Forward, &forward),
                (Direction::Reverse, &reverse)
            ],
            &route(true),
            &names()
        ));
    }
}
