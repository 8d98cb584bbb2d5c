//! The live state as JSON: the final state (`--json`) and one line per
//! cycle (`--jsonl`, for collectors). Times are in milliseconds (RTTs) and
//! seconds since monitoring started (events); fields in the README.

use std::net::IpAddr;

use serde::Serialize;

use crate::{
    output::Result,
    trace::graph::Direction,
    trace::live::{Change, LivePath, LiveVertex, Snapshot, VertexState},
};

#[derive(Serialize)]
struct SnapshotRecord {
    cycle: u64,
    elapsed_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    forward: Option<PathRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reverse: Option<PathRecord>,
}

#[derive(Serialize)]
struct PathRecord {
    destination: Option<IpAddr>,
    hops: Vec<HopRecord>,
    changes: Vec<ChangeRecord>,
}

#[derive(Serialize)]
struct HopRecord {
    ttl: u8,
    vertices: Vec<VertexRecord>,
}

#[derive(Serialize)]
struct VertexRecord {
    address: Option<IpAddr>,
    flow: u16,
    sent: u32,
    received: u32,
    loss_percent: f64,
    last_ms: Option<f64>,
    avg_ms: Option<f64>,
    best_ms: Option<f64>,
    worst_ms: Option<f64>,
    stdev_ms: Option<f64>,
    since_s: f64,
    vanished_s: Option<f64>,
}

#[derive(Serialize)]
struct ChangeRecord {
    at_s: f64,
    ttl: u8,
    kind: &'static str,
    address: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_ttl: Option<u8>,
}

fn ms(duration: Option<std::time::Duration>) -> Option<f64> {
    duration.map(|duration| duration.as_secs_f64() * 1000.0)
}

impl From<&LiveVertex> for VertexRecord {
    fn from(vertex: &LiveVertex) -> Self {
        let stats = &vertex.stats;
        Self {
            address: vertex.address,
            flow: vertex.flow,
            sent: stats.sent(),
            received: stats.received(),
            loss_percent: stats.loss_percent(),
            last_ms: ms(stats.last()),
            avg_ms: ms(stats.mean()),
            best_ms: ms(stats.best()),
            worst_ms: ms(stats.worst()),
            stdev_ms: ms(stats.stdev()),
            since_s: vertex.since.as_secs_f64(),
            vanished_s: match vertex.state {
                VertexState::Active => None,
                VertexState::Vanished { at } => Some(at.as_secs_f64()),
            },
        }
    }
}

impl From<&LivePath> for PathRecord {
    fn from(path: &LivePath) -> Self {
        Self {
            destination: path.destination(),
            hops: path
                .hops()
                .iter()
                .map(|hop| HopRecord {
                    ttl: hop.ttl,
                    vertices: hop.vertices.iter().map(VertexRecord::from).collect(),
                })
                .collect(),
            changes: path
                .changes()
                .iter()
                .map(|change| {
                    let (kind, address, from_ttl) = match change.change {
                        Change::Appeared(address) => ("appeared", address, None),
                        Change::Vanished(address) => ("vanished", address, None),
                        Change::Shifted { address, from } => ("moved", address, Some(from)),
                    };
                    ChangeRecord {
                        at_s: change.at.as_secs_f64(),
                        ttl: change.ttl,
                        kind,
                        address,
                        from_ttl,
                    }
                })
                .collect(),
        }
    }
}

fn record(snapshot: &Snapshot) -> SnapshotRecord {
    let path = |direction| {
        snapshot
            .paths()
            .find(|(which, _)| *which == direction)
            .map(|(_, path)| PathRecord::from(path))
    };
    SnapshotRecord {
        cycle: snapshot.cycle,
        elapsed_s: snapshot.elapsed.as_secs_f64(),
        forward: path(Direction::Forward),
        reverse: path(Direction::Reverse),
    }
}

/// The state as a JSON document (pretty, with a final newline).
pub(crate) fn snapshot_json(snapshot: &Snapshot) -> Result<String> {
    let mut text = serde_json::to_string_pretty(&record(snapshot)).map_err(std::io::Error::from)?;
    text.push('\n');
    Ok(text)
}

/// The state as one line of JSON (with its newline).
pub(crate) fn snapshot_line(snapshot: &Snapshot) -> Result<String> {
    let mut text = serde_json::to_string(&record(snapshot)).map_err(std::io::Error::from)?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::output::live::rows::tests::history;

    #[test]
    fn a_line_per_cycle_holds_every_vertex_and_change() {
        let snapshot = Snapshot {
            cycle: 3,
            elapsed: Duration::from_secs(2),
            forward: Some(history(3, false, true)),
            reverse: None,
        };
        let line = snapshot_line(&snapshot).expect("json");
        assert_eq!(line.lines().count(), 1);
        let value: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(value["cycle"], 3);
        assert!(value.get("reverse").is_none());
        let hop = &value["forward"]["hops"][1];
        assert_eq!(hop["ttl"], 2);
        let addresses: Vec<_> = hop["vertices"]
            .as_array()
            .expect("vertices")
            .iter()
            .map(|vertex| vertex["address"].as_str().expect("address"))
            .collect();
        assert_eq!(addresses, ["10.0.0.2", "10.0.0.3", "10.0.0.5"]);
        assert_eq!(hop["vertices"][2]["since_s"], 2.0);
        let change = &value["forward"]["changes"][0];
        assert_eq!(
            (change["kind"].as_str(), change["address"].as_str()),
            (Some("appeared"), Some("10.0.0.5"))
        );
        let pretty = snapshot_json(&snapshot).expect("json");
        let again: serde_json::Value = serde_json::from_str(&pretty).expect("valid JSON");
        assert_eq!(again, value);
    }
}
