//! What every live output shows of a path: one row per vertex, hop by
//! hop, and the wording of times, addresses and changes.

use std::{net::IpAddr, time::Duration};

use crate::{
    output::Names,
    trace::live::{Change, LivePath, LiveVertex, PathChange, VertexState},
};

/// One vertex in the table; `ttl` only on the first vertex of its hop.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row<'a> {
    pub ttl: Option<u8>,
    pub vertex: &'a LiveVertex,
}

/// The rows of `path`, hop by hop.
pub(super) fn rows(path: &LivePath) -> Vec<Row<'_>> {
    path.hops()
        .iter()
        .flat_map(|hop| {
            hop.vertices
                .iter()
                .enumerate()
                .map(move |(index, vertex)| Row {
                    ttl: (index == 0).then_some(hop.ttl),
                    vertex,
                })
        })
        .collect()
}

/// The vertex as shown: its name (with `names`) or address, `???` when
/// nothing answered; a vanished vertex says since when.
pub(super) fn host(vertex: &LiveVertex, names: Option<&Names>) -> String {
    let shown = match vertex.address {
        Some(address) => name_or_address(address, names),
        None => "???".to_owned(),
    };
    match vertex.state {
        VertexState::Active => shown,
        VertexState::Vanished { at } => format!("{shown} (gone {})", clock(at)),
    }
}

fn name_or_address(address: IpAddr, names: Option<&Names>) -> String {
    names
        .and_then(|names| names.get(&address))
        .and_then(|found| found.first())
        .cloned()
        .unwrap_or_else(|| address.to_string())
}

/// Milliseconds with one decimal, `-` for none.
pub(super) fn millis(duration: Option<Duration>) -> String {
    duration.map_or_else(
        || "-".to_owned(),
        |duration| format!("{:.1}", duration.as_secs_f64() * 1000.0),
    )
}

/// Time since monitoring started, `HH:MM:SS`.
pub(super) fn clock(at: Duration) -> String {
    let seconds = at.as_secs();
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// `TTL 3: 10.0.0.5 appeared`, `… vanished`, `… moved from TTL 2`.
pub(super) fn change_text(change: &PathChange, names: Option<&Names>) -> String {
    let (address, what) = match change.change {
        Change::Appeared(address) => (address, "appeared".to_owned()),
        Change::Vanished(address) => (address, "vanished".to_owned()),
        Change::Shifted { address, from } => (address, format!("moved from TTL {from}")),
    };
    format!(
        "TTL {}: {} {what}",
        change.ttl,
        name_or_address(address, names)
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        trace::fake_network::host as address,
        trace::live::{LivePath, VANISH_AFTER},
        trace::probe::ProbeOutcome,
    };

    fn answer(n: u8, micros: u64) -> ProbeOutcome {
        ProbeOutcome::Answered {
            hop: address(n),
            rtt: Duration::from_micros(micros),
        }
    }

    /// A path of `cycles` cycles: host(1), host(2) and host(3) balanced at
    /// TTL 2, the destination host(9) at TTL 3; `lossy` loses every other
    /// answer of host(2); `reroute` sends host(2)'s flow to host(5) from
    /// the third cycle on.
    pub(crate) fn history(cycles: u64, lossy: bool, reroute: bool) -> LivePath {
        let mut path = LivePath::new(Some(address(9)), true, 30)
            .known(1, Some(address(1)), 7)
            .known(2, Some(address(2)), 7)
            .known(2, Some(address(3)), 8)
            .known(3, Some(address(9)), 7);
        for cycle in 0..cycles {
            for probe in path.probes(cycle) {
                let jitter = cycle % 3 * 100;
                let outcome = match (probe.ttl, probe.flow) {
                    (1, _) => answer(1, 800 + jitter),
                    (2, 7) if reroute && cycle >= 2 => answer(5, 2500 + jitter),
                    (2, 7) if lossy && cycle % 2 == 1 => ProbeOutcome::Lost,
                    (2, 7) => answer(2, 2000 + jitter),
                    (2, _) => answer(3, 2200 + jitter),
                    _ => answer(9, 3000 + jitter * 2),
                };
                path.record(probe, &outcome, Duration::from_secs(cycle));
            }
        }
        path
    }

    #[test]
    fn rows_show_the_ttl_once_per_hop_and_vanished_vertices_say_since_when() {
        let path = history(2 + u64::from(VANISH_AFTER), false, true);
        let shown: Vec<_> = rows(&path)
            .iter()
            .map(|row| (row.ttl, host(row.vertex, None)))
            .collect();
        assert_eq!(
            shown,
            [
                (Some(1), "10.0.0.1".to_owned()),
                (Some(2), "10.0.0.2 (gone 00:00:09)".to_owned()),
                (None, "10.0.0.3".to_owned()),
                (None, "10.0.0.5".to_owned()),
                (Some(3), "10.0.0.9".to_owned()),
            ]
        );
        let names = Names::from([(address(5), vec!["five.example".to_owned()])]);
        assert_eq!(
            change_text(&path.changes()[0], Some(&names)),
            "TTL 2: five.example appeared"
        );
        assert_eq!(clock(Duration::from_secs(3723)), "01:02:03");
        assert_eq!(millis(Some(Duration::from_micros(2460))), "2.5");
        assert_eq!(millis(None), "-");
    }
}
