//! A fault survey's report: text for people, JSON for programs.
//!
//! Text: a heading, one line per suspect link (last good hop → first bad
//! hop, with its flows), then a table of the suspect flows with
//! received/sent per TTL; "no suspect" when there is none.

use std::fmt::Write as _;

use crate::{
    output::Result, output::table::aligned, trace::fault::FaultReport, trace::graph::Direction,
};

/// The report of `direction` as text.
pub(crate) fn render_fault(direction: Direction, report: &FaultReport) -> String {
    let probes: u32 = report
        .flows
        .iter()
        .flat_map(|flow| flow.hops.iter().map(|hop| hop.sent))
        .sum();
    let mut out = format!(
        "{} fault isolation: {} flows, {} rounds, {probes} probes\n",
        direction.to_string().to_uppercase(),
        report.flows.len(),
        report.rounds
    );
    let address = |a: Option<std::net::IpAddr>| a.map_or_else(|| "*".to_owned(), |a| a.to_string());
    let links = report.links();
    if links.is_empty() {
        out.push_str("no suspect: no flow loses markedly more after a hop than before it\n");
    }
    for link in &links {
        let flows: Vec<String> = link.flows.iter().map(ToString::to_string).collect();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "suspect: {} -> {} ({} flow(s): {})",
            address(link.last_good_hop),
            address(link.first_bad_hop),
            link.flows.len(),
            flows.join(", ")
        );
    }
    if !report.suspects.is_empty() {
        let width = report.flows.iter().map(|f| f.hops.len()).max().unwrap_or(0);
        let first = report
            .flows
            .iter()
            .find_map(|f| f.hops.first())
            .map_or(1, |hop| usize::from(hop.ttl));
        let head = ["flow".to_owned()]
            .into_iter()
            .chain((first..first + width).map(|ttl| format!("ttl {ttl}")))
            .chain(["answered up to".to_owned()])
            .collect();
        let rows = report.suspects.iter().filter_map(|suspect| {
            let flow = report.flows.iter().find(|f| f.flow == suspect.flow)?;
            let counts = flow
                .hops
                .iter()
                .map(|hop| format!("{}/{}", hop.received, hop.sent));
            let good = format!(
                "ttl {} {} ({:.0} % before, {:.0} % after)",
                suspect.last_good_ttl,
                address(suspect.last_good_hop),
                suspect.before * 100.0,
                suspect.after * 100.0
            );
            let padding = width.saturating_sub(flow.hops.len());
            Some(
                [suspect.flow.to_string()]
                    .into_iter()
                    .chain(counts)
                    .chain(std::iter::repeat_n(String::new(), padding))
                    .chain([good])
                    .collect(),
            )
        });
        let rows: Vec<Vec<String>> = std::iter::once(head).chain(rows).collect();
        out.push_str(&aligned(&rows));
    }
    if report.interrupted {
        out.push_str("interrupted: the counts are partial\n");
    }
    out
}

/// The reports as one JSON object: `{"forward": report, "reverse": report}`
/// with the directions traced.
pub(crate) fn fault_json(reports: &[(Direction, &FaultReport)]) -> Result<String> {
    let object: serde_json::Map<String, serde_json::Value> = reports
        .iter()
        .map(|(direction, report)| {
            let name = direction.to_string();
            serde_json::to_value(report).map(|value| (name, value))
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(|error| crate::output::OutputError::Io(std::io::Error::other(error)))?;
    let mut text = serde_json::to_string_pretty(&object)
        .map_err(|error| crate::output::OutputError::Io(std::io::Error::other(error)))?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::trace::fault::{FlowCounts, HopCount};

    /// Three flows over five TTLs; 50002 and 50003 lose 30 % after 10.0.0.2.
    fn report() -> FaultReport {
        let flow = |flow, via: u8, received: [u32; 5]| FlowCounts {
            flow,
            hops: (1..)
                .zip(received)
                .map(|(ttl, received)| HopCount {
                    ttl,
                    sent: 40,
                    received,
                    addresses: vec![IpAddr::V4(Ipv4Addr::new(
                        10,
                        0,
                        if ttl == 2 { via } else { 0 },
                        ttl,
                    ))],
                })
                .collect(),
        };
        let flows = vec![
            flow(50001, 1, [40; 5]),
            flow(50002, 0, [40, 40, 28, 27, 29]),
            flow(50003, 0, [40, 40, 30, 26, 28]),
        ];
        FaultReport::new(40, flows, false)
    }

    #[test]
    fn text_report() {
        insta::assert_snapshot!(render_fault(Direction::Forward, &report()));
    }

    #[test]
    fn text_report_without_suspects() {
        let mut report = report();
        report.flows.truncate(1);
        let report = FaultReport::new(40, report.flows, false);
        insta::assert_snapshot!(render_fault(Direction::Reverse, &report));
    }

    #[test]
    fn json_report() {
        let report = report();
        let text = fault_json(&[(Direction::Forward, &report)]).expect("JSON");
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let forward = &value["forward"];
        assert_eq!(forward["rounds"], 40);
        assert_eq!(forward["flows"].as_array().map(Vec::len), Some(3));
        assert_eq!(forward["flows"][1]["hops"][2]["received"], 28);
        let suspects: Vec<_> = forward["suspects"]
            .as_array()
            .expect("suspects")
            .iter()
            .map(|s| {
                (
                    s["flow"].clone(),
                    s["last_good_ttl"].clone(),
                    s["last_good_hop"].clone(),
                )
            })
            .collect();
        assert_eq!(
            suspects,
            [
                (50002.into(), 2.into(), "10.0.0.2".into()),
                (50003.into(), 2.into(), "10.0.0.2".into())
            ]
        );
    }
}
