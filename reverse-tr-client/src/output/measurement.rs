//! The measurement record (PROTOCOL.md §11.15) in the reference's schema:
//! the statistics file of `--store-json` (`<output>.json`, indented by four
//! spaces) and, compact, the body `--transmit` posts. Built from the
//! unmerged traces, so tooling written for the reference reads ours.

use std::{collections::HashMap, net::IpAddr};

use reverse_tr_common::ProbeProtocol;
use serde::{Serialize, Serializer, ser::SerializeMap};

use crate::{
    output::OutputError,
    output::Result,
    trace::discovery::Mode,
    trace::graph::{Direction, Trace, VertexId},
    trace::mda::MultipathSettings,
    trace::merge::VertexClass,
    trace::run::TraceConfig,
};

/// One measurement: the parameters of the run and its raw traces. Field
/// order is the reference's key order.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// TARGET as typed, not the resolved address.
    target: String,
    protocol: &'static str,
    min_ttl: u8,
    max_ttl: u8,
    #[serde(flatten)]
    mode: ModeRecord,
    /// Seconds between probes.
    inter: Seconds,
    timeout: Seconds,
    abort: u32,
    traces: Traces,
    hostnames: Hostnames,
}

/// The mode's parameters under a key named after the mode.
#[derive(Debug, Clone, Serialize)]
enum ModeRecord {
    #[serde(rename = "singlepath")]
    SinglePath { flow: u16, probes: u16 },
    #[serde(rename = "multipath")]
    MultiPath(MultipathRecord),
}

/// The multipath parameters, under the reference's names.
#[derive(Debug, Clone, Serialize)]
struct MultipathRecord {
    confidence: f64,
    retry: u32,
    min_burst: usize,
    max_burst: usize,
    single_vertex_probe_opt: bool,
}

impl From<MultipathSettings> for MultipathRecord {
    fn from(settings: MultipathSettings) -> Self {
        Self {
            confidence: settings.confidence,
            retry: settings.retry,
            min_burst: settings.min_burst,
            max_burst: settings.max_burst,
            single_vertex_probe_opt: settings.single_vertex_opt,
        }
    }
}

/// Seconds, written as an integer when whole (the reference's default
/// timeout appears as `2`, its default gap as `0.1`).
#[derive(Debug, Clone, Copy)]
struct Seconds(f64);

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let whole = self.0.trunc();
        // Whole numbers within i64 are exact; anything else stays a float.
        if whole == self.0 && whole.abs() < 9.0e15 {
            serializer.serialize_i64(whole as i64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

/// Only the directions that ran, forward first.
#[derive(Debug, Clone, Serialize)]
struct Traces {
    #[serde(skip_serializing_if = "Option::is_none")]
    forward: Option<Vec<VertexRecord>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reverse: Option<Vec<VertexRecord>>,
}

#[derive(Debug, Clone, Serialize)]
struct VertexRecord {
    /// Unique within the file.
    id: u64,
    /// Equal for equal vertices (§11.7), in both traces.
    hash: i64,
    /// The address, or `***` for a black hole.
    address: String,
    /// Milliseconds, in arrival order.
    rtt: Vec<f64>,
    /// The real flow set; shadow flows are not stored.
    flows: Vec<u16>,
    successors: Vec<u64>,
}

/// Host names by address, in the order the addresses first appear.
#[derive(Debug, Clone)]
struct Hostnames(Vec<(IpAddr, Vec<String>)>);

impl Serialize for Hostnames {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (address, names) in &self.0 {
            map.serialize_entry(&address.to_string(), names)?;
        }
        map.end()
    }
}

impl Measurement {
    /// The record of a run to `target` probing as `config` says that found
    /// `traces` (forward first);
    /// `names` from reverse DNS (empty with `-n`).
    pub fn new(
        target: &str,
        config: &TraceConfig,
        traces: &[(Direction, &Trace)],
        names: &HashMap<IpAddr, Vec<String>>,
    ) -> Self {
        let params = &config.params;
        let mode = match params.mode {
            Mode::SinglePath { flow, probes, .. } => ModeRecord::SinglePath { flow, probes },
            Mode::MultiPath(settings) => ModeRecord::MultiPath(settings.into()),
        };
        let mut next_id = 1;
        let mut records = Traces {
            forward: None,
            reverse: None,
        };
        let mut hostnames: Vec<(IpAddr, Vec<String>)> = Vec::new();
        for &(direction, trace) in traces {
            let vertices = vertex_records(trace, &mut next_id);
            for address in trace
                .preorder()
                .iter()
                .filter_map(|&id| trace[id].address())
            {
                let known = hostnames.iter().any(|(seen, _)| *seen == address);
                match names.get(&address) {
                    Some(list) if !known && !list.is_empty() => {
                        hostnames.push((address, list.clone()));
                    }
                    _ => {}
                }
            }
            match direction {
                Direction::Forward => records.forward = Some(vertices),
                Direction::Reverse => records.reverse = Some(vertices),
            }
        }
        Self {
            target: target.to_owned(),
            protocol: protocol_name(config.protocol),
            min_ttl: params.min_ttl,
            max_ttl: params.max_ttl,
            mode,
            inter: Seconds(config.gap.as_secs_f64()),
            timeout: Seconds(config.timeout.as_secs_f64()),
            abort: params.abort,
            traces: records,
            hostnames: Hostnames(hostnames),
        }
    }

    /// Compact JSON, the body of a submission (§11.16).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|error| OutputError::Io(error.into()))
    }

    /// JSON indented by four spaces, as the reference's statistics file.
    pub fn to_json_pretty(&self) -> Result<String> {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        self.serialize(&mut serializer)
            .map_err(|error| OutputError::Io(error.into()))?;
        String::from_utf8(out).map_err(|error| OutputError::Io(std::io::Error::other(error)))
    }

    /// Writes the statistics file `<output>.json` and returns its path.
    pub fn store(&self, output: &str) -> Result<String> {
        let path = format!("{output}.json");
        std::fs::write(&path, self.to_json_pretty()?).map_err(|source| OutputError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

pub(crate) fn protocol_name(protocol: ProbeProtocol) -> &'static str {
    match protocol {
        ProbeProtocol::Udp => "udp",
        ProbeProtocol::Tcp => "tcp",
        ProbeProtocol::Icmp => "icmp",
    }
}

/// The vertices reachable from the root, depth-first pre-order, numbered
/// from `next_id` on.
fn vertex_records(trace: &Trace, next_id: &mut u64) -> Vec<VertexRecord> {
    let order = trace.preorder();
    let first = *next_id;
    *next_id += order.len() as u64;
    let id_of = |id: VertexId| {
        let index = order.iter().position(|&other| other == id).unwrap_or(0);
        first + index as u64
    };
    order
        .iter()
        .map(|&id| {
            let vertex = &trace[id];
            VertexRecord {
                id: id_of(id),
                hash: class_hash(VertexClass::of(trace, id)),
                address: vertex
                    .address()
                    .map_or_else(|| "***".to_owned(), |address| address.to_string()),
                rtt: vertex
                    .rtts
                    .iter()
                    .map(|rtt| rtt.as_secs_f64() * 1000.0)
                    .collect(),
                flows: vertex.flows.iter().copied().collect(),
                successors: vertex.successors.iter().map(|&s| id_of(s)).collect(),
            }
        })
        .collect()
}

/// A stable 64-bit FNV-1a hash of a vertex's class: equal vertices hash
/// equal, in every run (the reference's differs from run to run).
fn class_hash(class: VertexClass) -> i64 {
    let octets = match class.address {
        IpAddr::V4(address) => address.to_ipv6_mapped().octets(),
        IpAddr::V6(address) => address.octets(),
    };
    let holes = class.holes.to_be_bytes();
    let hash = holes
        .iter()
        .chain(&octets)
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    i64::from_ne_bytes(hash.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, path::PathBuf, time::Duration};

    use clap::Parser;
    use serde_json::Value;

    use super::*;
    use crate::cli::Cli;

    /// `shared/vectors` beside the repository, or `REVERSE_TR_VECTORS`.
    fn vectors() -> PathBuf {
        std::env::var_os("REVERSE_TR_VECTORS").map_or_else(
            || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors")),
            PathBuf::from,
        )
    }

    fn reference(name: &str) -> String {
        let path = vectors().join(name);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
    }

    /// TARGET and the engine's configuration of a command line.
    struct Parsed {
        target: String,
        trace: TraceConfig,
    }

    fn config(args: &str) -> Parsed {
        let words = std::iter::once("reverse-tr").chain(args.split_whitespace());
        let config = Cli::try_parse_from(words)
            .expect("command line")
            .config()
            .expect("config");
        Parsed {
            target: config.target,
            trace: config.trace,
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    /// A trace from `root` linked hop by hop as discovery does: each hop
    /// lists its answers as (address, flows), each flow answered once.
    fn trace(root: &str, hops: &[&[(&str, &[u16])]]) -> Trace {
        let mut trace = Trace::new(ip(root));
        let all = hops
            .iter()
            .flat_map(|hop| hop.iter().flat_map(|(_, f)| f.iter()));
        let root_id = trace.root();
        trace.vertex_mut(root_id).flows.extend(all.copied());
        let mut previous = 0;
        for (ttl, answers) in (1u8..).zip(hops) {
            let hop = trace.push_hop(ttl);
            for &(address, flows) in *answers {
                for &flow in flows {
                    let rtt = Duration::from_micros(u64::from(ttl) * 100 + u64::from(flow % 7));
                    trace.record(hop, ip(address), flow, rtt);
                }
            }
            trace.connect(previous, hop);
            trace.add_black_holes(previous, hop);
            previous = hop;
        }
        trace.prune();
        trace
    }

    const SINGLE: &[u16] = &[1234, 1234, 1234];
    const LEFT: &[u16] = &[1, 3, 5, 7, 9, 11];
    const RIGHT: &[u16] = &[2, 4, 6, 8, 10, 12];
    const ALL: &[u16] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

    /// The lab of the vectors' README, from `from` to `to` through `hops`;
    /// a hop of two routers is the diamond, of which one flow sees the second.
    fn lab_path(from: &str, hops: &[&[&str]], to: &str, multipath: bool) -> Trace {
        let mut answers: Vec<Vec<(&str, &[u16])>> = hops
            .iter()
            .map(|routers| match (routers, multipath) {
                ([only], true) => vec![(*only, ALL)],
                ([only], false) => vec![(*only, SINGLE)],
                ([left, right], true) => vec![(*left, LEFT), (*right, RIGHT)],
                (routers, _) => vec![(routers[routers.len() - 1], SINGLE)],
            })
            .collect();
        answers.push(vec![(to, if multipath { ALL } else { SINGLE })]);
        let hops: Vec<&[(&str, &[u16])]> = answers.iter().map(Vec::as_slice).collect();
        trace(from, &hops)
    }

    const V4: &[&[&str]] = &[
        &["10.255.0.1"],
        &["10.255.0.21", "10.255.0.22"],
        &["10.255.0.3"],
        &["10.255.0.4"],
    ];
    const V4_BACK: &[&[&str]] = &[
        &["10.255.0.4"],
        &["10.255.0.3"],
        &["10.255.0.21", "10.255.0.22"],
        &["10.255.0.1"],
    ];
    const V6_BACK: &[&[&str]] = &[
        &["fd00:255::4"],
        &["fd00:255::3"],
        &["fd00:255::21", "fd00:255::22"],
        &["fd00:255::1"],
    ];

    /// Our statistics file for the run each reference file recorded.
    fn ours(vector: &str) -> String {
        let (client, server) = ("10.0.1.100", "10.0.7.200");
        let two_way = |multipath| {
            vec![
                (Direction::Forward, lab_path(client, V4, server, multipath)),
                (
                    Direction::Reverse,
                    lab_path(server, V4_BACK, client, multipath),
                ),
            ]
        };
        let (args, traces) = match vector {
            "reference-v4-two-way-udp-singlepath-flow1234.json" => (
                "--inter 0.1 two-way udp singlepath --flow 1234 10.0.7.200",
                two_way(false),
            ),
            "reference-v4-two-way-udp-multipath.json" => (
                "--inter 0.1 two-way udp multipath 10.0.7.200",
                two_way(true),
            ),
            "reference-v6-reverse-tcp-multipath.json" => (
                "--inter 0.1 reverse tcp multipath fd00:0:7::200",
                vec![(
                    Direction::Reverse,
                    lab_path("fd00:0:7::200", V6_BACK, "fd00:0:1::100", true),
                )],
            ),
            other => panic!("no comparable trace for {other}"),
        };
        let config = config(args);
        let traces: Vec<_> = traces
            .iter()
            .map(|(direction, trace)| (*direction, trace))
            .collect();
        let measurement = Measurement::new(&config.target, &config.trace, &traces, &HashMap::new());
        measurement.to_json_pretty().expect("json")
    }

    /// What a JSON value is, telling integers from other numbers.
    fn kind(value: &Value) -> &'static str {
        match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_f64() => "float",
            Value::Number(_) => "integer",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Asserts `ours` has the shape of `reference` at every level: the same
    /// kinds, the same keys; every element of an array shaped like the
    /// reference's first one (empty arrays say nothing about elements).
    fn assert_same_schema(ours: &Value, reference: &Value, at: &str) {
        assert_eq!(kind(ours), kind(reference), "kind of {at}");
        match (ours, reference) {
            (Value::Object(a), Value::Object(b)) => {
                let keys = |map: &serde_json::Map<String, Value>| {
                    let mut keys: Vec<String> = map.keys().cloned().collect();
                    keys.sort();
                    keys
                };
                assert_eq!(keys(a), keys(b), "keys of {at}");
                for (key, value) in a {
                    assert_same_schema(value, &b[key], &format!("{at}.{key}"));
                }
            }
            (Value::Array(a), Value::Array(b)) => {
                if let Some(model) = b.first() {
                    for (index, element) in a.iter().enumerate() {
                        assert_same_schema(element, model, &format!("{at}[{index}]"));
                    }
                }
            }
            _ => {}
        }
    }

    /// The keys in the order they appear in the text, with their indentation.
    fn key_order(text: &str) -> Vec<&str> {
        text.lines()
            .filter_map(|line| {
                let trimmed = line.trim_start();
                trimmed
                    .starts_with('"')
                    .then(|| {
                        trimmed
                            .find("\": ")
                            .map(|end| &line[..line.len() - trimmed.len() + end + 1])
                    })
                    .flatten()
            })
            .collect()
    }

    /// The text with every number outside strings written as `0`: the
    /// layout without the values.
    fn skeleton(text: &str) -> String {
        let mut out = String::new();
        let mut in_string = false;
        let mut in_number = false;
        for character in text.chars() {
            if in_string {
                in_string = character != '"';
                out.push(character);
            } else if character.is_ascii_digit() || "-+.eE".contains(character) {
                if !in_number {
                    out.push('0');
                    in_number = true;
                }
            } else {
                in_number = false;
                in_string = character == '"';
                out.push(character);
            }
        }
        out
    }

    #[test]
    fn statistics_files_load_with_the_reference_schema() {
        for vector in [
            "reference-v4-two-way-udp-singlepath-flow1234.json",
            "reference-v4-two-way-udp-multipath.json",
            "reference-v6-reverse-tcp-multipath.json",
        ] {
            let reference_text = reference(vector);
            let ours_text = ours(vector);
            let reference: Value = serde_json::from_str(&reference_text).expect(vector);
            let ours: Value = serde_json::from_str(&ours_text).expect("our JSON");
            assert_same_schema(&ours, &reference, vector);
            assert_eq!(
                key_order(&ours_text),
                key_order(&reference_text),
                "{vector}"
            );
            // Same run parameters, written the same way, up to the traces.
            let head = |text: &str| text[..text.find("\"traces\"").expect("traces")].to_owned();
            assert_eq!(head(&ours_text), head(&reference_text), "{vector}");
        }
    }

    #[test]
    fn single_path_file_has_the_reference_layout_byte_for_byte() {
        let vector = "reference-v4-two-way-udp-singlepath-flow1234.json";
        assert_eq!(skeleton(&ours(vector)), skeleton(&reference(vector)));
    }

    #[test]
    fn vertices_depth_first_with_unique_ids_and_hashes_by_class() {
        let client = "10.0.1.100";
        let forward = lab_path(client, V4, "10.0.7.200", true);
        let reverse = lab_path("10.0.7.200", V4_BACK, client, true);
        let config = config("two-way udp multipath 10.0.7.200");
        let traces = [
            (Direction::Forward, &forward),
            (Direction::Reverse, &reverse),
        ];
        let json: Value = serde_json::from_str(
            &Measurement::new(&config.target, &config.trace, &traces, &HashMap::new())
                .to_json()
                .expect("json"),
        )
        .expect("parses");
        let vertices =
            |direction: &str| json["traces"][direction].as_array().cloned().expect("list");
        let (forward, reverse) = (vertices("forward"), vertices("reverse"));
        let addresses: Vec<&str> = forward
            .iter()
            .map(|v| v["address"].as_str().expect("text"))
            .collect();
        // Pre-order: the root, r1, one branch to the end, then the other branch.
        let (r1, r2a, r2b, r3, r4) = (
            "10.255.0.1",
            "10.255.0.21",
            "10.255.0.22",
            "10.255.0.3",
            "10.255.0.4",
        );
        assert_eq!(addresses, [client, r1, r2a, r3, r4, "10.0.7.200", r2b]);
        let ids: BTreeSet<u64> = forward
            .iter()
            .chain(&reverse)
            .map(|v| v["id"].as_u64().expect("id"))
            .collect();
        assert_eq!(ids.len(), forward.len() + reverse.len());
        let hash_of = |list: &[Value], address: &str| {
            list.iter()
                .find(|v| v["address"] == address)
                .map(|v| v["hash"].clone())
                .expect("vertex")
        };
        assert_eq!(hash_of(&forward, r3), hash_of(&reverse, r3));
        assert_eq!(hash_of(&forward, client), hash_of(&reverse, client));
        assert_ne!(hash_of(&forward, r2a), hash_of(&forward, r2b));
        // Successors name ids of the same list; only real flows are stored.
        let r1 = &forward[1];
        let successors: Vec<u64> = r1["successors"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        assert_eq!(
            successors,
            [
                forward[2]["id"].as_u64().expect("id"),
                forward[6]["id"].as_u64().expect("id")
            ]
        );
        assert_eq!(forward[2]["flows"], serde_json::json!(LEFT));
        assert_eq!(forward[2]["rtt"].as_array().map(Vec::len), Some(LEFT.len()));
    }

    #[test]
    fn black_holes_hash_by_predecessor_and_store_no_shadow_flows() {
        let holes = trace(
            "10.0.0.100",
            &[&[("10.0.0.1", &[1, 2])], &[], &[("10.0.0.3", &[1])]],
        );
        let config = config("forward udp multipath 10.0.0.3");
        let json: Value = serde_json::from_str(
            &Measurement::new(
                &config.target,
                &config.trace,
                &[(Direction::Forward, &holes)],
                &HashMap::new(),
            )
            .to_json()
            .expect("json"),
        )
        .expect("parses");
        let list = json["traces"]["forward"].as_array().cloned().expect("list");
        let hole = list
            .iter()
            .find(|v| v["address"] == "***")
            .expect("black hole");
        assert_eq!(hole["flows"], serde_json::json!([]));
        assert_eq!(hole["rtt"], serde_json::json!([]));
        let another = trace(
            "10.0.0.200",
            &[&[("10.0.0.1", &[5])], &[], &[("10.0.0.9", &[5])]],
        );
        let json_again: Value = serde_json::from_str(
            &Measurement::new(
                &config.target,
                &config.trace,
                &[(Direction::Forward, &another)],
                &HashMap::new(),
            )
            .to_json()
            .expect("json"),
        )
        .expect("parses");
        let again = json_again["traces"]["forward"]
            .as_array()
            .cloned()
            .expect("list");
        let hole_again = again
            .iter()
            .find(|v| v["address"] == "***")
            .expect("black hole");
        assert_eq!(hole["hash"], hole_again["hash"], "same predecessor address");
        assert_ne!(hole["hash"], list[1]["hash"]);
    }

    #[test]
    fn hostnames_in_order_of_appearance_and_compact_for_submission() {
        let forward = trace(
            "10.0.0.100",
            &[&[("10.0.0.1", &[1])], &[("10.0.0.2", &[1])]],
        );
        let names = HashMap::from([
            (ip("10.0.0.2"), vec!["far.example".to_owned()]),
            (
                ip("10.0.0.1"),
                vec!["gw.example".to_owned(), "alias.example".to_owned()],
            ),
        ]);
        let config = config("forward icmp singlepath --flow 7 example.net");
        let measurement = Measurement::new(
            &config.target,
            &config.trace,
            &[(Direction::Forward, &forward)],
            &names,
        );
        let compact = measurement.to_json().expect("json");
        assert!(!compact.contains('\n') && !compact.contains(": "));
        assert!(compact.starts_with(r#"{"target":"example.net","protocol":"icmp","#));
        assert!(compact.ends_with(
            r#""hostnames":{"10.0.0.1":["gw.example","alias.example"],"10.0.0.2":["far.example"]}}"#
        ));
        let pretty: Value =
            serde_json::from_str(&measurement.to_json_pretty().expect("json")).expect("parses");
        assert_eq!(
            pretty,
            serde_json::from_str::<Value>(&compact).expect("parses")
        );
        assert!(
            pretty
                .get("traces")
                .and_then(|t| t.get("reverse"))
                .is_none()
        );
    }
}
