//! Load in the lab: the daemon with its default limits (PROTOCOL.md §10.3;
//! the README's "Safety on a public host") takes floods of padded requests
//! with spoofed sources, as fast as the client namespace can send them, in
//! three phases: from random sources, from one /24 and from one /64. Meanwhile
//! a legitimate requester of another network traces the reverse path. In
//! every phase at least 99 % of its probes are answered and the table stays
//! within the phase's cap; afterwards every session has ended, answered or
//! timed out, and the daemon's memory stayed flat. Prints the figures of
//! BENCHMARKS.md's "Server safety" section.
//!
//! Spoofed sources are lab-only: 10.128.0.0/9, 10.0.200.0/24,
//! fd00:8000::/17 and fd00:0:200::/64, which no lab host has: the server's
//! router drops what is sent to them, so their sessions time out unless
//! the probe's TTL of 1 makes that router answer.
#![cfg(feature = "root-tests")]

mod support;

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use reverse_tr_common::{
    constants::{DEFAULT_CAPACITY, DEFAULT_TIMEOUT_NS, PROTOCOL_UDP},
    policy::DEFAULT_POLICY,
};
use reverse_tr_lab::{Family, Host, Lab, LabConfig};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use support::{Daemon, METRICS, ask_to, icmp_packet, inside, ip_in, metric, metrics, padding};

/// How long each flood lasts.
const PHASE: Duration = Duration::from_secs(3);
/// Requests prepared per flooding family, sent in turn.
const PACKETS: usize = 1 << 16;
/// Most the daemon's resident memory may grow during the floods.
const RSS_GROWTH_LIMIT_KIB: u64 = 4096;

/// Where a flood's spoofed sources come from.
#[derive(Debug, Clone, Copy)]
enum Sources {
    /// A fresh random address per request (10.128.0.0/9, fd00:8000::/17).
    Random,
    /// Random hosts of 10.0.200.0/24.
    OnePrefix,
    /// Random interface identifiers of fd00:0:200::/64.
    OneSlash64,
}

impl Sources {
    fn families(self) -> &'static [Family] {
        match self {
            Self::Random => &[Family::V4, Family::V6],
            Self::OnePrefix => &[Family::V4],
            Self::OneSlash64 => &[Family::V6],
        }
    }

    fn pick(self, family: Family, rng: &mut StdRng) -> IpAddr {
        let v6 = |segments: [u16; 8]| IpAddr::V6(Ipv6Addr::from(segments));
        match (self, family) {
            (Self::Random, Family::V4) => {
                IpAddr::V4(Ipv4Addr::from(0x0a80_0000 | rng.random::<u32>() >> 9))
            }
            (Self::Random, Family::V6) => {
                let mut segments: [u16; 8] = rng.random();
                segments[0] = 0xfd00;
                segments[1] |= 0x8000;
                v6(segments)
            }
            (Self::OnePrefix, _) => IpAddr::V4(Ipv4Addr::new(10, 0, 200, rng.random())),
            (Self::OneSlash64, _) => {
                let mut segments: [u16; 8] = rng.random();
                segments[..4].copy_from_slice(&[0xfd00, 0, 0x200, 0]);
                v6(segments)
            }
        }
    }

    /// The most sessions the flood may hold at once under the defaults:
    /// the session rate's bound for random sources, else the cap per
    /// prefix or per source.
    fn cap(self) -> u64 {
        let timeout_s = DEFAULT_TIMEOUT_NS / 1_000_000_000;
        match self {
            Self::Random => {
                DEFAULT_POLICY.sessions.per_second * timeout_s + DEFAULT_POLICY.sessions.burst
            }
            Self::OnePrefix => DEFAULT_POLICY.prefix_sessions.into(),
            Self::OneSlash64 => DEFAULT_POLICY.source_sessions.into(),
        }
    }
}

/// Padded requests (UDP probes for hops 1–8) from spoofed sources, whole IP
/// packets for a raw socket that takes the IP header from us.
fn flood_packets(sources: Sources, family: Family, server: IpAddr, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let echo_request = match family {
        Family::V4 => 8,
        Family::V6 => 128,
    };
    let padding = padding(family, PROTOCOL_UDP);
    (0..PACKETS)
        .map(|n| {
            let source = sources.pick(family, &mut rng);
            let mut rest = rng.random::<u16>().to_be_bytes().to_vec();
            rest.extend([0, 0, 1 + (n % 8) as u8, PROTOCOL_UDP, 0, 7]);
            rest.resize(rest.len() + padding, 0);
            icmp_packet(source, server, 64, echo_request, 1, &rest)
        })
        .collect()
}

/// Sends `packets` in turn from the client namespace until `stop`;
/// returns how many were sent.
fn flood(lab: &Lab, family: Family, packets: &[Vec<u8>], stop: &AtomicBool) -> u64 {
    let server = lab.addr(Host::Server, family);
    inside(lab, Host::Client, || {
        let domain = match family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        // IPPROTO_RAW: the packets carry their own (spoofed) IP header.
        let socket = Socket::new(domain, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW)))
            .expect("a raw socket");
        let to: SockAddr = SocketAddr::new(server, 0).into();
        let mut sent = 0;
        for packet in packets.iter().cycle() {
            if sent % 256 == 0 && stop.load(Ordering::Relaxed) {
                break;
            }
            if socket.send_to(packet, &to).is_ok() {
                sent += 1;
            }
        }
        sent
    })
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

/// Waits until no session is pending (at most the timeout and a second);
/// returns the last scrape.
fn drained(lab: &Lab) -> BTreeMap<String, u64> {
    let deadline =
        Instant::now() + Duration::from_nanos(DEFAULT_TIMEOUT_NS) + Duration::from_secs(2);
    let mut last = None;
    while Instant::now() < deadline {
        last = metrics(lab).or(last);
        if last
            .as_ref()
            .is_some_and(|metrics| metric(metrics, "reverse_tr_sessions_active") == 0)
        {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    last.expect("metrics after a flood")
}

/// What a legitimate requester saw during a phase.
#[derive(Debug, Default)]
struct Legitimate {
    sent: u64,
    answered: u64,
}

/// Padded requests from the client's own addresses, both families in
/// turn, TTL 1–4 (routers of the reverse path answer), until `stop`.
fn trace(lab: &Lab, stop: &AtomicBool) -> Legitimate {
    let mut seen = Legitimate::default();
    for n in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let family = [Family::V4, Family::V6][(n % 2) as usize];
        let server = lab.addr(Host::Server, family);
        let ttl = 1 + (n / 2 % 4) as u8;
        let outcome = ask_to(
            lab,
            server,
            ttl,
            PROTOCOL_UDP,
            1234,
            padding(family, PROTOCOL_UDP),
        );
        seen.sent += 1;
        seen.answered += u64::from(outcome.is_some());
    }
    seen
}

/// The figures of one phase.
struct Phase {
    sources: Sources,
    sent: u64,
    legitimate: Legitimate,
    peak_sessions: u64,
    before: BTreeMap<String, u64>,
    after: BTreeMap<String, u64>,
}

impl Phase {
    fn moved(&self, name: &str) -> u64 {
        metric(&self.after, name) - metric(&self.before, name)
    }

    fn report(&self) {
        let seconds = PHASE.as_secs_f64();
        let refused: Vec<String> = [
            "reverse_tr_new_sources_limited_total",
            "reverse_tr_global_limited_total",
            "reverse_tr_rate_limited_total",
            "reverse_tr_source_capped_total",
            "reverse_tr_prefix_capped_total",
            "reverse_tr_table_full_total",
        ]
        .into_iter()
        .map(|name| {
            let short = name
                .trim_start_matches("reverse_tr_")
                .trim_end_matches("_total");
            format!("{short} {}", self.moved(name))
        })
        .collect();
        println!(
            "| {:?} | {:.0}/s | {:.0}/s | {:.0}/s | {} of {} ({:.1} %) | {} (cap {}) | {} |",
            self.sources,
            self.sent as f64 / seconds,
            self.moved("reverse_tr_requests_total") as f64 / seconds,
            self.moved("reverse_tr_probes_total") as f64 / seconds,
            self.legitimate.answered,
            self.legitimate.sent,
            100.0 * self.legitimate.answered as f64 / self.legitimate.sent.max(1) as f64,
            self.peak_sessions,
            self.sources.cap(),
            refused.join(", "),
        );
    }
}

/// Floods from `sources` for [`PHASE`] while the legitimate requester
/// traces; scrapes the table's size meanwhile.
fn phase(lab: &Lab, sources: Sources, daemon: &Daemon, peak_rss: &mut u64) -> Phase {
    let before = drained(lab);
    let floods: Vec<(Family, Vec<Vec<u8>>)> = sources
        .families()
        .iter()
        .enumerate()
        .map(|(seed, family)| {
            let server = lab.addr(Host::Server, *family);
            (
                *family,
                flood_packets(sources, *family, server, seed as u64),
            )
        })
        .collect();
    let stop = AtomicBool::new(false);
    let (sent, legitimate, peak_sessions) = thread::scope(|scope| {
        let flooders: Vec<_> = floods
            .iter()
            .map(|(family, packets)| {
                let stop = &stop;
                scope.spawn(move || flood(lab, *family, packets, stop))
            })
            .collect();
        let tracer = scope.spawn(|| trace(lab, &stop));
        let started = Instant::now();
        let mut peak = 0;
        while started.elapsed() < PHASE {
            if let Some(metrics) = metrics(lab) {
                peak = peak.max(metric(&metrics, "reverse_tr_sessions_active"));
            }
            *peak_rss = (*peak_rss).max(rss_kib(daemon));
            thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        let sent: u64 = flooders
            .into_iter()
            .map(|flooder| flooder.join().expect("a flooder"))
            .sum();
        (sent, tracer.join().expect("the tracer"), peak)
    });
    let after = drained(lab);
    Phase {
        sources,
        sent,
        legitimate,
        peak_sessions,
        before,
        after,
    }
}

#[test]
fn floods_of_spoofed_requests_leave_legitimate_traces_answered() {
    let lab = Lab::up(LabConfig::default()).expect("the lab");
    // The spoofed sources' probes get as far as the server's router.
    for spoofed in [
        "10.128.0.0/9",
        "10.0.200.0/24",
        "fd00:8000::/17",
        "fd00:0:200::/64",
    ] {
        ip_in(&lab, Host::R4, &["route", "add", "blackhole", spoofed]);
    }
    let daemon = Daemon::spawn(&lab, &["--metrics", METRICS, "eth0"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while metrics(&lab).is_none() {
        assert!(Instant::now() < deadline, "no metrics from the daemon");
        thread::sleep(Duration::from_millis(100));
    }
    // The legitimate requester is known before the floods begin.
    let warm = AtomicBool::new(false);
    thread::scope(|scope| {
        let tracer = scope.spawn(|| trace(&lab, &warm));
        thread::sleep(Duration::from_millis(500));
        warm.store(true, Ordering::Relaxed);
        tracer.join().expect("the tracer")
    });
    let first_rss = rss_kib(&daemon);
    let mut peak_rss = first_rss;
    let phases: Vec<Phase> = [Sources::Random, Sources::OnePrefix, Sources::OneSlash64]
        .into_iter()
        .map(|sources| phase(&lab, sources, &daemon, &mut peak_rss))
        .collect();
    println!(
        "| flood sources | sent | seen by the program | sessions created | legitimate answered | peak sessions | refused |"
    );
    println!("|---|---|---|---|---|---|---|");
    for phase in &phases {
        phase.report();
    }
    println!("daemon RSS {first_rss} → {peak_rss} KiB");
    for phase in &phases {
        let Legitimate { sent, answered } = phase.legitimate;
        assert!(
            sent >= 10,
            "{:?}: only {sent} legitimate requests",
            phase.sources
        );
        assert!(
            answered * 100 >= sent * 99,
            "{:?}: {answered} of {sent} legitimate requests answered",
            phase.sources
        );
        // The legitimate requester's own sessions come on top of the cap.
        assert!(
            phase.peak_sessions <= phase.sources.cap() + sent,
            "{:?}: {} sessions pending, cap {}",
            phase.sources,
            phase.peak_sessions,
            phase.sources.cap()
        );
        assert!(phase.peak_sessions <= u64::from(DEFAULT_CAPACITY));
        assert!(
            phase.moved("reverse_tr_requests_total") > 0,
            "{:?}: the flood reached the program",
            phase.sources
        );
    }
    let last = &phases.last().expect("three phases").after;
    assert_eq!(
        metric(last, "reverse_tr_sessions_active"),
        0,
        "sessions left after timeout + 2 s"
    );
    assert_eq!(
        metric(last, "reverse_tr_probes_total"),
        metric(last, "reverse_tr_answers_total") + metric(last, "reverse_tr_timeouts_total"),
        "created = answered + timed out"
    );
    assert!(
        peak_rss - first_rss < RSS_GROWTH_LIMIT_KIB,
        "daemon RSS grew from {first_rss} to {peak_rss} KiB"
    );
    assert!(daemon.stop().success(), "SIGTERM exits 0");
}
