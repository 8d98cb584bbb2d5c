//! The final tables as CSV: one line per vertex of each direction, after
//! a header; RTTs in milliseconds, empty when there is none.

use super::rows::rows;
use crate::{output::Names, trace::live::Snapshot, trace::live::VertexState};

const HEADER: &str = "direction,ttl,address,name,flow,state,sent,received,loss_percent,last_ms,avg_ms,best_ms,worst_ms,stdev_ms\n";

/// Every vertex of `snapshot`, with its name from `names` when known.
pub(crate) fn render_csv(snapshot: &Snapshot, names: Option<&Names>) -> String {
    let ms = |duration: Option<std::time::Duration>| {
        duration.map_or_else(String::new, |duration| {
            format!("{:.3}", duration.as_secs_f64() * 1000.0)
        })
    };
    let mut out = HEADER.to_owned();
    for (direction, path) in snapshot.paths() {
        let mut ttl = 0;
        for row in rows(path) {
            ttl = row.ttl.unwrap_or(ttl);
            let vertex = row.vertex;
            let stats = &vertex.stats;
            let name = vertex
                .address
                .and_then(|address| names?.get(&address)?.first().cloned())
                .unwrap_or_default();
            let state = match vertex.state {
                VertexState::Active => "active",
                VertexState::Vanished { .. } => "vanished",
            };
            // Names are host names: no comma or quote to escape.
            out.push_str(&format!(
                "{direction},{ttl},{},{name},{},{state},{},{},{:.1},{},{},{},{},{}\n",
                vertex.address.map(|a| a.to_string()).unwrap_or_default(),
                vertex.flow,
                stats.sent(),
                stats.received(),
                stats.loss_percent(),
                ms(stats.last()),
                ms(stats.mean()),
                ms(stats.best()),
                ms(stats.worst()),
                ms(stats.stdev()),
            ));
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
    fn one_line_per_vertex_of_each_direction() {
        let snapshot = Snapshot {
            cycle: 4,
            elapsed: Duration::from_secs(3),
            forward: Some(history(4, false, false)),
            reverse: Some(history(4, true, false)),
        };
        let csv = render_csv(&snapshot, None);
        let lines: Vec<_> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + 2 * 4);
        assert_eq!(
            lines[1],
            "forward,1,10.0.0.1,,7,active,4,4,0.0,0.800,0.875,0.800,1.000,0.083"
        );
        assert!(
            lines[6].starts_with("reverse,2,10.0.0.2,,7,active,4,2,50.0,"),
            "{}",
            lines[6]
        );
        assert!(lines[3].starts_with("forward,2,10.0.0.3,"), "{}", lines[3]);
    }
}
