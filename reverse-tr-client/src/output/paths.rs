//! Path tables as text (traceflow's two layouts): horizontal, one row per
//! path ID and one column per TTL; vertical, one column per path ID. Cells
//! show the answering address (several joined by `/`, `*` for none);
//! duplicate paths are marked `= path N`, and a summary counts the unique
//! paths and names paths of unequal length.

use std::fmt::Write as _;

use crate::{
    output::table::aligned,
    trace::graph::Direction,
    trace::paths::{Cell, PathTable},
};

/// How a path table is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// One row per path ID, one column per TTL.
    Horizontal,
    /// One column per path ID, one row per TTL.
    Vertical,
}

/// The table of `direction` in `layout`, with its heading and summary.
pub(crate) fn render_paths(direction: Direction, table: &PathTable, layout: Layout) -> String {
    let mut out = format!(
        "{} paths, {} path IDs\n",
        direction.to_string().to_uppercase(),
        table.paths.len()
    );
    let duplicates: Vec<String> = table
        .duplicates()
        .iter()
        .map(|d| d.map_or_else(String::new, |id| format!("= path {id}")))
        .collect();
    let width = table.paths.iter().map(|p| p.hops.len()).max().unwrap_or(0);
    let ttls = (0..width).map(|i| usize::from(table.min_ttl) + i);
    let cell = |hops: &[Cell], i: usize| hops.get(i).map_or_else(String::new, show);
    let rows: Vec<Vec<String>> = match layout {
        Layout::Horizontal => {
            let head = ["path".to_owned(), "flow".to_owned()]
                .into_iter()
                .chain(ttls.map(|ttl| format!("ttl {ttl}")))
                .collect();
            let body = table.paths.iter().zip(&duplicates).map(|(path, same)| {
                [path.id.to_string(), path.flow.to_string()]
                    .into_iter()
                    .chain((0..width).map(|i| cell(&path.hops, i)))
                    .chain([same.clone()])
                    .collect()
            });
            std::iter::once(head).chain(body).collect()
        }
        Layout::Vertical => {
            let column = |name: &str, values: Vec<String>| {
                std::iter::once(name.to_owned())
                    .chain(values)
                    .collect::<Vec<_>>()
            };
            let head = column(
                "path",
                table.paths.iter().map(|p| p.id.to_string()).collect(),
            );
            let flows = column(
                "flow",
                table.paths.iter().map(|p| p.flow.to_string()).collect(),
            );
            let body = ttls.enumerate().map(|(i, ttl)| {
                column(
                    &format!("ttl {ttl}"),
                    table.paths.iter().map(|p| cell(&p.hops, i)).collect(),
                )
            });
            let same = column("same as", duplicates);
            [head, flows]
                .into_iter()
                .chain(body)
                .chain([same])
                .collect()
        }
    };
    out.push_str(&aligned(&rows));
    summarise(table, &mut out);
    out
}

/// `*` for no answer, else the addresses joined by `/`.
fn show(cell: &Cell) -> String {
    if cell.is_empty() {
        "*".to_owned()
    } else {
        cell.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// Unique paths, lengths, paths that never reached the destination.
fn summarise(table: &PathTable, out: &mut String) {
    let ids = |ids: &[u16]| {
        ids.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "{} unique path(s) among {} path IDs",
        table.unique(),
        table.paths.len()
    );
    let lengths = table.lengths();
    if let [(length, reached)] = lengths.iter().collect::<Vec<_>>().as_slice() {
        let _ = writeln!(
            out,
            "all {} path(s) reaching the destination are {length} hops long",
            reached.len()
        );
    } else if lengths.len() > 1 {
        let groups = lengths
            .iter()
            .map(|(length, reached)| format!("{length} hops: path {}", ids(reached)))
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(out, "paths of unequal length: {groups}");
    }
    let unreached: Vec<u16> = table
        .paths
        .iter()
        .filter(|p| !p.reached)
        .map(|p| p.id)
        .collect();
    if !unreached.is_empty() {
        let _ = writeln!(out, "destination not reached by path {}", ids(&unreached));
    }
    if table.interrupted {
        out.push_str("interrupted: the table is partial\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::fake_network::path_table;

    /// Five path IDs over a diamond: 1 and 3 alike, 2 and 5 alike (one
    /// hop longer), 4 never reaching the destination 10.0.0.9.
    fn table() -> PathTable {
        let cells: [&[&str]; 5] = [
            &["10.0.0.1", "10.0.0.2", "10.0.0.9"],
            &["10.0.0.1", "10.0.0.3", "10.0.0.4", "10.0.0.9"],
            &["10.0.0.1", "10.0.0.2", "10.0.0.9"],
            &["10.0.0.1", "", "", ""],
            &["10.0.0.1", "10.0.0.3", "10.0.0.4", "10.0.0.9"],
        ];
        path_table(&cells)
    }

    #[test]
    fn horizontal_layout() {
        insta::assert_snapshot!(render_paths(
            Direction::Forward,
            &table(),
            Layout::Horizontal
        ));
    }

    #[test]
    fn vertical_layout() {
        insta::assert_snapshot!(render_paths(Direction::Reverse, &table(), Layout::Vertical));
    }

    #[test]
    fn equal_lengths_are_summed_up_in_one_line() {
        let mut table = table();
        table.paths.retain(|path| matches!(path.id, 1 | 3));
        let text = render_paths(Direction::Forward, &table, Layout::Horizontal);
        assert!(
            text.ends_with(
                "1 unique path(s) among 2 path IDs\n\
                 all 2 path(s) reaching the destination are 3 hops long\n"
            ),
            "{text}"
        );
    }
}
