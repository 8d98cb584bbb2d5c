//! The final tables as text (the report mode, as `mtr --report`): per
//! direction a heading, one line per vertex, then the path changes.

use std::fmt::Write as _;

use super::rows::{change_text, host, millis, rows};
use crate::{output::Names, output::table::aligned, trace::live::Snapshot};

const HEADER: [&str; 9] = [
    "TTL", "Host", "Loss%", "Snt", "Last", "Avg", "Best", "Wrst", "StDev",
];

/// Every direction of `snapshot` as text tables.
pub(crate) fn render_report(snapshot: &Snapshot, names: Option<&Names>) -> String {
    let mut out = String::new();
    for (direction, path) in snapshot.paths() {
        if !out.is_empty() {
            out.push('\n');
        }
        let towards = path
            .destination()
            .map_or_else(String::new, |destination| format!(" to {destination}"));
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{}{towards}, {} cycles",
            direction.to_string().to_uppercase(),
            snapshot.cycle
        );
        let mut table = vec![HEADER.iter().map(|cell| (*cell).to_owned()).collect()];
        for row in rows(path) {
            let stats = &row.vertex.stats;
            table.push(vec![
                row.ttl.map_or_else(String::new, |ttl| ttl.to_string()),
                host(row.vertex, names),
                format!("{:.1}%", stats.loss_percent()),
                stats.sent().to_string(),
                millis(stats.last()),
                millis(stats.mean()),
                millis(stats.best()),
                millis(stats.worst()),
                millis(stats.stdev()),
            ]);
        }
        out.push_str(&aligned(&table));
        for change in path.changes() {
            let _ = writeln!(
                out,
                "changed at {}: {}",
                super::rows::clock(change.at),
                change_text(change, names)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::output::live::rows::tests::history;

    #[test]
    fn a_report_has_a_table_per_direction_and_its_changes() {
        let snapshot = Snapshot {
            cycle: 4,
            elapsed: Duration::from_secs(3),
            forward: Some(history(4, false, true)),
            reverse: Some(history(4, true, false)),
        };
        insta::assert_snapshot!(render_report(&snapshot, None));
    }
}
