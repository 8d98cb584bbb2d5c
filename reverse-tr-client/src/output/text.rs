//! Traces as text (§11.17's console output): per hop, its vertices with
//! address, name, RTT min/avg/max and the hop's loss; several vertices at
//! one TTL show a load balancer's branches. A two-way run is shown side by
//! side when the terminal is wide enough, one after the other otherwise.

use std::{collections::HashMap, fmt::Write, net::IpAddr, time::Duration};

use crate::trace::graph::{Direction, Trace, Vertex};

/// Columns between two traces shown side by side.
const GAP: usize = 4;

/// Renders `traces` for the terminal on standard output (if any).
pub(crate) fn render_text(
    traces: &[(Direction, &Trace)],
    names: &HashMap<IpAddr, Vec<String>>,
) -> String {
    let width = terminal_size::terminal_size().map(|(width, _)| usize::from(width.0));
    render_text_within(traces, names, width)
}

/// Renders `traces` for `width` columns; `None` (not a terminal) puts them
/// one after the other.
pub(super) fn render_text_within(
    traces: &[(Direction, &Trace)],
    names: &HashMap<IpAddr, Vec<String>>,
    width: Option<usize>,
) -> String {
    let show_names = traces.iter().any(|(_, trace)| {
        trace
            .hops()
            .iter()
            .flat_map(|hop| &hop.vertices)
            .any(|&id| name(&trace[id], names).is_some())
    });
    let blocks: Vec<Vec<String>> = traces
        .iter()
        .map(|&(direction, trace)| block(direction, trace, names, show_names))
        .collect();
    let lines = match &blocks[..] {
        [left, right]
            if width.is_some_and(|width| columns(left) + GAP + columns(right) <= width) =>
        {
            side_by_side(left, right)
        }
        _ => blocks.join(&String::new()),
    };
    lines.iter().fold(String::new(), |mut text, line| {
        text.push_str(line.trim_end());
        text.push('\n');
        text
    })
}

/// The lines of one trace: a title, a header and one row per vertex.
fn block(
    direction: Direction,
    trace: &Trace,
    names: &HashMap<IpAddr, Vec<String>>,
    show_names: bool,
) -> Vec<String> {
    let mut rows = vec![Row {
        ttl: "TTL".to_owned(),
        address: "ADDRESS".to_owned(),
        name: "NAME".to_owned(),
        rtt: "RTT MIN/AVG/MAX MS".to_owned(),
        loss: "LOSS".to_owned(),
        note: String::new(),
    }];
    let last = trace.hops().len().saturating_sub(1);
    for (index, hop) in trace.hops().iter().enumerate() {
        for (position, &id) in hop.vertices.iter().enumerate() {
            let vertex = &trace[id];
            let first = position == 0;
            let destination =
                trace.reached() && index == last && index > 0 && !vertex.is_black_hole();
            rows.push(Row {
                ttl: if first {
                    hop.ttl.to_string()
                } else {
                    String::new()
                },
                address: vertex
                    .address()
                    .map_or_else(|| "*".to_owned(), |address| address.to_string()),
                name: name(vertex, names).unwrap_or_default().to_owned(),
                rtt: vertex
                    .rtt_summary()
                    .map(|rtt| format!("{}/{}/{}", ms(rtt.min), ms(rtt.mean), ms(rtt.max)))
                    .unwrap_or_default(),
                loss: if first && hop.sent > 0 {
                    format!("{:.0}%", hop.loss() * 100.0)
                } else {
                    String::new()
                },
                note: match (destination, first && hop.rate_limited) {
                    (true, _) => "destination".to_owned(),
                    (false, true) => "rate-limited".to_owned(),
                    (false, false) => String::new(),
                },
            });
        }
    }
    let widths = Widths::of(&rows);
    let mut lines = vec![title(direction, trace)];
    lines.extend(rows.iter().map(|row| row.line(&widths, show_names)));
    lines.extend(
        trace
            .refusals()
            .iter()
            .map(|(&state, &count)| format!("the server refused {count} request(s): {state}")),
    );
    lines
}

fn title(direction: Direction, trace: &Trace) -> String {
    let status = if trace.interrupted() {
        "interrupted, partial"
    } else if trace.reached() {
        "destination reached"
    } else {
        "destination not reached"
    };
    format!("{} ({status})", direction.to_string().to_uppercase())
}

/// The primary name of a responsive vertex, if known.
fn name<'a>(vertex: &Vertex, names: &'a HashMap<IpAddr, Vec<String>>) -> Option<&'a str> {
    names.get(&vertex.address()?)?.first().map(String::as_str)
}

/// Milliseconds with three decimals.
fn ms(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64() * 1000.0)
}

struct Row {
    ttl: String,
    address: String,
    name: String,
    rtt: String,
    loss: String,
    note: String,
}

struct Widths {
    ttl: usize,
    address: usize,
    name: usize,
    rtt: usize,
    loss: usize,
}

impl Widths {
    fn of(rows: &[Row]) -> Self {
        let widest = |cell: fn(&Row) -> &String| {
            rows.iter()
                .map(|row| cell(row).chars().count())
                .max()
                .unwrap_or(0)
        };
        Self {
            ttl: widest(|row| &row.ttl),
            address: widest(|row| &row.address),
            name: widest(|row| &row.name),
            rtt: widest(|row| &row.rtt),
            loss: widest(|row| &row.loss),
        }
    }
}

impl Row {
    fn line(&self, widths: &Widths, show_names: bool) -> String {
        let mut line = format!(
            "{:>w$}  {:<a$}  ",
            self.ttl,
            self.address,
            w = widths.ttl,
            a = widths.address
        );
        if show_names {
            let _ = write!(line, "{:<n$}  ", self.name, n = widths.name);
        }
        let _ = write!(
            line,
            "{:>r$}  {:>l$}  {}",
            self.rtt,
            self.loss,
            self.note,
            r = widths.rtt,
            l = widths.loss
        );
        line
    }
}

fn columns(lines: &[String]) -> usize {
    lines
        .iter()
        .map(|line| line.chars().count())
        .max()
        .unwrap_or(0)
}

fn side_by_side(left: &[String], right: &[String]) -> Vec<String> {
    let width = columns(left) + GAP;
    (0..left.len().max(right.len()))
        .map(|index| {
            let left = left.get(index).map_or("", String::as_str);
            let right = right.get(index).map_or("", String::as_str);
            let pad = width - left.chars().count();
            format!("{left}{:pad$}{right}", "")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use reverse_tr_common::response::State;

    use super::*;
    use crate::trace::{
        fake_network::{host, trace},
        probe::ErrorState,
    };

    /// A diamond: 1, then 2 or 3 by flow, then 4, then the destination 200.
    fn diamond() -> Trace {
        trace(
            &[
                (&[(1, 1, 1), (1, 2, 2), (1, 3, 3)], 3),
                (&[(2, 1, 4), (3, 2, 5), (2, 3, 6)], 4),
                (&[(4, 1, 7), (4, 2, 8)], 3),
                (&[(200, 1, 9), (200, 2, 10), (200, 3, 11)], 3),
            ],
            true,
        )
    }

    /// A chain with a silent hop that never reaches the destination.
    fn silent() -> Trace {
        trace(
            &[(&[(1, 7, 1), (1, 7, 2)], 2), (&[], 2), (&[(3, 7, 30)], 2)],
            false,
        )
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

    #[test]
    fn diamond_shows_both_branches_and_the_destination() {
        let diamond = diamond();
        insta::assert_snapshot!(render_text_within(
            &[(Direction::Forward, &diamond)],
            &HashMap::new(),
            None
        ));
    }

    #[test]
    fn names_get_a_column_when_known() {
        let diamond = diamond();
        insta::assert_snapshot!(render_text_within(
            &[(Direction::Reverse, &diamond)],
            &names(),
            None
        ));
    }

    #[test]
    fn black_holes_and_a_missed_destination() {
        let silent = silent();
        insta::assert_snapshot!(render_text_within(
            &[(Direction::Forward, &silent)],
            &HashMap::new(),
            None
        ));
    }

    #[test]
    fn two_way_side_by_side_when_wide_enough() {
        let (forward, reverse) = (diamond(), silent());
        let traces = [
            (Direction::Forward, &forward),
            (Direction::Reverse, &reverse),
        ];
        let wide = render_text_within(&traces, &HashMap::new(), Some(120));
        insta::assert_snapshot!(wide);
        let narrow = render_text_within(&traces, &HashMap::new(), Some(60));
        assert_eq!(narrow, render_text_within(&traces, &HashMap::new(), None));
        assert!(narrow.lines().count() > wide.lines().count());
        assert!(wide.lines().all(|line| line.chars().count() <= 120));
    }

    #[test]
    fn refusals_and_interruption_are_reported() {
        let mut trace = silent();
        let invalid_flow = ErrorState::Known(State::InvalidFlow);
        trace.refused(invalid_flow);
        trace.refused(invalid_flow);
        trace.set_interrupted();
        insta::assert_snapshot!(render_text_within(
            &[(Direction::Reverse, &trace)],
            &HashMap::new(),
            None
        ));
    }
}
