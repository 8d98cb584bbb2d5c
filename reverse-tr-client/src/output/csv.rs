//! The hop table as CSV (`-f csv`), for spreadsheets and scripts: a header
//! row, then one row per direction, TTL and vertex, in the order of the
//! text report. Columns:
//!
//! | column | value |
//! |---|---|
//! | `direction` | `forward` or `reverse` |
//! | `ttl` | the hop's TTL (1 is the first router) |
//! | `address` | the vertex's address; empty for a black hole (no answer) |
//! | `names` | its host names, space-separated (empty with `-n`) |
//! | `answers` | answers the vertex gave |
//! | `rtt_min_ms`, `rtt_avg_ms`, `rtt_max_ms` | its RTTs in ms (3 decimals; empty without answers) |
//! | `flows` | the flows that reached it, space-separated |
//! | `hop_sent`, `hop_answered` | probes sent at this TTL and answered (every vertex of a hop repeats them) |
//! | `destination` | `true` on the row of the destination |

use std::{collections::HashMap, net::IpAddr, time::Duration};

use crate::{
    output::OutputError,
    output::Result,
    trace::graph::{Direction, Trace},
};

const HEADER: [&str; 12] = [
    "direction",
    "ttl",
    "address",
    "names",
    "answers",
    "rtt_min_ms",
    "rtt_avg_ms",
    "rtt_max_ms",
    "flows",
    "hop_sent",
    "hop_answered",
    "destination",
];

/// Renders `traces` as CSV; the root of each trace (TTL 0, the prober
/// itself) is left out.
pub(crate) fn render_csv(
    traces: &[(Direction, &Trace)],
    names: &HashMap<IpAddr, Vec<String>>,
) -> Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |error: csv::Error| OutputError::Io(std::io::Error::other(error));
    writer.write_record(HEADER).map_err(failed)?;
    for &(direction, trace) in traces {
        let last = trace.hops().len().saturating_sub(1);
        for (index, hop) in trace
            .hops()
            .iter()
            .enumerate()
            .filter(|(_, hop)| hop.ttl > 0)
        {
            for &id in &hop.vertices {
                let vertex = &trace[id];
                let address = vertex.address();
                let rtt = vertex.rtt_summary();
                let ms = |pick: fn(&crate::trace::graph::RttSummary) -> Duration| {
                    rtt.as_ref()
                        .map(|rtt| format!("{:.3}", pick(rtt).as_secs_f64() * 1000.0))
                        .unwrap_or_default()
                };
                let destination = trace.reached() && index == last && !vertex.is_black_hole();
                writer
                    .write_record([
                        direction.to_string(),
                        hop.ttl.to_string(),
                        address.map(|a| a.to_string()).unwrap_or_default(),
                        address
                            .and_then(|a| names.get(&a))
                            .map(|names| names.join(" "))
                            .unwrap_or_default(),
                        vertex.rtts.len().to_string(),
                        ms(|rtt| rtt.min),
                        ms(|rtt| rtt.mean),
                        ms(|rtt| rtt.max),
                        vertex
                            .all_flows()
                            .map(|flow| flow.to_string())
                            .collect::<Vec<_>>()
                            .join(" "),
                        hop.sent.to_string(),
                        hop.answered.to_string(),
                        destination.to_string(),
                    ])
                    .map_err(failed)?;
            }
        }
    }
    let bytes = writer
        .into_inner()
        .map_err(|error| OutputError::Io(std::io::Error::other(error.to_string())))?;
    String::from_utf8(bytes).map_err(|error| OutputError::Io(std::io::Error::other(error)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::fake_network::{host, trace};

    #[test]
    fn one_row_per_direction_ttl_and_vertex() {
        // TTL 1: host 1 on flows 1 and 2; TTL 2: silent; TTL 3: host 200
        // (the destination), flows 1 and 2.
        let forward = trace(
            &[
                (&[(1, 1, 1), (1, 2, 3)], 2),
                (&[], 2),
                (&[(200, 1, 9), (200, 2, 11)], 3),
            ],
            true,
        );
        let reverse = trace(&[(&[(7, 5, 2)], 1)], false);
        let names = HashMap::from([(
            host(1),
            vec!["gw.example.net".to_owned(), "gw,2.example.net".to_owned()],
        )]);
        let csv = render_csv(
            &[
                (Direction::Forward, &forward),
                (Direction::Reverse, &reverse),
            ],
            &names,
        )
        .expect("csv");
        assert_eq!(
            csv,
            "direction,ttl,address,names,answers,rtt_min_ms,rtt_avg_ms,rtt_max_ms,flows,hop_sent,hop_answered,destination\n\
             forward,1,10.0.0.1,\"gw.example.net gw,2.example.net\",2,1.000,2.000,3.000,1 2,2,2,false\n\
             forward,2,,,0,,,,1 2,2,0,false\n\
             forward,3,10.0.0.200,,2,9.000,10.000,11.000,1 2,3,2,true\n\
             reverse,1,10.0.0.7,,1,2.000,2.000,2.000,5,1,1,false\n"
        );
    }
}
