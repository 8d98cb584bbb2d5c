//! The JSON `--json` prints instead of the text report: our own schema for
//! scripts, unlike the reference's statistics file (`measurement`).
//!
//! ```text
//! {
//!   "version": 1,                      // of this schema
//!   "target": "example.net",           // TARGET as typed
//!   "address": "192.0.2.1",            // TARGET resolved
//!   "local": "198.51.100.7",           // our address towards it
//!   "protocol": "udp" | "tcp" | "icmp",
//!   "mode": {"name": "singlepath", "flow": 1234, "probes": 3}
//!         | {"name": "multipath", "algorithm": "mda-lite" | "mda",
//!            "confidence": 0.05, "retry": 3,
//!            "min_burst": 20, "max_burst": 500, "single_vertex_opt": false},
//!   "min_ttl": 1, "max_ttl": 15, "abort": 3,
//!   "timeout_s": 2.0, "gap_s": 0.0025,   // seconds
//!   "started": 1795000000.123, "finished": 1795000001.456,  // Unix seconds
//!   "traces": [                        // forward first, only those that ran
//!     {"direction": "forward" | "reverse",
//!      "reached": true,                // the destination answered
//!      "interrupted": false,           // Ctrl-C cut it short
//!      "hops": [                       // TTL 0 is the root
//!        {"ttl": 1, "sent": 3, "answered": 3,
//!         "vertices": [
//!           {"address": "192.0.2.1",   // null for a black hole (***)
//!            "names": ["gw.example.net"],
//!            "rtts_ms": [0.91, 0.87],  // every answer, in arrival order
//!            "flows": [1234],          // flows it answered
//!            "successors": ["203.0.113.5", null]}  // addresses; null: a black hole
//!         ]}]}]
//! }
//! ```

use std::{
    collections::HashMap,
    net::IpAddr,
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

use crate::{
    output::measurement::protocol_name,
    trace::discovery::Mode,
    trace::graph::{Direction, Trace},
    trace::mda::MultipathSettings,
    trace::run::{TraceConfig, Traces},
};

/// The version of this schema; changes that break readers raise it.
pub const REPORT_VERSION: u32 = 1;

/// One run, as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub version: u32,
    pub target: String,
    pub address: IpAddr,
    pub local: IpAddr,
    pub protocol: String,
    pub mode: ModeReport,
    pub min_ttl: u8,
    pub max_ttl: u8,
    pub abort: u32,
    pub timeout_s: f64,
    pub gap_s: f64,
    pub started: f64,
    pub finished: f64,
    pub traces: Vec<TraceReport>,
}

/// The mode and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum ModeReport {
    Singlepath { flow: u16, probes: u16 },
    Multipath(MultipathReport),
}

/// The parameters of a multipath run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultipathReport {
    /// "mda-lite" or "mda".
    pub algorithm: String,
    pub confidence: f64,
    pub retry: u32,
    pub min_burst: usize,
    pub max_burst: usize,
    pub single_vertex_opt: bool,
}

impl From<MultipathSettings> for MultipathReport {
    fn from(settings: MultipathSettings) -> Self {
        Self {
            algorithm: settings.algorithm.to_string(),
            confidence: settings.confidence,
            retry: settings.retry,
            min_burst: settings.min_burst,
            max_burst: settings.max_burst,
            single_vertex_opt: settings.single_vertex_opt,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceReport {
    pub direction: String,
    pub reached: bool,
    pub interrupted: bool,
    pub hops: Vec<HopReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HopReport {
    pub ttl: u8,
    pub sent: u32,
    pub answered: u32,
    /// The hop answered only after a pause: it looked rate-limited.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rate_limited: bool,
    pub vertices: Vec<VertexReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VertexReport {
    /// `None` for a black hole.
    pub address: Option<IpAddr>,
    pub names: Vec<String>,
    pub rtts_ms: Vec<f64>,
    pub flows: Vec<u16>,
    pub successors: Vec<Option<IpAddr>>,
}

impl Report {
    /// The report of a run to `target` probing as `config` says that found
    /// `traces` between
    /// `started` and `finished`, with host names from `names`.
    pub fn new(
        target: &str,
        config: &TraceConfig,
        traces: &Traces,
        names: &HashMap<IpAddr, Vec<String>>,
        started: SystemTime,
        finished: SystemTime,
    ) -> Self {
        let params = &config.params;
        let mode = match params.mode {
            Mode::SinglePath { flow, probes, .. } => ModeReport::Singlepath { flow, probes },
            Mode::MultiPath(settings) => ModeReport::Multipath(settings.into()),
        };
        Self {
            version: REPORT_VERSION,
            target: target.to_owned(),
            address: traces.target,
            local: traces.local,
            protocol: protocol_name(config.protocol).to_owned(),
            mode,
            min_ttl: params.min_ttl,
            max_ttl: params.max_ttl,
            abort: params.abort,
            timeout_s: config.timeout.as_secs_f64(),
            gap_s: config.gap.as_secs_f64(),
            started: unix_seconds(started),
            finished: unix_seconds(finished),
            traces: traces
                .labelled()
                .into_iter()
                .map(|(direction, trace)| trace_report(direction, trace, names))
                .collect(),
        }
    }

    /// The report as indented JSON.
    pub fn to_json(&self) -> crate::output::Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|error| crate::output::OutputError::Io(error.into()))
    }
}

fn trace_report(
    direction: Direction,
    trace: &Trace,
    names: &HashMap<IpAddr, Vec<String>>,
) -> TraceReport {
    let hops = trace
        .hops()
        .iter()
        .map(|hop| HopReport {
            ttl: hop.ttl,
            sent: hop.sent,
            answered: hop.answered,
            rate_limited: hop.rate_limited,
            vertices: hop
                .vertices
                .iter()
                .map(|&id| {
                    let vertex = &trace[id];
                    VertexReport {
                        address: vertex.address(),
                        names: vertex
                            .address()
                            .and_then(|address| names.get(&address).cloned())
                            .unwrap_or_default(),
                        rtts_ms: vertex
                            .rtts
                            .iter()
                            .map(|rtt| rtt.as_secs_f64() * 1000.0)
                            .collect(),
                        flows: vertex.flows.iter().copied().collect(),
                        successors: vertex
                            .successors
                            .iter()
                            .map(|&successor| trace[successor].address())
                            .collect(),
                    }
                })
                .collect(),
        })
        .collect();
    TraceReport {
        direction: direction.to_string(),
        reached: trace.reached(),
        interrupted: trace.interrupted(),
        hops,
    }
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;
    use serde_json::Value;

    use super::*;
    use crate::{
        cli::Cli,
        trace::fake_network::{host, trace},
    };

    fn report(args: &[&str], names: &HashMap<IpAddr, Vec<String>>) -> Report {
        let config = Cli::try_parse_from(std::iter::once("reverse-tr").chain(args.iter().copied()))
            .expect("command line")
            .config()
            .expect("config");
        // Flow 1 sees 1 → 2 (1 answers twice), flow 2 sees 3 → silence.
        let forward = trace(
            &[(&[(1, 1, 1), (1, 1, 3), (3, 2, 2)], 3), (&[(2, 1, 2)], 2)],
            false,
        );
        let traces = Traces {
            target: host(2),
            local: host(100),
            forward: Some(forward),
            reverse: None,
        };
        let started = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        Report::new(
            &config.target,
            &config.trace,
            &traces,
            names,
            started,
            started + Duration::from_secs(2),
        )
    }

    #[test]
    fn the_documented_shape() {
        let names = HashMap::from([(host(1), vec!["gw.example".to_owned()])]);
        let report = report(
            &["forward", "udp", "singlepath", "--flow", "7", "gw"],
            &names,
        );
        let json: Value = serde_json::from_str(&report.to_json().expect("json")).expect("parses");
        assert_eq!(json["version"], 1);
        assert_eq!(json["target"], "gw");
        assert_eq!(json["address"], "10.0.0.2");
        assert_eq!(json["local"], "10.0.0.100");
        assert_eq!(json["protocol"], "udp");
        assert_eq!(
            json["mode"],
            serde_json::json!({"name": "singlepath", "flow": 7, "probes": 3})
        );
        assert_eq!(json["timeout_s"], 2.0);
        assert_eq!(json["started"], 1_700_000_000.25);
        assert_eq!(json["finished"], 1_700_000_002.25);
        let trace = &json["traces"][0];
        assert_eq!(trace["direction"], "forward");
        assert_eq!(trace["reached"], false);
        let hops = trace["hops"].as_array().expect("hops");
        assert_eq!(hops[0]["ttl"], 0);
        let first = &hops[1]["vertices"][0];
        assert_eq!(first["address"], "10.0.0.1");
        assert_eq!(first["names"], serde_json::json!(["gw.example"]));
        assert_eq!(first["rtts_ms"], serde_json::json!([1.0, 3.0]));
        assert_eq!(first["flows"], serde_json::json!([1]));
        assert_eq!(first["successors"], serde_json::json!(["10.0.0.2"]));
        // Flow 2 went silent after 10.0.0.3: a black hole, written null.
        assert_eq!(
            hops[1]["vertices"][1]["successors"],
            serde_json::json!([null])
        );
        assert_eq!(hops[2]["vertices"][1]["address"], Value::Null);
        assert_eq!(hops[1]["sent"], 3);
        assert_eq!(json["traces"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn round_trips_through_serde() {
        let report = report(
            &["two-way", "icmp", "multipath", "10.0.0.2"],
            &HashMap::new(),
        );
        let back: Report =
            serde_json::from_str(&report.to_json().expect("json")).expect("reads back");
        assert_eq!(back, report);
        assert!(matches!(
            back.mode,
            ModeReport::Multipath(MultipathReport { retry: 3, .. })
        ));
    }
}
