//! The live mode's cost: the release `reverse-tr … two-way udp live`
//! (multipath: every branch of the diamond, each on its flow) in a fresh
//! symmetric lab against the release daemon, every router limiting its
//! ICMP errors as Linux does by default (a burst of 6 per destination,
//! then one a second), for `minutes` of monitoring after discovery.
//!
//! - Probes per router: nftables counters in each router's namespace
//!   count, per direction, the probes that expire there (IPv4 TTL 1, IPv6
//!   hop limit 1, towards the server: forward; towards the client: reverse)
//!   and the ICMP errors it sends back, over the first minute of
//!   monitoring (cycles 1 to 61). The budget is Linux's: at most 6 + T
//!   errors to one destination in T seconds. From the end of the first
//!   cycle to the last, a probe that expired without an error sent is one
//!   the rate limit refused.
//! - CPU: `utime + stime` of `/proc/<pid>/stat` from the end of the first
//!   cycle (discovery done) to the last sample, over the wall time between;
//!   memory: `VmRSS` every [`SAMPLE_CYCLES`] cycles (`ip netns exec` execs
//!   the client in place, so the child is the client).
//!
//! The client prints a JSON line per cycle (`--jsonl`, as for a
//! collector): its cost is counted too.

use std::{
    fmt::Write as _,
    fs::File,
    io::{BufRead, BufReader},
    path::Path,
    process::Stdio,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use reverse_tr_lab::{Conditions, Family, Host, Lab, LabConfig, command};

use super::{
    Judged, Row, Section,
    measure::{cpu_time, status_kib, wait_child},
};
use crate::{
    Error, Result,
    demo::{Demo, Server},
};

/// The counters of one router, in its namespace: probes expiring there and
/// errors sent, per direction.
const COUNTERS: &str = "table inet rtrlive {
    counter forward_probes {}
    counter reverse_probes {}
    counter forward_errors {}
    counter reverse_errors {}
    chain in {
        type filter hook prerouting priority -300; policy accept;
        ip daddr SERVER4 ip ttl 1 counter name forward_probes
        ip6 daddr SERVER6 ip6 hoplimit 1 counter name forward_probes
        ip daddr CLIENT4 ip ttl 1 counter name reverse_probes
        ip6 daddr CLIENT6 ip6 hoplimit 1 counter name reverse_probes
    }
    chain out {
        type filter hook output priority 0; policy accept;
        ip daddr CLIENT4 icmp type { time-exceeded, destination-unreachable } counter name forward_errors
        ip6 daddr CLIENT6 icmpv6 type { time-exceeded, destination-unreachable } counter name forward_errors
        ip daddr SERVER4 icmp type { time-exceeded, destination-unreachable } counter name reverse_errors
        ip6 daddr SERVER6 icmpv6 type { time-exceeded, destination-unreachable } counter name reverse_errors
    }
}
";

/// The names of [`COUNTERS`], in the order [`Counts`] holds them.
const NAMES: [&str; 4] = [
    "forward_probes",
    "reverse_probes",
    "forward_errors",
    "reverse_errors",
];

/// Cycles (seconds) between two samples of CPU time and memory.
const SAMPLE_CYCLES: u64 = 60;

/// Linux's default per-destination ICMP error budget: a burst of 6, then
/// one a second (`icmp_ratelimit=1000`, `net.ipv6.icmp.ratelimit=1000`).
const BURST: f64 = 6.0;

/// The routers of the symmetric lab, in path order.
const ROUTERS: [Host; 5] = [Host::R1, Host::R2a, Host::R2b, Host::R3, Host::R4];

/// One router's counters.
type Counts = [u64; 4];

/// CPU time and resident memory at the end of a cycle.
#[derive(Debug, Clone, Copy)]
struct Sample {
    cycle: u64,
    at: Instant,
    cpu: Duration,
    rss_kib: u64,
}

/// Monitors for `minutes` (after discovery) and returns the section.
pub fn run(workspace: &Path, minutes: u64) -> Result<Vec<Section>> {
    let demo = Demo::build_profile(workspace, true)?;
    let lab = Lab::up(LabConfig::default())?;
    lab.set_conditions(&Conditions::default().rate_limited(ROUTERS))?;
    let script = [Host::Server, Host::Client]
        .iter()
        .zip([("SERVER4", "SERVER6"), ("CLIENT4", "CLIENT6")])
        .fold(COUNTERS.to_owned(), |script, (&host, (v4, v6))| {
            script
                .replace(v4, &lab.addr(host, Family::V4).to_string())
                .replace(v6, &lab.addr(host, Family::V6).to_string())
        });
    for router in ROUTERS {
        command::run(lab.command(router, "nft").args(["-f", "-"]), Some(&script))?;
    }
    let server = Server::start(
        &lab,
        &demo.binaries.join("reverse-tr-server"),
        &demo.output.join("bench-live-server.log"),
    )?;
    let cycles = minutes * 60 + 1;
    let stderr = demo.output.join("bench-live-client.err");
    let mut child = lab
        .command(
            Host::Client,
            &demo.binaries.join("reverse-tr").to_string_lossy(),
        )
        .args(["-n", "-l", "warning", "two-way", "udp", "live", "--jsonl"])
        .args(["--cycles", &cycles.to_string()])
        .arg(lab.addr(Host::Server, Family::V4).to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&stderr)?)
        .spawn()?;
    let pid = child.id();
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::Bench("no client stdout".into()))?;
    // Each line as it comes, with its cycle and when it came.
    let (lines, cycle_ends) = mpsc::channel();
    let reader = thread::spawn(move || {
        let (mut first, mut last) = (None, String::new());
        for line in BufReader::new(stdout)
            .lines()
            .map_while(std::io::Result::ok)
        {
            let cycle = serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|value| value["cycle"].as_u64());
            if let Some(cycle) = cycle {
                let _ = lines.send((cycle, Instant::now()));
            }
            first.get_or_insert_with(|| line.clone());
            last = line;
        }
        (first.unwrap_or_default(), last)
    });
    let mut samples = Vec::new();
    // The counters at cycle 1, 61 and the last.
    let mut read: Vec<(Instant, Vec<Counts>)> = Vec::new();
    for (cycle, at) in cycle_ends {
        if cycle == 1 || cycle == 61 || cycle == cycles {
            let counts = ROUTERS
                .iter()
                .map(|&router| counts(&lab, router))
                .collect::<Result<Vec<_>>>()?;
            read.push((at, counts));
        }
        // The last cycle's line comes as the client exits: the one before
        // is the last sample.
        if cycle < cycles && (cycle % SAMPLE_CYCLES == 1 || cycle + 1 == cycles) {
            samples.push(Sample {
                cycle,
                at,
                cpu: cpu_time(pid)?,
                rss_kib: status_kib(Some(pid), "VmRSS")?,
            });
        }
    }
    let usage = wait_child(pid)?;
    let (first_line, last) = reader
        .join()
        .map_err(|_| Error::Bench("the line reader panicked".into()))?;
    server.stop()?;
    lab.down()?;
    if !usage.status.success() {
        return Err(Error::Bench(format!(
            "the live client failed: {}",
            std::fs::read_to_string(&stderr)?.trim()
        )));
    }
    let [(start, first), (minute, after_minute), ..] = &read[..] else {
        return Err(Error::Bench("fewer than 61 cycles ran".into()));
    };
    let mut rows = router_rows(minute.duration_since(*start), first, after_minute);
    rows.push(loss_row(&last)?);
    rows.push(first_cycle_row(&first_line)?);
    if let Some((_, end)) = read.last() {
        rows.push(refused_row(first, end));
    }
    rows.extend(cost_rows(&samples, usage.cpu, minutes)?);
    Ok(vec![Section {
        title: "Live mode: two-way multipath monitoring (UDP, IPv4, a cycle a second), routers rate-limited as Linux by default",
        rows,
    }])
}

/// The counters of `router`, in [`NAMES`] order.
fn counts(lab: &Lab, router: Host) -> Result<Counts> {
    let listing = command::run(
        lab.command(router, "nft")
            .args(["list", "counters", "table", "inet", "rtrlive"]),
        None,
    )?;
    parse_counts(&listing)
        .ok_or_else(|| Error::Bench(format!("no counts in {}: {listing}", router.name())))
}

/// `counter NAME { packets N bytes M }` of each of [`NAMES`].
fn parse_counts(listing: &str) -> Option<Counts> {
    let mut counts = [0; 4];
    for (count, name) in counts.iter_mut().zip(NAMES) {
        let (_, rest) = listing.split_once(&format!("counter {name} "))?;
        *count = rest
            .split_whitespace()
            .skip_while(|word| *word != "packets")
            .nth(1)?
            .parse()
            .ok()?;
    }
    Some(counts)
}

/// Per router: probes a second per direction over the minute, and the
/// errors it sent against the budget.
fn router_rows(span: Duration, before: &[Counts], after: &[Counts]) -> Vec<Row> {
    let seconds = span.as_secs_f64();
    let budget = BURST + seconds;
    ROUTERS
        .iter()
        .zip(before.iter().zip(after))
        .map(|(router, (before, after))| {
            let delta: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
            let per_second = |count: u64| count as f64 / seconds;
            let figure = format!(
                "forward {:.2} probes/s ({} errors to the client), reverse {:.2} probes/s ({} errors to the server), in {seconds:.1} s",
                per_second(delta[0]),
                delta[2],
                per_second(delta[1]),
                delta[3],
            );
            let met = delta[..2].iter().all(|&probes| probes as f64 <= budget);
            Row {
                case: format!("probes expiring at {} (first minute)", router.name()),
                figure,
                target: Some(Judged {
                    text: format!(
                        "≤ 1/s per destination after a burst of 6 (≤ {budget:.0} in {seconds:.0} s)"
                    ),
                    met,
                }),
            }
        })
        .collect()
}

/// The most any vertex of each direction lost by the end: under the
/// routers' default limits, probes within the budget are all answered.
fn loss_row(last: &str) -> Result<Row> {
    let snapshot: serde_json::Value = serde_json::from_str(last)
        .map_err(|error| Error::Bench(format!("the last line is not JSON ({error}): {last}")))?;
    let mut figure = String::new();
    let mut worst_overall: f64 = 0.0;
    for direction in ["forward", "reverse"] {
        let vertices = vertices(&snapshot, direction);
        let worst = vertices
            .iter()
            .filter_map(|vertex| vertex["loss_percent"].as_f64())
            .fold(0.0, f64::max);
        worst_overall = worst_overall.max(worst);
        let sent: u64 = vertices
            .iter()
            .filter_map(|vertex| vertex["sent"].as_u64())
            .sum();
        let lossy = lossy(&vertices);
        let _ = write!(
            figure,
            "{}{direction}: {} vertices, {sent} probes, worst loss {worst:.1} %{}",
            if figure.is_empty() { "" } else { "; " },
            vertices.len(),
            if lossy.is_empty() {
                String::new()
            } else {
                format!(" ({})", lossy.join(", "))
            }
        );
    }
    Ok(Row {
        case: format!(
            "loss per vertex after {} cycles",
            snapshot["cycle"].as_u64().unwrap_or_default()
        ),
        figure,
        target: Some(Judged {
            text: "0 % (no probe over a router's budget)".into(),
            met: worst_overall == 0.0,
        }),
    })
}

/// `ADDRESS lost N of M` for each of `vertices` (of a JSON snapshot) that
/// lost probes.
fn lossy(vertices: &[&serde_json::Value]) -> Vec<String> {
    vertices
        .iter()
        .filter_map(|vertex| {
            let sent = vertex["sent"].as_u64()?;
            let lost = sent.checked_sub(vertex["received"].as_u64()?)?;
            (lost > 0).then(|| {
                format!(
                    "{} lost {lost} of {sent}",
                    vertex["address"].as_str().unwrap_or("*")
                )
            })
        })
        .collect()
}

/// The vertices of a direction of a JSON snapshot.
fn vertices<'a>(snapshot: &'a serde_json::Value, direction: &str) -> Vec<&'a serde_json::Value> {
    snapshot[direction]["hops"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|hop| hop["vertices"].as_array().into_iter().flatten())
        .collect()
}

/// The probes lost in the first cycle, right after discovery spent the
/// routers' bursts (the counters start after it).
fn first_cycle_row(first: &str) -> Result<Row> {
    let snapshot: serde_json::Value = serde_json::from_str(first)
        .map_err(|error| Error::Bench(format!("the first line is not JSON ({error}): {first}")))?;
    let lost: Vec<String> = ["forward", "reverse"]
        .into_iter()
        .flat_map(|direction| {
            lossy(&vertices(&snapshot, direction))
                .into_iter()
                .map(move |vertex| format!("{direction} {vertex}"))
        })
        .collect();
    Ok(Row {
        case: "of which in cycle 1, right after discovery".into(),
        figure: if lost.is_empty() {
            "none".into()
        } else {
            lost.join(", ")
        },
        target: None,
    })
}

/// From the end of the first cycle to the last, per router and direction:
/// the probes that expired there and got no error back (refused by the rate limit, as the
/// lab drops nothing else).
fn refused_row(first: &[Counts], end: &[Counts]) -> Row {
    let refused: Vec<String> = ROUTERS
        .iter()
        .zip(first.iter().zip(end))
        .flat_map(|(router, (first, end))| {
            let delta: Vec<u64> = end.iter().zip(first).map(|(e, f)| e - f).collect();
            [
                ("forward", delta[0], delta[2]),
                ("reverse", delta[1], delta[3]),
            ]
            .into_iter()
            .filter(|(_, probes, errors)| errors < probes)
            .map(move |(direction, probes, errors)| {
                format!(
                    "{} {direction} {} of {probes}",
                    router.name(),
                    probes - errors
                )
            })
        })
        .collect();
    Row {
        case: "probes refused an error by a router's rate limit, cycle 2 to the last".into(),
        figure: if refused.is_empty() {
            "none".into()
        } else {
            refused.join(", ")
        },
        target: None,
    }
}

/// CPU over the monitoring, and memory through it.
fn cost_rows(samples: &[Sample], total_cpu: Duration, minutes: u64) -> Result<Vec<Row>> {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return Err(Error::Bench("no CPU or memory sample".into()));
    };
    let wall = last.at.duration_since(first.at).as_secs_f64();
    let busy = last.cpu.saturating_sub(first.cpu).as_secs_f64();
    let percent = if wall > 0.0 { 100.0 * busy / wall } else { 0.0 };
    let rss: Vec<String> = samples
        .iter()
        .map(|sample| format!("{} KiB (cycle {})", sample.rss_kib, sample.cycle))
        .collect();
    let growth = last.rss_kib.saturating_sub(first.rss_kib);
    Ok(vec![
        Row {
            case: format!("client CPU, {minutes} min of monitoring"),
            figure: format!(
                "{percent:.2} % of one core ({busy:.2} s in {wall:.0} s; {:.2} s in all, discovery included)",
                total_cpu.as_secs_f64()
            ),
            target: Some(Judged {
                text: "< 2 % of one core".into(),
                met: percent < 2.0,
            }),
        },
        Row {
            case: format!("client RSS, {minutes} min of monitoring"),
            figure: format!("{}; growth {growth} KiB", rss.join(", ")),
            target: Some(Judged {
                text: "flat (growth < 5 % after the first cycle)".into(),
                met: (growth as f64) < first.rss_kib as f64 * 0.05,
            }),
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_by_name() {
        let listing = "table inet rtrlive {
	counter forward_probes {
		packets 61 bytes 2196
	}
	counter reverse_probes {
		packets 60 bytes 2160
	}
	counter forward_errors {
		packets 61 bytes 4392
	}
	counter reverse_errors {
		packets 59 bytes 4248
	}
}";
        assert_eq!(parse_counts(listing), Some([61, 60, 61, 59]));
        assert_eq!(parse_counts("table inet rtrlive {}"), None);
    }

    #[test]
    fn a_router_over_its_budget_misses() {
        let before = vec![[0; 4]; ROUTERS.len()];
        let mut after = vec![[60, 60, 60, 60]; ROUTERS.len()];
        after[3] = [60, 120, 60, 66];
        let rows = router_rows(Duration::from_secs(60), &before, &after);
        let met: Vec<bool> = rows
            .iter()
            .map(|row| row.target.as_ref().is_some_and(|t| t.met))
            .collect();
        assert_eq!(met, [true, true, true, false, true]);
        assert!(
            rows[3].figure.contains("reverse 2.00 probes/s"),
            "{}",
            rows[3].figure
        );
    }

    #[test]
    fn lost_probes_are_listed_per_vertex() {
        let line = r#"{"cycle":1,"forward":{"hops":[{"ttl":1,"vertices":[
            {"address":"10.255.0.1","sent":1,"received":0,"loss_percent":100.0},
            {"address":"10.255.0.21","sent":1,"received":1,"loss_percent":0.0}]}]},
            "reverse":{"hops":[{"ttl":1,"vertices":[
            {"address":null,"sent":1,"received":1,"loss_percent":0.0}]}]}}"#;
        let row = first_cycle_row(line).expect("a row");
        assert_eq!(row.figure, "forward 10.255.0.1 lost 1 of 1");
        let row = loss_row(line).expect("a row");
        assert!(
            row.figure
                .contains("worst loss 100.0 % (10.255.0.1 lost 1 of 1)"),
            "{}",
            row.figure
        );
        assert!(
            row.figure
                .ends_with("; reverse: 1 vertices, 1 probes, worst loss 0.0 %"),
            "{}",
            row.figure
        );
        assert!(!row.target.is_some_and(|target| target.met));
    }

    #[test]
    fn refused_probes_are_those_without_an_error() {
        let first = vec![[1, 1, 1, 1]; ROUTERS.len()];
        let mut end = vec![[601, 601, 601, 601]; ROUTERS.len()];
        assert_eq!(refused_row(&first, &end).figure, "none");
        end[3] = [601, 601, 599, 601];
        assert_eq!(refused_row(&first, &end).figure, "r3 forward 2 of 600");
    }

    #[test]
    fn cpu_is_a_share_of_the_wall_time_and_memory_must_stay_flat() {
        let start = Instant::now();
        let sample = |cycle: u64, cpu_ms: u64, rss_kib: u64| Sample {
            cycle,
            at: start + Duration::from_secs(cycle),
            cpu: Duration::from_millis(cpu_ms),
            rss_kib,
        };
        let samples = [
            sample(1, 100, 4000),
            sample(301, 1300, 4100),
            sample(600, 2500, 4100),
        ];
        let rows = cost_rows(&samples, Duration::from_secs(3), 10).expect("rows");
        assert!(
            rows[0].figure.starts_with("0.40 % of one core"),
            "{}",
            rows[0].figure
        );
        assert!(rows[0].target.as_ref().is_some_and(|t| t.met));
        assert!(
            rows[1].figure.ends_with("growth 100 KiB"),
            "{}",
            rows[1].figure
        );
        assert!(rows[1].target.as_ref().is_some_and(|t| t.met));
        let leaking = [sample(1, 0, 4000), sample(600, 0, 8000)];
        let rows = cost_rows(&leaking, Duration::ZERO, 10).expect("rows");
        assert!(!rows[1].target.as_ref().is_some_and(|t| t.met));
    }
}
