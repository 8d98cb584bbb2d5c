//! One case of the client and one measured run of it in the lab, shared
//! by the clean-lab figures ([`client`](super::client)) and the runs under
//! conditions ([`conditions`](super::conditions)).
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
    process::{ExitStatus, Stdio},
    time::{Duration, Instant},
};

use reverse_tr_lab::{Direction, Family, Hops, Host, Lab, command};

use super::{measure::wait_child, replay::requirement};
use crate::{Error, Result};

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

    /// Its target in the clean lab, if it has one.
    pub fn target(self) -> Option<(Duration, &'static str)> {
        match (self.directions, self.multipath) {
            ("two-way", true) => Some((Duration::from_millis(1500), "≤ 1.5 s")),
            ("reverse", false) => Some((Duration::from_millis(300), "≤ 0.3 s")),
            _ => None,
        }
    }
}

/// What one run of the client cost.
pub(super) struct Measured {
    pub status: ExitStatus,
    pub wall: Duration,
    pub cpu: Duration,
    pub max_rss_kib: u64,
    /// Per direction: probes sent, vertices shown.
    pub probes: BTreeMap<&'static str, (u64, usize)>,
    /// Per direction of a multipath run: the probes the stopping rule
    /// allows on the run's split (`replay`).
    pub required: BTreeMap<&'static str, usize>,
    /// Per heading of the report (`FORWARD`, `REVERSE`): the hops shown.
    pub hops: BTreeMap<String, Hops>,
    /// The client's report and log, kept because the next run overwrites
    /// their files and a failed or wrong run is diagnosed from them.
    pub stdout: String,
    pub stderr: String,
}

/// Installs the counters [`counters`] reads in the client's namespace.
pub(super) fn install_counters(lab: &Lab) -> Result<()> {
    let script = COUNTERS
        .replace("SERVER4", &lab.addr(Host::Server, Family::V4).to_string())
        .replace("SERVER6", &lab.addr(Host::Server, Family::V6).to_string());
    command::run(
        lab.command(Host::Client, "nft").args(["-f", "-"]),
        Some(&script),
    )?;
    Ok(())
}

/// One run of the client, counted and timed; a failed run is measured too
/// (`status` not success).
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
        status: usage.status,
        wall,
        cpu: usage.cpu,
        max_rss_kib: usage.max_rss_kib,
        probes,
        required,
        hops,
        stdout: report,
        stderr: log,
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

#[cfg(test)]
mod tests {
    use super::*;

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
