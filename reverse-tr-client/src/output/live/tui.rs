//! The terminal view of live monitoring: a header, the hop table of each
//! direction (side by side when the window is wide, stacked otherwise),
//! each vertex with its statistics and a latency sparkline, the latest
//! path changes under each table, and the keys. Drawing only: the terminal
//! and the keys are the app's.

use ratatui::{
    Frame,
    layout::{Constraint, Flex, Layout, Rect},
    style::{Color, Modifier, Style, Stylize},
    text::{Line, Span},
    widgets::{Block, Cell, Clear, Paragraph, Row, Table},
};

use super::rows::{change_text, clock, host, millis, rows};
use crate::{
    output::Names,
    trace::graph::Direction,
    trace::live::{LivePath, LiveVertex, Snapshot, VertexState},
};

/// Both tables side by side from this width on.
const SIDE_BY_SIDE: u16 = 160;
/// Path changes listed under a table, the latest.
const CHANGES_SHOWN: usize = 3;
/// Sparkline levels, lowest first.
const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// A lost probe in the sparkline.
const LOST: char = '×';

const KEYS: &str = "p pause  r reset  d direction  n names  ? help  q quit";
const HELP: [&str; 7] = [
    "p  pause or resume probing",
    "r  reset the statistics and changes",
    "d  both directions, forward, reverse",
    "n  host names on or off",
    "?  this help",
    "q  quit (also Esc, Ctrl-C)",
    "Loss% Snt Last Avg Best Wrst StDev: ms",
];

/// Which directions the view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Shown {
    #[default]
    Both,
    Only(Direction),
}

impl Shown {
    /// The next choice of `d`: both, forward, reverse, both…
    pub(crate) fn next(self) -> Self {
        match self {
            Self::Both => Self::Only(Direction::Forward),
            Self::Only(Direction::Forward) => Self::Only(Direction::Reverse),
            Self::Only(Direction::Reverse) => Self::Both,
        }
    }
}

/// What the keys changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ViewOptions {
    /// What is monitored, e.g. `two-way udp 192.0.2.1`.
    pub title: String,
    pub shown: Shown,
    pub names: bool,
    pub help: bool,
    pub paused: bool,
}

/// Draws `snapshot` on the whole frame.
pub(crate) fn draw(frame: &mut Frame<'_>, snapshot: &Snapshot, names: &Names, view: &ViewOptions) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let mut status = vec![
        Span::from("reverse-tr live ").bold(),
        Span::from(format!(
            "{}  cycle {}  {}",
            view.title,
            snapshot.cycle,
            clock(snapshot.elapsed)
        )),
    ];
    if view.paused {
        status.push(Span::from("  PAUSED").bold().fg(Color::Yellow));
    }
    frame.render_widget(Line::from(status), header);
    frame.render_widget(Line::from(KEYS).dim(), footer);
    let names = view.names.then_some(names);
    let paths: Vec<_> = snapshot
        .paths()
        .filter(|(direction, _)| match view.shown {
            Shown::Both => true,
            Shown::Only(only) => only == *direction,
        })
        .collect();
    let areas = if paths.len() > 1 && body.width >= SIDE_BY_SIDE {
        Layout::horizontal(vec![Constraint::Fill(1); paths.len()]).split(body)
    } else {
        Layout::vertical(vec![Constraint::Fill(1); paths.len()]).split(body)
    };
    for ((direction, path), &area) in paths.into_iter().zip(areas.iter()) {
        draw_path(frame, area, direction, path, names);
    }
    if view.help {
        draw_help(frame, body);
    }
}

/// One direction: a bordered table and its latest changes.
fn draw_path(
    frame: &mut Frame<'_>,
    area: Rect,
    direction: Direction,
    path: &LivePath,
    names: Option<&Names>,
) {
    let towards = path
        .destination()
        .map_or_else(String::new, |destination| format!(" to {destination}"));
    let block = Block::bordered()
        .title(format!(" {}{towards} ", direction.to_string().to_uppercase()).bold());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let changes = path.changes();
    let listed = changes.len().min(CHANGES_SHOWN);
    let [table_area, changes_area] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(u16::try_from(listed).unwrap_or(0)),
    ])
    .areas(inner);
    let columns = Columns::fitting(table_area.width);
    let header = Row::new(columns.header()).style(Style::new().bold());
    let table_rows = rows(path).into_iter().map(|row| {
        let cells = columns.cells(row.ttl, row.vertex, names);
        Row::new(cells).style(row_style(row.vertex))
    });
    let table = Table::new(table_rows, columns.widths())
        .header(header)
        .column_spacing(1);
    frame.render_widget(table, table_area);
    let lines: Vec<Line<'_>> = changes[changes.len() - listed..]
        .iter()
        .rev()
        .map(|change| {
            Line::from(format!(
                "{} {}",
                clock(change.at),
                change_text(change, names)
            ))
            .fg(Color::Yellow)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), changes_area);
}

/// Vanished vertices dim, newcomers (found while monitoring) yellow.
fn row_style(vertex: &LiveVertex) -> Style {
    match vertex.state {
        VertexState::Vanished { .. } => Style::new().add_modifier(Modifier::DIM),
        VertexState::Active if !vertex.since.is_zero() => Style::new().fg(Color::Yellow),
        VertexState::Active => Style::new(),
    }
}

/// The columns that fit a width: the RTT extremes and deviation go first
/// when it is narrow, then the sparkline shrinks to what is left.
struct Columns {
    extremes: bool,
    history: u16,
}

impl Columns {
    const HOST: u16 = 15;
    const NUMBER: u16 = 6;

    fn fitting(width: u16) -> Self {
        // TTL, host, loss, sent, last, avg (and best, worst, stdev), and
        // one space between columns.
        let base = 3 + Self::HOST + Self::NUMBER + 4 + 2 * Self::NUMBER + 6;
        let extremes = width >= base + 3 * (Self::NUMBER + 1) + 11;
        let used = base + if extremes { 3 * (Self::NUMBER + 1) } else { 0 };
        // The host column takes whatever the sparkline leaves.
        let history = width.saturating_sub(used + 1).min(20);
        Self { extremes, history }
    }

    fn widths(&self) -> Vec<Constraint> {
        let number = Constraint::Length(Self::NUMBER);
        let mut widths = vec![
            Constraint::Length(3),
            Constraint::Fill(1),
            number,
            Constraint::Length(4),
            number,
            number,
        ];
        if self.extremes {
            widths.extend([number; 3]);
        }
        widths.push(Constraint::Length(self.history));
        widths
    }

    fn header(&self) -> Vec<Cell<'static>> {
        let mut header = vec!["TTL", "Host", " Loss%", " Snt", "  Last", "   Avg"];
        if self.extremes {
            header.extend(["  Best", "  Wrst", " StDev"]);
        }
        header.push("History");
        header.into_iter().map(Cell::from).collect()
    }

    fn cells(
        &self,
        ttl: Option<u8>,
        vertex: &LiveVertex,
        names: Option<&Names>,
    ) -> Vec<Cell<'static>> {
        let stats = &vertex.stats;
        let number = |text: String| Cell::from(format!("{text:>6}"));
        let loss = stats.loss_percent();
        let mut cells = vec![
            Cell::from(ttl.map_or_else(String::new, |ttl| format!("{ttl:>3}"))),
            Cell::from(host(vertex, names)),
            number(format!("{loss:.1}")).style(if loss > 0.0 {
                Style::new().fg(Color::Red)
            } else {
                Style::new()
            }),
            Cell::from(format!("{:>4}", stats.sent())),
            number(millis(stats.last())),
            number(millis(stats.mean())),
        ];
        if self.extremes {
            cells.extend([
                number(millis(stats.best())),
                number(millis(stats.worst())),
                number(millis(stats.stdev())),
            ]);
        }
        cells.push(Cell::from(sparkline(vertex, usize::from(self.history))));
        cells
    }
}

/// The latest `width` results as bars from the lowest to the highest RTT
/// among them, `×` for a probe lost.
fn sparkline(vertex: &LiveVertex, width: usize) -> Line<'static> {
    let history: Vec<_> = vertex.stats.history().collect();
    let shown = &history[history.len().saturating_sub(width)..];
    let answered = shown.iter().flatten();
    let (Some(low), Some(high)) = (answered.clone().min(), answered.max()) else {
        return Line::from(Span::from(LOST.to_string().repeat(shown.len())).fg(Color::Red));
    };
    let span = (*high - *low).as_secs_f64();
    let spans: Vec<Span<'static>> = shown
        .iter()
        .map(|result| match result {
            Some(rtt) => {
                let level = if span > 0.0 {
                    ((rtt.as_secs_f64() - low.as_secs_f64()) / span * 7.0).round() as usize
                } else {
                    0
                };
                Span::from(LEVELS[level.min(7)].to_string()).fg(Color::Green)
            }
            None => Span::from(LOST.to_string()).fg(Color::Red),
        })
        .collect();
    Line::from(spans)
}

/// The keys, in a box over the middle of `area`.
fn draw_help(frame: &mut Frame<'_>, area: Rect) {
    let width = HELP.iter().map(|line| line.len()).max().unwrap_or(0) as u16 + 4;
    let height = HELP.len() as u16 + 2;
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(row);
    frame.render_widget(Clear, popup);
    let lines: Vec<Line<'_>> = HELP.iter().map(|line| Line::from(*line)).collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" keys ")),
        popup,
    );
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ratatui::{Terminal, backend::TestBackend};

    use super::*;
    use crate::{
        output::live::rows::tests::history, trace::fake_network::host as address,
        trace::live::VANISH_AFTER,
    };

    fn screen(width: u16, height: u16, snapshot: &Snapshot, view: &ViewOptions) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
        let names = Names::from([(address(1), vec!["r1.lab.example".to_owned()])]);
        terminal
            .draw(|frame| draw(frame, snapshot, &names, view))
            .expect("drawn");
        terminal.backend().to_string()
    }

    fn two_way(forward: LivePath, reverse: LivePath, cycles: u64) -> Snapshot {
        Snapshot {
            cycle: cycles,
            elapsed: Duration::from_secs(cycles - 1),
            forward: Some(forward),
            reverse: Some(reverse),
        }
    }

    fn view() -> ViewOptions {
        ViewOptions {
            title: "two-way udp 10.0.0.9".to_owned(),
            ..ViewOptions::default()
        }
    }

    #[test]
    fn clean_paths_stacked_in_80_by_24() {
        let snapshot = two_way(history(12, false, false), history(12, false, false), 12);
        insta::assert_snapshot!(screen(80, 24, &snapshot, &view()));
    }

    #[test]
    fn loss_on_the_way_back_only_side_by_side_in_a_wide_terminal() {
        let snapshot = two_way(history(12, false, false), history(12, true, false), 12);
        insta::assert_snapshot!(screen(180, 16, &snapshot, &view()));
    }

    #[test]
    fn a_path_change_is_flagged_with_its_time() {
        let cycles = 4 + u64::from(VANISH_AFTER);
        let snapshot = two_way(
            history(cycles, false, true),
            history(cycles, false, false),
            cycles,
        );
        let view = ViewOptions {
            shown: Shown::Only(Direction::Forward),
            names: true,
            paused: true,
            ..view()
        };
        insta::assert_snapshot!(screen(100, 14, &snapshot, &view));
    }

    #[test]
    fn a_narrow_terminal_keeps_the_essentials_and_the_help_box() {
        let snapshot = two_way(history(5, true, false), history(5, false, false), 5);
        let view = ViewOptions {
            help: true,
            ..view()
        };
        insta::assert_snapshot!(screen(60, 24, &snapshot, &view));
    }

    #[test]
    fn the_direction_key_cycles_through_the_choices() {
        let mut shown = Shown::default();
        let mut seen = Vec::new();
        for _ in 0..3 {
            shown = shown.next();
            seen.push(shown);
        }
        assert_eq!(
            seen,
            [
                Shown::Only(Direction::Forward),
                Shown::Only(Direction::Reverse),
                Shown::Both
            ]
        );
    }
}
