//! The client's figures: the real `reverse-tr` (release) in a fresh
//! symmetric lab against the real daemon (release), every direction and
//! mode in both families, `runs` times each; medians reported.
//!
//! Probes are counted on the wire, not taken from the client: nftables
//! counters in the client's namespace count the UDP probes it sends to the
//! server (forward) and the requests it sends (reverse, one probe each,
//! the presence check included). Vertices are the distinct addresses its
//! report shows per direction. CPU time comes from `wait4` on the child,
//! peak resident memory from its `VmHWM` while it runs (`ip netns exec`
//! execs the client in place, so the child is the client).

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::File,
    net::IpAddr,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use reverse_tr_lab::{Direction, Family, Hops, Host, Lab, LabConfig, command, topology::Topology};

use super::{
    Judged, Row, Section,
    measure::{Summary, status_kib, wait_child},
    replay::{requirement, stopping_point},
};
use crate::{
    Error, Result,
    demo::{Demo, Server},
};

/// The MDA's ε for every multipath run (the reference's figures are for it too).
pub(super) const CONFIDENCE: f64 = 0.05;

/// The client's `--timeout` in every run (its default, written out because
/// targets are stated in it).
pub(super) const TIMEOUT: Duration = Duration::from_secs(2);

/// The nftables counters, in the client's namespace.
const COUNTERS: &str = "table inet rtrbench {
    counter forward {}
    counter requests {}
    chain out {
        type filter hook output priority 0; policy accept;
        ip daddr SERVER4 meta l4proto udp counter name forward
        ip6 daddr SERVER6 meta l4proto udp counter name forward
        icmp type echo-request icmp code 1 counter name requests
        icmpv6 type echo-request icmpv6 code 1 counter name requests
    }
}
";

/// What the client is asked to do.
#[derive(Debug, Clone, Copy)]
pub(super) struct Case {
    pub directions: &'static str,
    pub multipath: bool,
    pub family: Family,
}

impl Case {
    pub fn name(self) -> String {
        let mode = if self.multipath {
            "multipath"
        } else {
            "single-path"
        };
        format!("{} {mode}, {}", self.directions, self.family.name())
    }

    pub fn traces(self, direction: Direction) -> bool {
        match direction {
            Direction::Forward => self.directions != "reverse",
            Direction::Reverse => self.directions != "forward",
        }
    }

    /// Its target, if it has one.
    fn target(self) -> Option<(Duration, &'static str)> {
        match (self.directions, self.multipath) {
            ("two-way", true) => Some((Duration::from_millis(1500), "≤ 1.5 s")),
            ("reverse", false) => Some((Duration::from_millis(300), "≤ 0.3 s")),
            _ => None,
        }
    }
}

/// What one run of the client cost.
pub(super) struct Measured {
    /// Whether the client exited with status 0.
    pub success: bool,
    pub wall: Duration,
    cpu: Duration,
    max_rss_kib: u64,
    /// Per direction: probes sent, vertices shown.
    pub probes: BTreeMap<&'static str, (u64, usize)>,
    /// Per direction of a multipath run: the probes the stopping rule
    /// allows on the run's split (`replay`).
    required: BTreeMap<&'static str, usize>,
    /// Per heading of the report (`FORWARD`, `REVERSE`): the hops shown.
    pub hops: BTreeMap<String, Hops>,
}

/// Runs every case `runs` times in the clean lab, then every condition
/// `condition_runs` times (see [`conditions`](super::conditions)); the lab
/// and daemon are removed at the end.
pub fn run(workspace: &Path, runs: usize, condition_runs: usize) -> Result<Vec<Section>> {
    let demo = Demo::build_profile(workspace, true)?;
    let lab = Lab::up(LabConfig {
        asymmetric: false,
        name: None,
    })?;
    let script = COUNTERS
        .replace("SERVER4", &lab.addr(Host::Server, Family::V4).to_string())
        .replace("SERVER6", &lab.addr(Host::Server, Family::V6).to_string());
    command::run(
        lab.command(Host::Client, "nft").args(["-f", "-"]),
        Some(&script),
    )?;
    let server = Server::start(
        &lab,
        &demo.binaries.join("reverse-tr-server"),
        &demo.output.join("bench-server.log"),
    )?;
    let client = demo.binaries.join("reverse-tr");
    let mut rows = Vec::new();
    let mut probe_rows = Vec::new();
    for family in Family::ALL {
        for directions in ["forward", "reverse", "two-way"] {
            for multipath in [false, true] {
                let case = Case {
                    directions,
                    multipath,
                    family,
                };
                let measured = (0..runs)
                    .map(|_| {
                        let measured = run_once(&lab, &client, case, &demo.output)?;
                        if measured.success {
                            Ok(measured)
                        } else {
                            Err(Error::Bench(format!(
                                "{}: the client failed: {}",
                                case.name(),
                                std::fs::read_to_string(demo.output.join("bench-client.err"))?
                                    .trim()
                            )))
                        }
                    })
                    .collect::<Result<Vec<_>>>()?;
                rows.push(cost_row(case, &measured));
                if multipath {
                    probe_rows.extend(probe_rows_of(case, &measured));
                }
            }
        }
    }
    let mut sections = super::conditions::run(&lab, &client, &demo.output, condition_runs)?;
    let daemon = server.pid();
    let rss = status_kib(Some(daemon), "VmRSS")?;
    let hwm = status_kib(Some(daemon), "VmHWM")?;
    server.stop()?;
    lab.down()?;
    rows.push(Row {
        case: "the daemon (release, 5,000 sessions) after every run above".into(),
        figure: format!("RSS {rss} KiB, peak {hwm} KiB"),
        target: None,
    });
    sections.splice(
        0..0,
        [
            Section {
                title: "Client: wall time, CPU and peak RSS (median of the runs), probes per vertex",
                rows,
            },
            Section {
                title: "Client: multipath probes per direction against the MDA stopping-point bound (ε = 0.05)",
                rows: probe_rows,
            },
        ],
    );
    Ok(sections)
}

/// One run of the client, counted and timed; a failed run is measured too
/// (`success` false), its stderr left in `bench-client.err`.
pub(super) fn run_once(lab: &Lab, client: &Path, case: Case, output: &Path) -> Result<Measured> {
    let before = counters(lab)?;
    let (stdout_path, stderr_path) = (
        output.join("bench-client.out"),
        output.join("bench-client.err"),
    );
    let mut command = lab.command(Host::Client, &client.to_string_lossy());
    // Multipath runs log their batches (debug) for the replay of the rule.
    let level = if case.multipath { "debug" } else { "warning" };
    let timeout = TIMEOUT.as_secs().to_string();
    command.args([
        "-n",
        "-l",
        level,
        "--timeout",
        &timeout,
        case.directions,
        "udp",
    ]);
    if case.multipath {
        command.args(["multipath", "--confidence", &CONFIDENCE.to_string()]);
    } else {
        command.args(["singlepath", "--flow", "1234"]);
    }
    command
        .arg(lab.addr(Host::Server, case.family).to_string())
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path)?)
        .stderr(File::create(&stderr_path)?);
    let started = Instant::now();
    let child = command.spawn()?;
    let usage = wait_child(child.id())?;
    let wall = started.elapsed();
    let after = counters(lab)?;
    let report = std::fs::read_to_string(&stdout_path)?;
    let hops = report_hops(&report);
    let log = std::fs::read_to_string(&stderr_path)?;
    let mut probes = BTreeMap::new();
    let mut required = BTreeMap::new();
    for (direction, name, counter) in [
        (Direction::Forward, "FORWARD", 0),
        (Direction::Reverse, "REVERSE", 1),
    ] {
        if case.traces(direction) {
            let sent = after[counter] - before[counter];
            let shown = hops.get(name).map_or(0, |hops| {
                hops.values().flatten().collect::<BTreeSet<_>>().len()
            });
            probes.insert(direction.name(), (sent, shown));
            let root = lab.addr(direction.source(), case.family);
            if let Some(probes) = requirement(&log, root, CONFIDENCE) {
                // A reverse trace starts with its presence check (§11.5).
                let check = usize::from(direction == Direction::Reverse);
                required.insert(direction.name(), probes + check);
            }
        }
    }
    Ok(Measured {
        success: usage.success,
        wall,
        cpu: usage.cpu,
        max_rss_kib: usage.max_rss_kib,
        probes,
        required,
        hops,
    })
}

/// The forward and request counters' packet counts: the UDP probes sent to
/// the server from the client's namespace (any program's), and the requests.
pub(super) fn counters(lab: &Lab) -> Result<[u64; 2]> {
    let mut values = [0; 2];
    for (value, name) in values.iter_mut().zip(["forward", "requests"]) {
        let listing = command::run(
            lab.command(Host::Client, "nft")
                .args(["list", "counter", "inet", "rtrbench", name]),
            None,
        )?;
        *value = listing
            .split_whitespace()
            .skip_while(|word| *word != "packets")
            .nth(1)
            .and_then(|count| count.parse().ok())
            .ok_or_else(|| Error::Bench(format!("no packet count in: {listing}")))?;
    }
    Ok(values)
}

/// The hops the text report shows under each heading (`FORWARD`,
/// `REVERSE`): TTL → addresses, a `*` hop empty, the TTL 0 row left out.
fn report_hops(report: &str) -> BTreeMap<String, Hops> {
    let mut found: BTreeMap<String, Hops> = BTreeMap::new();
    let mut heading = None;
    let mut ttl = 0;
    for line in report.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let address = match words.as_slice() {
            [first, ..] if first.chars().all(|c| c.is_ascii_uppercase()) && first.len() > 3 => {
                heading = Some((*first).to_owned());
                ttl = 0;
                continue;
            }
            [number, rest @ ..] if let Ok(number) = number.parse::<u8>() => {
                ttl = number;
                rest.first()
            }
            [address, ..] => Some(address),
            [] => continue,
        };
        if let (Some(heading), true) = (&heading, ttl > 0) {
            let hop = found
                .entry(heading.clone())
                .or_default()
                .entry(ttl)
                .or_default();
            hop.extend(address.and_then(|address| address.parse::<IpAddr>().ok()));
        }
    }
    found
}

fn median(values: impl Iterator<Item = Duration>) -> Duration {
    Summary::of(values.collect()).map_or(Duration::ZERO, |summary| summary.median)
}

fn cost_row(case: Case, measured: &[Measured]) -> Row {
    let wall = median(measured.iter().map(|m| m.wall));
    let cpu = median(measured.iter().map(|m| m.cpu));
    let mut rss: Vec<u64> = measured.iter().map(|m| m.max_rss_kib).collect();
    rss.sort_unstable();
    let per_vertex = measured
        .last()
        .map(|m| {
            m.probes
                .iter()
                .map(|(direction, (sent, shown))| {
                    format!(
                        "{direction} {sent} probes / {shown} vertices = {:.1}",
                        *sent as f64 / (*shown).max(1) as f64
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    Row {
        case: case.name(),
        figure: format!(
            "{:.3} s wall, {:.3} s CPU, {} KiB peak RSS; {per_vertex} (last run)",
            wall.as_secs_f64(),
            cpu.as_secs_f64(),
            rss.get(rss.len() / 2).copied().unwrap_or(0),
        ),
        target: case.target().map(|(limit, text)| Judged {
            text: text.into(),
            met: wall <= limit,
        }),
    }
}

/// Per direction of a multipath case: the probes of every run beside what
/// the stopping rule required on that run's split (met when no run sent
/// more), and the even-split bound, which no real split reaches.
fn probe_rows_of(case: Case, measured: &[Measured]) -> Vec<Row> {
    let topology = Topology { asymmetric: false };
    Direction::ALL
        .into_iter()
        .filter(|direction| case.traces(*direction))
        .map(|direction| {
            let bound = mda_bound(topology, direction, CONFIDENCE);
            let name = direction.name();
            let sent: Vec<u64> = measured
                .iter()
                .filter_map(|m| m.probes.get(name).map(|(sent, _)| *sent))
                .collect();
            let required: Vec<Option<usize>> = measured
                .iter()
                .map(|m| m.required.get(name).copied())
                .collect();
            let met = sent.len() == required.len()
                && sent.iter().zip(&required).all(|(sent, required)| {
                    required.is_some_and(|required| *sent <= required as u64)
                });
            let required: Vec<String> = required
                .iter()
                .map(|required| required.map_or_else(|| "?".to_owned(), |r| r.to_string()))
                .collect();
            Row {
                case: format!("{}: {name} probes", case.name()),
                figure: format!("{sent:?} (reference 51–89)"),
                target: Some(Judged {
                    text: format!(
                        "≤ [{}], the rule on each run's split ({bound} for an even split)",
                        required.join(", ")
                    ),
                    met,
                }),
            }
        })
        .collect()
}

/// The probes multipath discovery needs on the lab's true topology when it
/// stops as soon as the stopping points allow (§11.10): at each hop, for
/// every vertex of the hop before, `n(successors + 1)` flows must cross it
/// to rule out one more successor; with flows split evenly by ECMP, a
/// vertex that gets a share `s` of them needs `n / s` at the hop. A hop
/// costs the largest of these; the destination has no successors to rule
/// out.
fn mda_bound(topology: Topology, direction: Direction, confidence: f64) -> u64 {
    let mut level = BTreeMap::from([(direction.source(), 1.0_f64)]);
    let mut total = 0;
    while !level.is_empty() {
        let mut next = BTreeMap::new();
        let mut needed = 0;
        for (&host, &share) in &level {
            let successors = topology.next_hops(host, direction);
            if successors.is_empty() {
                continue;
            }
            let n = stopping_point(successors.len() + 1, confidence) as f64;
            needed = needed.max((n / share).ceil() as u64);
            for successor in successors {
                *next.entry(*successor).or_insert(0.0) += share / successors.len() as f64;
            }
        }
        total += needed;
        level = next;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_adds_the_stopping_points_hop_by_hop() {
        let (n2, n3) = (stopping_point(2, CONFIDENCE), stopping_point(3, CONFIDENCE));
        let symmetric = Topology { asymmetric: false };
        // r1, the diamond (n(3) from r1), r3 (n(2) through each branch, which
        // carries half the flows), r4, the destination.
        let expected = (n2 + n3 + 2 * n2 + n2 + n2) as u64;
        for direction in Direction::ALL {
            assert_eq!(mda_bound(symmetric, direction, CONFIDENCE), expected);
        }
        // Without the diamond on the way back, every hop is a single vertex.
        let asymmetric = Topology { asymmetric: true };
        assert_eq!(
            mda_bound(asymmetric, Direction::Reverse, CONFIDENCE),
            5 * n2 as u64
        );
    }

    #[test]
    fn hops_are_read_per_direction_without_the_root() {
        let report = "FORWARD (destination reached)\n\
            TTL  ADDRESS      RTT MIN/AVG/MAX MS  LOSS\n  0  10.0.1.100\n\
            \x20 1  10.255.0.1    0.070/0.123/0.218    0%\n\
            \x20 2  10.255.0.22   0.067/0.116/0.173    0%\n\
            \x20    10.255.0.21   0.057/0.100/0.240\n\
            \x20 3  *\n\nREVERSE (destination reached)\n\
            TTL  ADDRESS     RTT MIN/AVG/MAX MS  LOSS\n  0  10.0.7.200\n\
            \x20 1  10.255.0.4   0.039/0.066/0.101    0%\n";
        let found = report_hops(report);
        let sizes = |heading: &str| -> Vec<(u8, usize)> {
            found[heading]
                .iter()
                .map(|(&ttl, addrs)| (ttl, addrs.len()))
                .collect()
        };
        assert_eq!(sizes("FORWARD"), [(1, 1), (2, 2), (3, 0)]);
        assert_eq!(sizes("REVERSE"), [(1, 1)]);
    }
}
