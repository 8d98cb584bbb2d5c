//! The server's figures, through BPF_PROG_TEST_RUN on the loaded program.
//!
//! Paths that leave the packet unchanged (pass-through, answers without a
//! session) run `repeat` times in the kernel and report its mean. Paths
//! that rewrite the packet run one packet per call, each with a fresh
//! identifier, the matching request or answer run untimed beside it so
//! every timed call does its full work; they report the median and p90 of
//! the kernel's `duration` for that one run. The kernel's figure rather
//! than clock_gettime around the syscall: it times the program alone,
//! not the syscall, the skb set-up and the copies in and out (a few
//! microseconds that are the same for every program), so both methods
//! report the same quantity and compare with the reference measured here.

use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use aya::maps::{MapData, RingBuf};
use reverse_tr_common::{
    counter::Counter,
    policy::{Policy, Rate},
};
use reverse_tr_server::{
    Config, Run, Server,
    policy::Lists,
    testing::{
        Answer, CLIENT_V4, CLIENT_V6, DROP, PASS, REDIRECT, ROUTER_V4, ROUTER_V6, SERVER_V4,
        SERVER_V6, frame, icmp_packet, ip, isolate, request, tcp, udp,
    },
};

use super::{
    Judged, Row, Section, Target,
    measure::{Summary, last_cpu, map_memory, pin_to_cpu, status_kib},
};
use crate::{Error, Result};

/// How many calls and repetitions each figure takes.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Timed calls of a path that rewrites the packet.
    pub calls: usize,
    /// Kernel repetitions of a path that leaves the packet unchanged.
    pub repeat: u32,
}

/// The table size of the occupancy, expiry and memory figures.
const TABLE: u32 = 100_000;
/// A timeout no session of a timed loop reaches.
const LONG: Duration = Duration::from_secs(3600);
/// The flow every probe is asked for.
const FLOW: u16 = 0x3039;
/// The TTL of every probe asked for.
const TTL: u8 = 3;

/// One family's addresses in the test frames.
#[derive(Clone, Copy)]
struct Family {
    name: &'static str,
    client: IpAddr,
    server: IpAddr,
    router: IpAddr,
    icmp: u8,
}

const FAMILIES: [Family; 2] = [
    Family {
        name: "IPv4",
        client: IpAddr::V4(CLIENT_V4),
        server: IpAddr::V4(SERVER_V4),
        router: IpAddr::V4(ROUTER_V4),
        icmp: 1,
    },
    Family {
        name: "IPv6",
        client: IpAddr::V6(CLIENT_V6),
        server: IpAddr::V6(SERVER_V6),
        router: IpAddr::V6(ROUTER_V6),
        icmp: 58,
    },
];

/// A loaded program and its event ring, by default drained after every
/// call as the daemon does: a reader that has caught up is woken by the
/// next event, and that wakeup is part of the cost in service.
struct Bench {
    server: Server,
    events: RingBuf<MapData>,
    /// Drain the ring only every this many calls (1: after every call).
    drain_every: usize,
    calls: usize,
}

impl Bench {
    fn load(config: Config) -> Result<Self> {
        let mut server = Server::load(config)?;
        let events = server.take_events()?;
        Ok(Self {
            server,
            events,
            drain_every: 1,
            calls: 0,
        })
    }

    /// Runs `frame` once and checks the verdict.
    fn run(&mut self, frame: &[u8], expected: i32, what: &str) -> Result<Run> {
        let run = self.server.run(frame)?;
        self.calls += 1;
        if self.calls.is_multiple_of(self.drain_every) {
            while self.events.next().is_some() {}
        }
        if run.verdict != expected {
            return Err(Error::Bench(format!(
                "{what}: verdict {} where {expected} was expected",
                run.verdict
            )));
        }
        Ok(run)
    }

    /// The kernel's mean over `repeat` runs of `frame`, which must pass.
    fn mean(&mut self, frame: &[u8], repeat: u32, what: &str) -> Result<Duration> {
        let run = self.server.run_repeated(frame, repeat)?;
        while self.events.next().is_some() {}
        if (run.verdict, &run.frame[..]) != (PASS, frame) {
            return Err(Error::Bench(format!(
                "{what}: the program did not pass the frame untouched"
            )));
        }
        Ok(run.duration)
    }

    /// Asks for a probe (untimed unless the caller times the run) and
    /// returns its packet without Ethernet.
    fn probe(&mut self, family: Family, identifier: u16, protocol: u8) -> Result<Vec<u8>> {
        let frame = request(
            family.client,
            family.server,
            identifier,
            TTL,
            protocol,
            FLOW,
        );
        let run = self.run(&frame, REDIRECT, "request")?;
        Ok(run.frame[14..].to_vec())
    }
}

/// Every server figure, in the order of the brief.
pub fn run(scale: Scale) -> Result<Vec<Section>> {
    // The SYN-ACK answer is cloned to the host stack: keep it in a
    // namespace of our own.
    isolate()?;
    pin_to_cpu(last_cpu())?;
    Ok(vec![
        requests(scale)?,
        refusals(scale)?,
        answers(scale)?,
        unchanged(scale)?,
        occupancy(scale)?,
        expiry()?,
        memory()?,
    ])
}

/// `calls` timed calls; `call(bench, identifier)` does the untimed work
/// and returns the timed run's kernel time.
fn per_call(
    bench: &mut Bench,
    calls: usize,
    mut call: impl FnMut(&mut Bench, u16) -> Result<Duration>,
) -> Result<Summary> {
    let mut samples = Vec::with_capacity(calls);
    for index in 0..calls {
        // Identifiers wrap after 65,536 calls, long after their session went.
        samples.push(call(bench, index as u16)?);
    }
    Summary::of(samples).ok_or_else(|| Error::Bench("no calls were timed".into()))
}

fn per_call_row(case: String, summary: Summary, target: Option<Target>) -> Row {
    Row {
        case,
        figure: format!(
            "{} ns (p90 {} ns, {} calls)",
            summary.median.as_nanos(),
            summary.p90.as_nanos(),
            summary.samples
        ),
        target: target.map(|target| target.judge(summary.median)),
    }
}

fn mean_row(case: String, mean: Duration, repeat: u32, target: Option<Target>) -> Row {
    Row {
        case,
        figure: format!("{} ns (mean of {repeat})", mean.as_nanos()),
        target: target.map(|target| target.judge(mean)),
    }
}

/// The probe protocols, named.
fn protocols(family: Family) -> [(&'static str, u8); 3] {
    [("UDP", 17), ("TCP", 6), ("ICMP", family.icmp)]
}

/// Times a request that creates a session and becomes a probe, the answer
/// run untimed after it so the table stays as it was.
fn request_to_probe(
    bench: &mut Bench,
    calls: usize,
    family: Family,
    protocol: u8,
    client: IpAddr,
) -> Result<Summary> {
    per_call(bench, calls, |bench, identifier| {
        let frame = request(client, family.server, identifier, TTL, protocol, FLOW);
        let run = bench.run(&frame, REDIRECT, "request → probe")?;
        let answer = Answer::TimeExceeded.frame(family.router, family.server, &run.frame[14..]);
        bench.run(&answer, REDIRECT, "its answer")?;
        Ok(run.duration)
    })
}

fn requests(scale: Scale) -> Result<Section> {
    let target = Target::at_most(1000, "1,650–1,960");
    let mut rows = Vec::new();
    for family in FAMILIES {
        for (name, protocol) in protocols(family) {
            let mut bench = Bench::load(Config::default())?;
            let summary =
                request_to_probe(&mut bench, scale.calls, family, protocol, family.client)?;
            rows.push(per_call_row(
                format!("request → {name} probe, {}", family.name),
                summary,
                Some(target),
            ));
        }
    }
    // The same with the reader behind: the events wait in the ring and no
    // submission wakes anyone.
    let family = FAMILIES[0];
    let mut bench = Bench::load(Config::default())?;
    bench.drain_every = 4096;
    let summary = request_to_probe(&mut bench, scale.calls, family, 17, family.client)?;
    rows.push(per_call_row(
        "request → UDP probe, IPv4, event reader behind (no wakeups)".into(),
        summary,
        Some(target),
    ));
    Ok(Section {
        title: "Server: request → probe (new session), per call",
        rows,
    })
}

fn refusals(scale: Scale) -> Result<Section> {
    let (v4, long) = (
        FAMILIES[0],
        Config {
            timeout: LONG,
            ..Config::default()
        },
    );
    let mut rows = Vec::new();
    for family in FAMILIES {
        let mut bench = Bench::load(Config::default())?;
        let summary = per_call(&mut bench, scale.calls, |bench, identifier| {
            let frame = request(family.client, family.server, identifier, 0, 17, FLOW);
            Ok(bench.run(&frame, REDIRECT, "TTL 0")?.duration)
        })?;
        rows.push(per_call_row(
            format!("TTL 0 → error response, {}", family.name),
            summary,
            Some(Target::at_most(220, "340–360")),
        ));
    }
    let mut bench = Bench::load(long)?;
    bench.probe(v4, 1, 17)?;
    let duplicate = request(v4.client, v4.server, 1, TTL, 17, FLOW);
    let summary = per_call(&mut bench, scale.calls, |bench, _| {
        Ok(bench.run(&duplicate, DROP, "duplicate")?.duration)
    })?;
    rows.push(per_call_row(
        "session exists → dropped, IPv4".into(),
        summary,
        None,
    ));
    let small = 64;
    let mut bench = Bench::load(Config {
        max_sessions: small,
        ..long
    })?;
    for identifier in 0..small as u16 {
        bench.probe(v4, identifier, 17)?;
    }
    let summary = per_call(&mut bench, scale.calls, |bench, identifier| {
        let frame = request(
            v4.client,
            v4.server,
            identifier.wrapping_add(small as u16),
            TTL,
            17,
            FLOW,
        );
        Ok(bench.run(&frame, DROP, "table full")?.duration)
    })?;
    rows.push(per_call_row(
        format!("table full ({small} sessions) → dropped, IPv4"),
        summary,
        None,
    ));
    let summary = rate_limited(scale.calls)?;
    rows.push(per_call_row(
        "rate-limited (1 request/s per source) → dropped, IPv4".into(),
        summary,
        None,
    ));
    Ok(Section {
        title: "Server: requests refused, per call",
        rows,
    })
}

/// Times requests from one source whose bucket (1 request per second,
/// burst 1) the first request emptied. A request the refill lets through
/// is not timed; the counter proves every timed call was a rate limit.
fn rate_limited(calls: usize) -> Result<Summary> {
    let family = FAMILIES[0];
    let mut bench = Bench::load(Config {
        timeout: LONG,
        ..Config::default()
    })?;
    let policy = Policy {
        source: Rate::new(1, 1).ok_or_else(|| Error::Bench("rate out of range".into()))?,
        ..Policy::default()
    };
    bench.server.apply(&policy, &Lists::default())?;
    bench.probe(family, 0, 17)?;
    let mut identifier = 0u16;
    let summary = per_call(&mut bench, calls, |bench, _| {
        loop {
            identifier = identifier.wrapping_add(1);
            let frame = request(family.client, family.server, identifier, TTL, 17, FLOW);
            let run = bench.server.run(&frame)?;
            while bench.events.next().is_some() {}
            match run.verdict {
                DROP => return Ok(run.duration),
                REDIRECT => continue,
                verdict => {
                    return Err(Error::Bench(format!(
                        "rate-limited: verdict {verdict} where {DROP} was expected"
                    )));
                }
            }
        }
    })?;
    let limited = bench.server.counter(Counter::RateLimited)?;
    if limited != summary.samples as u64 {
        return Err(Error::Bench(format!(
            "rate-limited: {limited} requests counted as rate-limited of {} timed",
            summary.samples
        )));
    }
    Ok(summary)
}

/// The answer kinds, each with the probe protocol it answers and whether
/// the client (rather than a router) sends it.
fn answer_kinds(family: Family) -> [(&'static str, Answer, u8, bool); 7] {
    [
        ("time exceeded (UDP probe)", Answer::TimeExceeded, 17, false),
        ("time exceeded (TCP probe)", Answer::TimeExceeded, 6, false),
        (
            "time exceeded (ICMP probe)",
            Answer::TimeExceeded,
            family.icmp,
            false,
        ),
        ("port unreachable", Answer::PortUnreachable, 17, true),
        ("echo reply", Answer::EchoReply, family.icmp, true),
        ("SYN-ACK", Answer::SynAck, 6, true),
        ("RST", Answer::Rst, 6, true),
    ]
}

fn answers(scale: Scale) -> Result<Section> {
    let mut rows = Vec::new();
    for family in FAMILIES {
        for (name, kind, protocol, from_client) in answer_kinds(family) {
            let hop = if from_client {
                family.client
            } else {
                family.router
            };
            let mut bench = Bench::load(Config::default())?;
            let summary = per_call(&mut bench, scale.calls, |bench, identifier| {
                let probe = bench.probe(family, identifier, protocol)?;
                let answer = kind.frame(hop, family.server, &probe);
                Ok(bench.run(&answer, REDIRECT, name)?.duration)
            })?;
            rows.push(per_call_row(
                format!("{name} → response, {}", family.name),
                summary,
                Some(Target::at_most(650, "1,070–1,170")),
            ));
        }
    }
    Ok(Section {
        title: "Server: answer → response (hit), per call",
        rows,
    })
}

/// Answers without a session and traffic that is not ours: both pass
/// untouched, so the kernel repeats them.
fn unchanged(scale: Scale) -> Result<Section> {
    let mut rows = Vec::new();
    let pass = Target::at_most(60, "85–105");
    for family in FAMILIES {
        let mut bench = Bench::load(Config::default())?;
        // An answer whose session the first answer removed.
        let probe = bench.probe(family, 7, 17)?;
        let answer = Answer::TimeExceeded.frame(family.router, family.server, &probe);
        bench.run(&answer, REDIRECT, "answer")?;
        let mean = bench.mean(&answer, scale.repeat, "answer without a session")?;
        rows.push(mean_row(
            format!("answer without a session (miss), {}", family.name),
            mean,
            scale.repeat,
            Some(Target::at_most(100, "145")),
        ));
        let echo_request = if family.client.is_ipv4() { 8 } else { 128 };
        let ping = frame(&icmp_packet(
            family.client,
            family.server,
            64,
            echo_request,
            0,
            &[0, 1, 0, 1, 0xa5, 0xa5, 0xa5, 0xa5],
        ));
        let segment = tcp(family.client, family.server, (40_000, 443), 1, 1, 0x10);
        let tcp_frame = frame(&ip(family.client, family.server, 6, 64, 1, &segment));
        let datagram = udp(family.client, family.server, (40_000, 53), &[0xa5; 16]);
        let udp_frame = frame(&ip(family.client, family.server, 17, 64, 1, &datagram));
        for (name, frame) in [
            ("plain ping", ping),
            ("TCP segment", tcp_frame),
            ("UDP datagram", udp_frame),
        ] {
            let mean = bench.mean(&frame, scale.repeat, name)?;
            rows.push(mean_row(
                format!("{name} passed through, {}", family.name),
                mean,
                scale.repeat,
                Some(pass),
            ));
        }
    }
    Ok(Section {
        title: "Server: packets left unchanged, kernel mean",
        rows,
    })
}

/// A client address and identifier unique to session `index` of a fill.
fn filler(index: u32) -> (IpAddr, u16) {
    let client = Ipv4Addr::from(0x0a00_0000 + (index >> 16));
    (IpAddr::V4(client), index as u16)
}

/// Fills the table with `count` sessions (untimed).
fn fill(bench: &mut Bench, count: u32) -> Result<()> {
    let family = FAMILIES[0];
    for index in 0..count {
        let (client, identifier) = filler(index);
        let frame = request(client, family.server, identifier, TTL, 17, FLOW);
        bench.run(&frame, REDIRECT, "filling the table")?;
    }
    Ok(())
}

fn occupancy(scale: Scale) -> Result<Section> {
    let mut rows = Vec::new();
    for percent in [0, 50, 99] {
        let mut bench = Bench::load(Config {
            max_sessions: TABLE,
            timeout: LONG,
        })?;
        fill(&mut bench, TABLE / 100 * percent)?;
        let family = FAMILIES[0];
        // The timed sessions come from an address the fill never uses.
        let summary = request_to_probe(&mut bench, scale.calls, family, 17, family.client)?;
        rows.push(per_call_row(
            format!("insert at {percent} % of {TABLE}"),
            summary,
            None,
        ));
    }
    Ok(Section {
        title: "Server: session insert (request → UDP probe, IPv4) by table occupancy",
        rows,
    })
}

fn expiry() -> Result<Section> {
    let timeout = Duration::from_secs(1);
    let mut bench = Bench::load(Config {
        max_sessions: TABLE,
        timeout,
    })?;
    let started = Instant::now();
    fill(&mut bench, TABLE)?;
    let filled = Instant::now();
    let limit = timeout + Duration::from_secs(1);
    let mut gone = None;
    while filled.elapsed() < limit + Duration::from_secs(4) {
        while bench.events.next().is_some() {}
        if bench.server.counter(Counter::TimedOut)? == u64::from(TABLE) {
            gone = Some(filled.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let left = bench.server.sessions()?.len();
    let figure = match gone {
        Some(after) => format!(
            "all {TABLE} removed {} ms after the last insert (filled in {} ms)",
            after.as_millis(),
            (filled - started).as_millis()
        ),
        None => format!("{left} of {TABLE} sessions still pending after timeout + 5 s"),
    };
    Ok(Section {
        title: "Server: expiry (timeout 1 s)",
        rows: vec![Row {
            case: format!("{TABLE} sessions removed by their timers"),
            figure,
            target: Some(Judged {
                text: format!("≤ {} ms (timeout + 1 s)", limit.as_millis()),
                met: gone.is_some_and(|after| after <= limit) && left == 0,
            }),
        }],
    })
}

fn memory() -> Result<Section> {
    let before = status_kib(None, "VmRSS")?;
    let mut bench = Bench::load(Config {
        max_sessions: TABLE,
        timeout: LONG,
    })?;
    let idle = status_kib(None, "VmRSS")?;
    let maps = map_memory()?;
    fill(&mut bench, TABLE)?;
    let full = status_kib(None, "VmRSS")?;
    let kib = |value: u64| format!("{:.1} MiB", value as f64 / 1024.0);
    let rows = vec![
        Row {
            case: "loader RSS before loading (this process)".into(),
            figure: kib(before),
            target: None,
        },
        Row {
            case: format!("loader RSS loaded, table of {TABLE}, idle"),
            figure: kib(idle),
            target: None,
        },
        Row {
            case: format!("loader RSS with {TABLE} sessions"),
            figure: kib(full),
            target: None,
        },
        Row {
            case: format!("kernel memory of the maps (memlock), table of {TABLE}"),
            figure: kib(maps / 1024),
            target: None,
        },
    ];
    Ok(Section {
        title: "Server: memory",
        rows,
    })
}
