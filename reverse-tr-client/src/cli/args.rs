//! The command line of §11.1, in the reference's grammar:
//! `reverse-tr [OPTIONS] DIRECTION PROTOCOL MODE [MODE OPTIONS] TARGET`.
//! Global options come before DIRECTION, mode options after MODE, TARGET
//! last. Additions (`--rate`, `--padding`) never change what a reference
//! command line means.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use reverse_tr_common::{Family, ProbeProtocol, duration::parse_duration};

use crate::{
    cli::live::{LiveArgs, LiveJob},
    cli::resolve::host_of,
    output::{GraphFormat, Layout, OutputConfig, Transmit, View},
    trace::discovery::{Mode, Params},
    trace::fault::{FaultSurvey, Rounds},
    trace::mda::{Algorithm, MultipathSettings},
    trace::paths::{Survey, path_flow},
    trace::run::{Directions, TraceConfig},
};

/// Destination port of forward `paths` and `fault` probes without `--port`:
/// traceroute's first UDP port, or HTTP for TCP.
const SURVEY_PORTS: [(ProbeProtocol, u16); 2] =
    [(ProbeProtocol::Udp, 33434), (ProbeProtocol::Tcp, 80)];

/// How many probes per second are sent when neither `--rate` nor `--inter`
/// is given, both directions together. A two-way multipath trace of the
/// lab (a 5-hop path with a diamond, about 115 probes) then takes about
/// 0.3 s; 200 would take 0.6 s, 100 over 1 s. Probes of one batch go to the
/// routers of one or two TTLs, so a router is asked at most a few hundred
/// times per second, and only for a fraction of a second per hop (the
/// reference sends 10 per second, taking 11–16 s for the same trace).
pub(super) const DEFAULT_RATE: u32 = 400;

const EXAMPLES: &str = "\
Examples:
  reverse-tr forward tcp multipath example.net
      the path towards example.net, every load-balanced branch, TCP SYN probes
  reverse-tr reverse udp singlepath --flow 1234 example.net
      the path from the server at example.net back to you, one UDP flow
  reverse-tr -n --rate 100 two-way icmp multipath 2001:db8::1
      both directions at once, ICMP, at most 100 probes per second

Directions: `forward` probes from here (any target); `reverse` asks the
reverse-traceroute server running on TARGET to probe back towards you;
`two-way` does both at the same time.
Modes: `singlepath` follows one flow (--flow); `multipath` varies the flow to
find every branch of load balancers (MDA, Diamond-Miner style).
`live` watches the path(s) continuously, as mtr does, in both directions.

Exit status:
  0    trace complete          4    no raw-socket privilege (CAP_NET_RAW)
  1    I/O or internal error   5    no reverse-traceroute server at TARGET
  2    bad command line        6    the server refused requests (error state)
  3    TARGET did not resolve  7    stdout closed or full (`| head`, a full disk)
  130  interrupted (Ctrl-C, SIGTERM or SIGHUP); the partial trace is printed";

/// Forward, reverse and two-way traceroute over UDP, TCP and ICMP.
#[derive(Debug, Parser)]
#[command(name = "reverse-tr", version = env!("REVERSE_TR_VERSION"), about, after_help = EXAMPLES, term_width = 100)]
#[command(
    override_usage = "reverse-tr [OPTIONS] <DIRECTION> <PROTOCOL> <MODE> [MODE OPTIONS] <TARGET>",
    subcommand_value_name = "DIRECTION",
    subcommand_help_heading = "Directions",
    disable_help_subcommand = true
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub options: Options,
    /// `None` only with `--list-endpoints`.
    #[command(subcommand)]
    pub direction: Option<DirectionCommand>,
}

/// Options before DIRECTION (§11.1 global options).
#[derive(Debug, Args)]
pub(crate) struct Options {
    /// Resolve TARGET to an IPv4 address only
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Resolve TARGET to an IPv6 address only
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// The longest wait for one probe's answer (500ms, 2s, 1m; plain
    /// numbers are seconds); a hop without any answer is passed by sooner,
    /// its probes left in flight
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = positive_duration)]
    pub timeout: Duration,
    /// Time between two probes, e.g. 100ms (the reference's pacing; overrides --rate)
    #[arg(long, value_name = "DURATION", value_parser = duration, conflicts_with = "rate")]
    pub inter: Option<Duration>,
    /// Probes per second, both directions together
    #[arg(long, value_name = "PPS", default_value_t = DEFAULT_RATE,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate: u32,
    /// Stop after this many successive hops without a new answer (≥ 2)
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..))]
    pub abort: u32,
    /// First TTL probed
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
    pub min_ttl: u8,
    /// Last TTL probed (≥ --min-ttl)
    #[arg(long, value_name = "N", default_value_t = 15, value_parser = clap::value_parser!(u8).range(1..))]
    pub max_ttl: u8,
    /// Zero octets appended to every request (§3.7), never fewer than make
    /// it as long as all it can cause (IPv4 60, TCP 108; IPv6 80, TCP 148):
    /// servers limit shorter requests; without a value 24
    #[arg(long, value_name = "OCTETS", default_value_t = 0, default_missing_value = "24", num_args = 0..=1,
          require_equals = true, value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub padding: u16,
    /// Ask no questions: transmit without the confirmation prompt
    #[arg(short = 'y', long)]
    pub assume_yes: bool,
    /// No reverse DNS look-ups (host names are then neither shown nor transmitted)
    #[arg(short = 'n', long)]
    pub no_resolve: bool,
    /// Draw the same router at several TTLs as several vertices (no
    /// merging before rendering; the JSON is never merged)
    #[arg(long)]
    pub no_merge: bool,
    /// Alias resolution (two-way, IPv4): write the interfaces of one router,
    /// one router a line, to <output>.aliases
    #[arg(long)]
    pub resolve_aliases: bool,
    /// Base name of output files: the graph <NAME>.<F> (-f), the statistics
    /// <NAME>.json (-s) [default: trace]
    #[arg(short = 'o', long, value_name = "NAME")]
    pub output: Option<String>,
    /// Console log level
    #[arg(short = 'l', long, value_enum, value_name = "L", default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
    /// Graph file format; the graph is drawn to <output>.<F> whenever -f or
    /// -o is given (pdf if only -o); all but dot and html need Graphviz's
    /// `dot`; classic and csv change the report on stdout instead
    #[arg(short = 'f', long, value_enum, value_name = "F")]
    pub format: Option<Format>,
    /// Write the measurement to <output>.json in the reference's schema
    #[arg(short = 's', long)]
    pub store_json: bool,
    /// Print the traces as JSON (fields in the README) instead of the text report
    #[arg(long)]
    pub json: bool,
    /// Submit the measurement to the collector (asks first unless -y)
    #[arg(long)]
    pub transmit: bool,
    /// Collector URL for --transmit, https:// or http://[USER:PASSWORD@]HOST[:PORT][/PATH],
    /// checked before the trace [default: $REVERSE_TR_COLLECTOR, else `collector` in
    /// ~/.config/reverse-tr/config.toml]; credentials also from $REVERSE_TR_COLLECTOR_USER
    /// and $REVERSE_TR_COLLECTOR_PASSWORD; https trusts the Mozilla roots, or the PEM file
    /// $REVERSE_TR_COLLECTOR_CA
    #[arg(long, value_name = "URL", requires = "transmit")]
    pub collector: Option<String>,
    /// How long to wait for the collector, e.g. 30s
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = positive_duration)]
    pub collector_timeout: Duration,
    /// Print the public reverse-traceroute servers and exit; a TARGET may
    /// name one as @NAME (`@bcix`), or by its host name
    #[arg(long, exclusive = true)]
    pub list_endpoints: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogLevel {
    Debug,
    Info,
    Warning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Dot,
    Gif,
    Jpg,
    Pdf,
    Png,
    Ps,
    Svg,
    /// `paths` mode: one row per path ID, one column per TTL (the default)
    Horiz,
    /// `paths` mode: one column per path ID, one row per TTL
    Vert,
    /// The hops as traceroute(8) prints them, instead of the text report
    Classic,
    /// The hop table as CSV (one row per TTL and vertex), instead of the text report
    Csv,
    /// <output>.html: the graph as an interactive page (no Graphviz needed)
    Html,
}

/// DIRECTION (§11.3).
#[derive(Debug, Subcommand)]
pub(crate) enum DirectionCommand {
    /// Trace from here towards TARGET (any host)
    #[command(
        after_help = "Example:\n  reverse-tr forward udp singlepath --flow 33435 example.net"
    )]
    Forward(ProtocolChoice),
    /// Trace from the server on TARGET back towards you
    #[command(after_help = "Example:\n  reverse-tr reverse udp singlepath --flow 1234 example.net")]
    Reverse(ProtocolChoice),
    /// Forward and reverse at the same time
    #[command(after_help = "Example:\n  reverse-tr two-way tcp multipath example.net")]
    TwoWay(ProtocolChoice),
}

#[derive(Debug, Args)]
#[command(
    subcommand_value_name = "PROTOCOL",
    subcommand_help_heading = "Protocols"
)]
pub(crate) struct ProtocolChoice {
    #[command(subcommand)]
    pub protocol: Protocol,
}

/// PROTOCOL of the probes, in both directions.
#[derive(Debug, Subcommand)]
pub(crate) enum Protocol {
    /// UDP probes; the flow is the destination port
    #[command(after_help = "Example:\n  reverse-tr reverse udp singlepath --flow 1234 example.net")]
    Udp(ModeChoice),
    /// TCP SYN probes; the flow is the destination port
    #[command(after_help = "Example:\n  reverse-tr forward tcp singlepath --flow 443 example.net")]
    Tcp(ModeChoice),
    /// ICMP echo probes; the flow is the echo checksum
    #[command(after_help = "Example:\n  reverse-tr two-way icmp multipath example.net")]
    Icmp(ModeChoice),
}

#[derive(Debug, Args)]
#[command(subcommand_value_name = "MODE", subcommand_help_heading = "Modes")]
pub(crate) struct ModeChoice {
    #[command(subcommand)]
    pub mode: ModeCommand,
}

/// MODE: one flow, or every branch.
#[derive(Debug, Subcommand)]
pub(crate) enum ModeCommand {
    /// Follow one flow: every probe takes the same path through load balancers
    #[command(
        after_help = "Example:\n  reverse-tr reverse udp singlepath --flow 1234 --probes 5 example.net"
    )]
    Singlepath(Singlepath),
    /// Vary the flow to find every branch (MDA-Lite or MDA, confidence 1 − ε)
    #[command(
        after_help = "Example:\n  reverse-tr forward tcp multipath --confidence 0.01 example.net"
    )]
    Multipath(Multipath),
    /// One flow per path ID, each probed at every TTL: a table of the paths
    /// (traceflow); forward flows vary the source port only
    #[command(
        after_help = "Examples:\n  reverse-tr forward udp paths --paths 8 example.net\n  \
                      reverse-tr -f vert reverse tcp paths example.net"
    )]
    Paths(PathsArgs),
    /// ECMP fault isolation (fbtracert): many flows at every TTL for several
    /// rounds; reports flows answered up to a hop and lost after it
    #[command(
        after_help = "Examples:\n  reverse-tr --rate 2000 forward tcp fault --flows 32 --rounds 40 example.net\n  \
                      reverse-tr reverse udp fault --duration 30 --json example.net"
    )]
    Fault(FaultArgs),
    /// Monitor the path(s) continuously, as mtr: per hop and vertex the
    /// loss and round-trip times, path changes as they happen; a terminal
    /// view (keys: p pause, r reset, d direction, n names, ? help, q quit)
    /// or, with --report, the tables after some cycles
    #[command(
        after_help = "Examples:\n  reverse-tr -n two-way udp live 192.0.2.1\n  \
                      reverse-tr two-way icmp live --flow 1234 --report --cycles 20 example.net\n  \
                      reverse-tr reverse tcp live --jsonl --cycles 60 example.net"
    )]
    Live(LiveArgs),
}

/// Mode options of `paths`.
#[derive(Debug, Args)]
pub(crate) struct PathsArgs {
    /// Path IDs to probe, each on its own flow
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub paths: u16,
    /// Probes per path and TTL
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=10))]
    pub probes: u16,
    /// Destination port of forward UDP/TCP probes [default: 33434 UDP, 80 TCP]
    #[arg(long, value_name = "P")]
    pub port: Option<u16>,
    /// Host name, IP address, or @NAME of a public server (--list-endpoints)
    pub target: String,
}

/// Mode options of `fault`.
#[derive(Debug, Args)]
pub(crate) struct FaultArgs {
    /// Flows probed, each at every TTL up to the target
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub flows: u16,
    /// Rounds of probes (every flow at every TTL once per round)
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Probe for this long (e.g. 30s, 2m) instead of a number of rounds
    #[arg(long, value_name = "DURATION", value_parser = positive_duration, conflicts_with = "rounds")]
    pub duration: Option<Duration>,
    /// Destination port of forward UDP/TCP probes [default: 33434 UDP, 80 TCP]
    #[arg(long, value_name = "P")]
    pub port: Option<u16>,
    /// Print the report as JSON (the fields are in the README)
    #[arg(long)]
    pub json: bool,
    /// Host name, IP address, or @NAME of a public server (--list-endpoints)
    pub target: String,
}

/// What a run does with its probes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Job {
    /// `singlepath`, `multipath`: discover each direction's graph with
    /// the parameters of [`TraceConfig::params`].
    Trace,
    /// `paths`: a table of each direction's paths; forward UDP/TCP probes go
    /// to `port`.
    Paths {
        survey: Survey,
        layout: Layout,
        port: u16,
    },
    /// `fault`: suspect hops of each direction; forward UDP/TCP probes go to `port`.
    Fault {
        survey: FaultSurvey,
        port: u16,
        json: bool,
    },
    /// `live`: discover each direction with [`TraceConfig::params`], then
    /// monitor it.
    Live(LiveJob),
}

/// Mode options of `singlepath` (§11.9).
#[derive(Debug, Args)]
pub(crate) struct Singlepath {
    /// The flow: 1–65535 (0, "the server's default", is refused as by the
    /// reference, since it would mean different flows per protocol and direction)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub flow: u16,
    /// Probes per hop
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    pub probes: u16,
    /// Times a hop whose probes were all lost is asked again, one probe with
    /// each later hop's batch or all at the end, at least 1 s after its
    /// last (rate limits)
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retry: u32,
    /// Host name, IP address, or @NAME of a public server (--list-endpoints)
    pub target: String,
}

/// How multipath decides how many flows a hop needs (help on the option:
/// variant docs would switch clap to the long help layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AlgorithmArg {
    MdaLite,
    Mda,
}

impl From<AlgorithmArg> for Algorithm {
    fn from(algorithm: AlgorithmArg) -> Self {
        match algorithm {
            AlgorithmArg::MdaLite => Self::MdaLite,
            AlgorithmArg::Mda => Self::Mda,
        }
    }
}

/// Mode options of `multipath` (§11.10).
#[derive(Debug, Args)]
pub(crate) struct Multipath {
    /// ε: the probability, for each hop (mda-lite) or each vertex (mda), of
    /// missing a successor when the load is split evenly; 0 < ε < 1
    #[arg(long, value_name = "E", default_value_t = 0.05, value_parser = probability)]
    pub confidence: f64,
    /// mda-lite: flows per hop, assuming even, unmeshed load balancing,
    /// tested at every hop, with the full MDA where the test fails (fewer
    /// probes); mda: flows per vertex
    #[arg(long, value_name = "NAME", value_enum, default_value_t = AlgorithmArg::MdaLite)]
    pub algorithm: AlgorithmArg,
    /// Extra rounds for unanswered flows, and for a hop that never answered
    /// while deeper ones did
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retry: u32,
    /// Never re-probe new flows at a hop of one vertex; by default only a hop
    /// whose stopping point was not met is re-probed (§11.10.5)
    #[arg(long)]
    pub opt_single_vertex_hop: bool,
    /// Flows in the first burst (> 0, < --max-burst)
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub min_burst: u64,
    /// Largest burst
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub max_burst: u64,
    /// Host name, IP address, or @NAME of a public server (--list-endpoints)
    pub target: String,
}

impl Format {
    /// The graph file format `-f` asks for; `None` for the views and the
    /// layouts of `paths`, which write no graph.
    fn graph(self) -> Option<GraphFormat> {
        match self {
            Self::Dot => Some(GraphFormat::Dot),
            Self::Gif => Some(GraphFormat::Gif),
            Self::Jpg => Some(GraphFormat::Jpg),
            Self::Pdf => Some(GraphFormat::Pdf),
            Self::Png => Some(GraphFormat::Png),
            Self::Ps => Some(GraphFormat::Ps),
            Self::Svg => Some(GraphFormat::Svg),
            Self::Html => Some(GraphFormat::Html),
            Self::Horiz | Self::Vert | Self::Classic | Self::Csv => None,
        }
    }

    /// The value as typed after `-f`.
    fn name(self) -> String {
        self.to_possible_value()
            .map_or_else(String::new, |value| value.get_name().to_owned())
    }
}

/// A validated command line: the engine's configuration, the outputs',
/// and what the app itself does (resolving TARGET, names, logging,
/// submission).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub target: String,
    /// How the run probes.
    pub trace: TraceConfig,
    pub job: Job,
    /// What a trace run prints and writes.
    pub output: OutputConfig,
    /// `-4`/`-6`: resolve TARGET in this family only.
    pub family: Option<Family>,
    pub no_resolve: bool,
    pub log_level: LogLevel,
    /// `--transmit`: where to and how.
    pub transmit: Option<Transmit>,
    /// `--resolve-aliases`: the file to write the alias sets to.
    pub aliases_file: Option<String>,
}

impl Cli {
    /// The run this command line asks for, or the one-line reason it makes
    /// no sense (checks that span several options).
    pub(crate) fn config(self) -> Result<Config, String> {
        let o = self.options;
        if o.max_ttl < o.min_ttl {
            return Err(format!(
                "--max-ttl ({}) must be at least --min-ttl ({})",
                o.max_ttl, o.min_ttl
            ));
        }
        let (directions, choice) = match self.direction {
            Some(DirectionCommand::Forward(p)) => (Directions::Forward, p),
            Some(DirectionCommand::Reverse(p)) => (Directions::Reverse, p),
            Some(DirectionCommand::TwoWay(p)) => (Directions::TwoWay, p),
            None => {
                return Err("a DIRECTION is required: forward, reverse or two-way".to_owned());
            }
        };
        let (protocol, mode) = match choice.protocol {
            Protocol::Udp(m) => (ProbeProtocol::Udp, m.mode),
            Protocol::Tcp(m) => (ProbeProtocol::Tcp, m.mode),
            Protocol::Icmp(m) => (ProbeProtocol::Icmp, m.mode),
        };
        if matches!(o.format, Some(Format::Horiz | Format::Vert))
            && !matches!(mode, ModeCommand::Paths(_))
        {
            return Err("-f horiz and -f vert are layouts of the paths mode".to_owned());
        }
        // paths and fault print their own report and write no files.
        let layout_format = matches!(o.format, Some(Format::Horiz | Format::Vert))
            && matches!(mode, ModeCommand::Paths(_));
        if matches!(mode, ModeCommand::Paths(_) | ModeCommand::Fault(_)) {
            let refused = [
                (o.json, "--json (fault takes its own: `fault --json`)"),
                (o.store_json, "-s"),
                (o.output.is_some(), "-o"),
                (
                    o.format.is_some() && !layout_format,
                    "-f (paths takes -f horiz or -f vert)",
                ),
                (o.transmit, "--transmit"),
                (o.resolve_aliases, "--resolve-aliases"),
            ];
            if let Some((_, option)) = refused.iter().find(|(given, _)| *given) {
                return Err(format!(
                    "{option} applies to singlepath and multipath traces, not to paths or fault"
                ));
            }
        }
        let view = match (o.format, o.json) {
            (Some(format @ (Format::Classic | Format::Csv)), true) => {
                return Err(format!(
                    "-f {} and --json both replace the text report; choose one",
                    format.name()
                ));
            }
            (Some(Format::Classic), false) => View::Classic,
            (Some(Format::Csv), false) => View::Csv,
            (_, true) => View::Json,
            (_, false) => View::Text,
        };
        let port = |port: Option<u16>| match (port, protocol, directions) {
            (Some(_), ProbeProtocol::Icmp, _) => {
                Err("--port applies to UDP and TCP probes".to_owned())
            }
            (Some(_), _, Directions::Reverse) => {
                Err("--port applies to forward probes (the server fixes its ports)".to_owned())
            }
            (Some(port), _, _) => Ok(port),
            (None, _, _) => Ok(SURVEY_PORTS
                .iter()
                .find(|(p, _)| *p == protocol)
                .map_or(0, |(_, port)| *port)),
        };
        let (lowest, highest, abort) = (o.min_ttl, o.max_ttl, o.abort);
        let (mode, job, target) = match mode {
            ModeCommand::Paths(p) => {
                let survey = Survey {
                    min_ttl: lowest,
                    max_ttl: highest,
                    abort,
                    paths: p.paths,
                    probes: p.probes,
                };
                let layout = if o.format == Some(Format::Vert) {
                    Layout::Vertical
                } else {
                    Layout::Horizontal
                };
                let port = port(p.port)?;
                // A single-path trace of path 1: what `params` would run.
                let mode = Mode::SinglePath {
                    flow: path_flow(1),
                    probes: p.probes,
                    retry: 0,
                };
                (
                    mode,
                    Job::Paths {
                        survey,
                        layout,
                        port,
                    },
                    p.target,
                )
            }
            ModeCommand::Fault(f) => {
                let survey = FaultSurvey {
                    min_ttl: lowest,
                    max_ttl: highest,
                    abort,
                    flows: f.flows,
                    rounds: f.duration.map_or(Rounds::Count(f.rounds), Rounds::For),
                };
                let job = Job::Fault {
                    survey,
                    port: port(f.port)?,
                    json: f.json,
                };
                let mode = Mode::SinglePath {
                    flow: path_flow(1),
                    probes: 1,
                    retry: 0,
                };
                (mode, job, f.target)
            }
            ModeCommand::Singlepath(s) => (
                Mode::SinglePath {
                    flow: s.flow,
                    probes: s.probes,
                    retry: s.retry,
                },
                Job::Trace,
                s.target,
            ),
            ModeCommand::Live(live) => {
                let (job, mode) = live.job();
                (mode, Job::Live(job), live.target)
            }
            ModeCommand::Multipath(m) => {
                if m.min_burst >= m.max_burst {
                    return Err(format!(
                        "--min-burst ({}) must be less than --max-burst ({})",
                        m.min_burst, m.max_burst
                    ));
                }
                let burst =
                    |n: u64| usize::try_from(n).map_err(|_| format!("burst size {n} is too large"));
                let mode = Mode::MultiPath(MultipathSettings {
                    algorithm: m.algorithm.into(),
                    confidence: m.confidence,
                    retry: m.retry,
                    min_burst: burst(m.min_burst)?,
                    max_burst: burst(m.max_burst)?,
                    single_vertex_opt: m.opt_single_vertex_hop,
                });
                (mode, Job::Trace, m.target)
            }
        };
        // A bad address or endpoint name is a usage error, found before any probe.
        host_of(&target).map_err(|error| error.to_string())?;
        let family = match (o.ipv4, o.ipv6) {
            (true, _) => Some(Family::V4),
            (_, true) => Some(Family::V6),
            _ => None,
        };
        let gap = o.inter.unwrap_or_else(|| Duration::from_secs(1) / o.rate);
        let graph = match o.format {
            Some(format) => format.graph(),
            None => o.output.is_some().then_some(GraphFormat::Pdf),
        };
        let output = o.output.unwrap_or_else(|| "trace".to_owned());
        Ok(Config {
            target,
            trace: TraceConfig {
                directions,
                protocol,
                padding: o.padding,
                timeout: o.timeout,
                gap,
                params: Params {
                    min_ttl: o.min_ttl,
                    max_ttl: o.max_ttl,
                    abort: o.abort,
                    mode,
                },
            },
            job,
            output: OutputConfig {
                base: output.clone(),
                graph,
                store_json: o.store_json,
                merge: !o.no_merge,
                view,
            },
            family,
            no_resolve: o.no_resolve,
            log_level: o.log_level,
            transmit: o.transmit.then_some(Transmit {
                collector: o.collector,
                timeout: o.collector_timeout,
                assume_yes: o.assume_yes,
            }),
            aliases_file: o.resolve_aliases.then(|| format!("{output}.aliases")),
        })
    }
}

/// A duration of 0 or more: `500ms`, `2s`, `1m` or plain seconds.
fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|error| error.to_string())
}

/// A duration, strictly positive.
fn positive_duration(text: &str) -> Result<Duration, String> {
    duration(text).and_then(|d| {
        if d.is_zero() {
            Err("must be more than 0 seconds".to_owned())
        } else {
            Ok(d)
        }
    })
}

/// A probability strictly between 0 and 1.
fn probability(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(format!("{text} is not between 0 and 1 (exclusive)"))
    }
}

/// The client's clap grammar, for the man pages and shell completions
/// (`cargo xtask package`).
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn config(args: &str) -> Result<Config, String> {
        let words = std::iter::once("reverse-tr").chain(args.split_whitespace());
        Cli::try_parse_from(words)
            .map_err(|error| error.to_string())?
            .config()
    }

    #[test]
    fn every_duration_option_takes_units_or_seconds() {
        let run = config(
            "--timeout 500ms --inter 20ms \
             forward udp fault --duration 1.5s 192.0.2.1",
        )
        .expect("valid");
        assert_eq!(run.trace.timeout, Duration::from_millis(500));
        assert_eq!(run.trace.gap, Duration::from_millis(20));
        let Job::Fault { survey, .. } = run.job else {
            panic!("a fault job");
        };
        assert_eq!(survey.rounds, Rounds::For(Duration::from_millis(1500)));

        let plain = config(
            "--timeout 3 --inter 0.25 --transmit --collector-timeout 1m \
             forward udp singlepath --flow 1 192.0.2.1",
        )
        .expect("valid");
        assert_eq!(
            (plain.trace.timeout, plain.trace.gap),
            (Duration::from_secs(3), Duration::from_millis(250))
        );
        let transmit = plain.transmit.expect("--transmit");
        assert_eq!(transmit.timeout, Duration::from_secs(60));
        let defaults = config("forward udp singlepath --flow 1 192.0.2.1").expect("valid");
        assert_eq!(defaults.trace.timeout, Duration::from_secs(2));
    }

    #[test]
    fn f_splits_into_a_graph_format_a_view_and_a_layout() {
        let trace = "forward udp singlepath --flow 1 192.0.2.1";
        let run = |options: &str| config(&format!("{options} {trace}"));
        let csv = run("-f csv").expect("valid");
        assert_eq!((csv.output.view, csv.output.graph), (View::Csv, None));
        let classic = run("-f classic").expect("valid");
        assert_eq!(
            (classic.output.view, classic.output.graph),
            (View::Classic, None)
        );
        let svg = run("-f svg").expect("valid");
        assert_eq!(
            (svg.output.view, svg.output.graph),
            (View::Text, Some(GraphFormat::Svg))
        );
        let json = run("--json -o out").expect("valid");
        assert_eq!(
            (json.output.view, json.output.graph),
            (View::Json, Some(GraphFormat::Pdf))
        );
        assert_eq!(
            run("-f csv --json").expect_err("two views"),
            "-f csv and --json both replace the text report; choose one"
        );
        assert_eq!(
            run("-f classic --json").expect_err("two views"),
            "-f classic and --json both replace the text report; choose one"
        );
        let paths = config("-f vert forward udp paths 192.0.2.1").expect("valid");
        assert_eq!(paths.output.graph, None);
        assert!(matches!(
            paths.job,
            Job::Paths {
                layout: Layout::Vertical,
                ..
            }
        ));
        assert!(config("-f csv forward udp paths 192.0.2.1").is_err());
    }
}
