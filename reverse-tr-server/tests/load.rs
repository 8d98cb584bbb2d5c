//! Load in the lab: the daemon with a small table and a short timeout takes
//! a bounded flood of requests, as fast as the client namespace can send
//! them, from a few hundred source addresses of both families, while the
//! client runs legitimate reverse traces. The traces must succeed, the table
//! never holds more than its capacity, every session ends answered or timed
//! out, and the daemon's memory stays flat. Prints the request rate.
//!
//! The per-source limit keeps the flood from filling the table (which would
//! refuse the legitimate traces, §8.3); the per-prefix limit is off because
//! the flood and the traces share the client's /24 and /48.
#![cfg(feature = "root-tests")]

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{Read as _, Write as _},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream},
    path::PathBuf,
    process::{Command, Stdio},
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use reverse_tr_lab::{Family, Host, Lab, LabConfig};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use support::{Daemon, icmp, inside};

const MAX_SESSIONS: u32 = 2000;
const TIMEOUT: Duration = Duration::from_secs(1);
const FLOOD: Duration = Duration::from_secs(4);
/// Requests per second and burst one flood source may have admitted: 400
/// sources × 3/s, of which only the 100 silent ones' sessions wait the
/// whole timeout (≈ 500), leave the table room for the traces.
const SOURCE_RATE: &str = "3";
const SOURCE_BURST: &str = "2";
/// Flood sources per family added to the client's eth0, and silent ones
/// nobody has: their probes go unanswered and their sessions time out.
const SOURCES: u16 = 150;
const SILENT_SOURCES: u16 = 50;
const METRICS: &str = "127.0.0.1:9464";
/// Most the daemon's resident memory may grow during the flood.
const RSS_GROWTH_LIMIT_KIB: u64 = 4096;

/// The flood's source addresses: 10.0.1.101–250 and fd00:0:1::1000–1095,
/// then the silent 10.0.1.2–51 and fd00:0:1::2000–2031.
fn sources(family: Family) -> Vec<IpAddr> {
    let address = |v4: u16, v6: u16| match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::new(10, 0, 1, v4 as u8)),
        Family::V6 => IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 1, 0, 0, 0, 0, v6)),
    };
    (0..SOURCES)
        .map(|n| address(101 + n, 0x1000 + n))
        .chain((0..SILENT_SOURCES).map(|n| address(2 + n, 0x2000 + n)))
        .collect()
}

fn add_sources(lab: &Lab) {
    let mut script = String::new();
    for address in sources(Family::V4).into_iter().take(SOURCES.into()) {
        script.push_str(&format!("address add {address}/24 dev eth0\n"));
    }
    for address in sources(Family::V6).into_iter().take(SOURCES.into()) {
        // Deprecated at once, so the client never picks one as its source.
        script.push_str(&format!(
            "address add {address}/64 dev eth0 nodad preferred_lft 0\n"
        ));
    }
    let mut ip = Command::new("ip")
        .args(["-n", lab.netns(Host::Client), "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("ip runs");
    ip.stdin
        .take()
        .expect("ip's stdin")
        .write_all(script.as_bytes())
        .expect("writing the ip batch");
    assert!(
        ip.wait().expect("ip exits").success(),
        "adding flood sources"
    );
}

/// Starts the daemon with a small table, per-source limits and metrics;
/// ready once it serves them.
fn start_daemon(lab: &Lab) -> Daemon {
    let daemon = Daemon::spawn(
        lab,
        &[
            "--max-sessions",
            &MAX_SESSIONS.to_string(),
            "--timeout",
            "1s",
            "--rate",
            SOURCE_RATE,
            "--burst",
            SOURCE_BURST,
            "--prefix-rate",
            "0",
            "--metrics",
            METRICS,
            "eth0",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while metrics(lab).is_none() {
        assert!(Instant::now() < deadline, "no metrics from the daemon");
        thread::sleep(Duration::from_millis(100));
    }
    daemon
}

/// The daemon's resident memory in KiB.
fn rss_kib(daemon: &Daemon) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid()))
        .expect("the daemon's status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

/// The daemon's metrics, summed over labels, scraped inside the server
/// namespace; `None` until it serves them.
fn metrics(lab: &Lab) -> Option<BTreeMap<String, u64>> {
    let text = inside(lab, Host::Server, || {
        let address: SocketAddr = METRICS.parse().expect("an address");
        let limit = Some(Duration::from_secs(2));
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
        stream.set_read_timeout(limit).ok()?;
        stream.set_write_timeout(limit).ok()?;
        stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        Some(text)
    })?;
    let mut values = BTreeMap::new();
    for line in text.lines().filter(|line| line.starts_with("reverse_tr_")) {
        let (name, value) = line.rsplit_once(' ')?;
        let name = name.split('{').next()?;
        *values.entry(name.to_owned()).or_default() += value.parse::<u64>().ok()?;
    }
    (!values.is_empty()).then_some(values)
}

fn value(metrics: &BTreeMap<String, u64>, name: &str) -> u64 {
    *metrics
        .get(name)
        .unwrap_or_else(|| panic!("metric {name} missing: {metrics:?}"))
}

/// Requests prepared per flood source, sent in turn.
const REQUESTS_PER_SOURCE: u16 = 64;

/// One raw ICMP socket per source, with its requests prepared beforehand
/// so the loop only sends.
struct Flooder {
    server: SockAddr,
    sources: Vec<(Socket, Vec<Vec<u8>>)>,
}

impl Flooder {
    fn new(lab: &Lab, family: Family) -> Self {
        let server = lab.addr(Host::Server, family);
        let (domain, protocol, echo_request) = match family {
            Family::V4 => (Domain::IPV4, Protocol::ICMPV4, 8),
            Family::V6 => (Domain::IPV6, Protocol::ICMPV6, 128),
        };
        let sources = sources(family)
            .into_iter()
            .map(|source| {
                let socket = Socket::new(domain, Type::RAW, Some(protocol)).expect("a raw socket");
                // The silent sources are not the client's.
                match family {
                    Family::V4 => socket.set_freebind_v4(true),
                    Family::V6 => socket.set_freebind_v6(true),
                }
                .expect("IP_FREEBIND");
                socket
                    .bind(&SocketAddr::new(source, 0).into())
                    .expect("binding a flood source");
                let requests = (1..=REQUESTS_PER_SOURCE)
                    .map(|identifier| {
                        // UDP probes for hops 1–8: routers answer the near
                        // ones, the source's own stack (rate-limited) the
                        // far ones; the rest time out.
                        let ttl = 1 + (identifier % 8) as u8;
                        let mut rest = identifier.to_be_bytes().to_vec();
                        rest.extend([0, 0, ttl, 17, 0, 7]);
                        icmp(source, server, echo_request, 1, &rest)
                    })
                    .collect();
                (socket, requests)
            })
            .collect();
        Self {
            server: SocketAddr::new(server, 0).into(),
            sources,
        }
    }

    /// Sends until `stop`; returns the requests sent.
    fn run(&self, stop: &AtomicBool) -> u64 {
        let mut sent = 0u64;
        for round in 0.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            for (socket, requests) in &self.sources {
                let request = &requests[round % requests.len()];
                if socket.send_to(request, &self.server).is_ok() {
                    sent += 1;
                }
            }
        }
        sent
    }
}

/// The client binary, built in the same target directory.
fn client_binary() -> PathBuf {
    let client =
        PathBuf::from(env!("CARGO_BIN_EXE_reverse-tr-server")).with_file_name("reverse-tr");
    assert!(
        client.exists(),
        "{} is missing: run `cargo build -p reverse-tr-client` first",
        client.display()
    );
    client
}

/// A reverse single-path UDP trace from the client; asserts it succeeds
/// and shows a hop of the lab's reverse path at every TTL.
fn legitimate_trace(lab: &Lab, family: Family) {
    let server = lab.addr(Host::Server, family).to_string();
    let output = lab
        .command(Host::Client, &client_binary().to_string_lossy())
        .args([
            "-n",
            "-l",
            "warning",
            "--timeout",
            "1",
            "reverse",
            "udp",
            "singlepath",
            "--flow",
            "7",
        ])
        .arg(&server)
        .output()
        .expect("the client runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{family:?} trace failed under load: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown: BTreeSet<IpAddr> = stdout
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    for (ttl, hops) in lab.expected_reverse_hops(family) {
        assert!(
            !shown.is_disjoint(&hops),
            "{family:?}: no hop of {hops:?} at TTL {ttl}: {stdout}"
        );
    }
}

#[test]
fn a_flood_from_many_sources_leaves_room_for_traces_and_leaks_nothing() {
    let lab = Lab::up(LabConfig::default()).expect("the lab");
    add_sources(&lab);
    let daemon = start_daemon(&lab);
    let stop = AtomicBool::new(false);
    let first_rss = rss_kib(&daemon);
    let (sent, peak_sessions, peak_rss, flooded, scrapes) = thread::scope(|scope| {
        let flooders: Vec<_> = [Family::V4, Family::V6]
            .into_iter()
            .map(|family| {
                let (lab, stop) = (&lab, &stop);
                scope.spawn(move || {
                    inside(lab, Host::Client, || Flooder::new(lab, family).run(stop))
                })
            })
            .collect();
        let started = Instant::now();
        let tracer = scope.spawn(|| {
            for family in [Family::V4, Family::V6] {
                legitimate_trace(&lab, family);
            }
        });
        let (mut peak_sessions, mut samples, mut peak_rss) = (0, 0, first_rss);
        let mut attempts = 0;
        while started.elapsed() < FLOOD {
            attempts += 1;
            if let Some(metrics) = metrics(&lab) {
                peak_sessions = peak_sessions.max(value(&metrics, "reverse_tr_sessions_active"));
                samples += 1;
            }
            peak_rss = peak_rss.max(rss_kib(&daemon));
            thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        let flooded = started.elapsed();
        let sent: u64 = flooders
            .into_iter()
            .map(|flooder| flooder.join().expect("a flooder"))
            .sum();
        tracer.join().expect("the legitimate traces succeed");
        assert!(samples > 0, "no metrics scraped during the flood");
        (
            sent,
            peak_sessions,
            peak_rss,
            flooded,
            format!("{samples} of {attempts}"),
        )
    });
    // Every session ends: answered, or timed out within timeout + 1 s.
    // A scrape may time out while the daemon logs the flood's events.
    let deadline = Instant::now() + TIMEOUT + Duration::from_secs(1);
    let mut last = None;
    while Instant::now() < deadline {
        last = metrics(&lab).or(last);
        if last
            .as_ref()
            .is_some_and(|metrics| value(metrics, "reverse_tr_sessions_active") == 0)
        {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    let metrics = last.expect("metrics after the flood");
    let requests = value(&metrics, "reverse_tr_requests_total");
    let probes = value(&metrics, "reverse_tr_probes_total");
    let answers = value(&metrics, "reverse_tr_answers_total");
    let timeouts = value(&metrics, "reverse_tr_timeouts_total");
    println!(
        "flood: {sent} requests sent in {flooded:.1?} ({:.0}/s); the program saw {requests} \
         ({:.0}/s): {probes} probes, {answers} answered, {timeouts} timed out, {} rate limited, \
         {} table full; peak {peak_sessions} sessions; daemon RSS {first_rss} → {peak_rss} KiB; \
         {scrapes} metrics scrapes answered during the flood",
        sent as f64 / flooded.as_secs_f64(),
        requests as f64 / flooded.as_secs_f64(),
        value(&metrics, "reverse_tr_rate_limited_total"),
        value(&metrics, "reverse_tr_table_full_total"),
    );
    assert_eq!(
        value(&metrics, "reverse_tr_sessions_active"),
        0,
        "sessions left after timeout + 1 s"
    );
    assert!(peak_sessions <= u64::from(MAX_SESSIONS));
    assert_eq!(probes, answers + timeouts, "created = answered + timed out");
    assert!(requests >= sent / 2, "the program saw most of the flood");
    assert!(
        peak_rss - first_rss < RSS_GROWTH_LIMIT_KIB,
        "daemon RSS grew from {first_rss} to {peak_rss} KiB"
    );
}
