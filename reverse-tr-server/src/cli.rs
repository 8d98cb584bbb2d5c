//! The daemon's command line: the clap grammar (also the source of the
//! man page and shell completions, see [`command`]) and its translation
//! into the loader's configuration and policy.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use log::LevelFilter;
use reverse_tr_common::constants::{DEFAULT_CAPACITY, DEFAULT_TIMEOUT_NS};
use reverse_tr_common::{
    ProbeProtocol,
    duration::parse_duration,
    policy::{DEFAULT_POLICY, Policy, RATE_MAX, Rate},
};

use crate::{
    Config, Error,
    policy::{Lists, Prefix, Sources, refused_protocols},
};

/// The examples ending `--help` (and the man page): by hand, then as the
/// packaged systemd units run it.
const EXAMPLES: &str = "\
Examples:
  reverse-tr-server eth0
      serve on eth0 with the defaults (as root; Ctrl-C detaches and prints the counters)
  reverse-tr-server --policy /etc/reverse-tr/policy --metrics 127.0.0.1:9464 eth0 eth1
      two interfaces, allow/deny lists re-read on SIGHUP, Prometheus metrics on loopback
  reverse-tr-server --refuse-private --no-amplification --protocols udp,icmp eth0
      for the Internet only: no private sources, padded requests only, no TCP probes

Under systemd (one instance per interface, its name escaped by systemd-escape):
  systemctl enable --now \"reverse-tr-server@$(systemd-escape br-lan)\"
      serve on br-lan whenever it exists; `systemctl reload` re-reads --policy
  /etc/reverse-tr/server.conf, then /etc/reverse-tr/server-IFACE.conf
      DEFAULT_ARGS (every instance), then ARGS (this one): a flag given twice takes the later
  systemctl enable --now \"reverse-tr-server-metrics@$(systemd-escape br-lan).socket\"
      Prometheus metrics on 127.0.0.1:9464, the socket passed by systemd (LISTEN_FDS)
  journalctl -u 'reverse-tr-server@*' -p warning
      what went wrong; sessions are logged at debug (--log-level debug)";

/// The reverse-traceroute server: answers reverse-traceroute requests
/// arriving on the given interfaces (an eBPF program on TC ingress).
///
/// The defaults suit a server exposed to the whole Internet: every limit
/// below holds even against spoofed sources, and together they keep the
/// session table far from full (session rate × timeout + burst = 24,000
/// of 100,000). Refused requests are dropped silently and counted
/// (--metrics, and the counters printed at exit); 0 switches a limit off.
#[derive(Debug, Parser)]
#[command(
    name = "reverse-tr-server",
    version = env!("REVERSE_TR_VERSION"),
    after_help = EXAMPLES,
    args_override_self = true
)]
pub struct Cli {
    /// Most sessions pending at once (0: the default).
    #[arg(short = 'n', long, value_name = "N", value_parser = parse_number::<u32>, default_value_t = DEFAULT_CAPACITY, help_heading = "Sessions")]
    max_sessions: u32,
    /// How long a session waits for its answer, e.g. 5s or 750ms (0: the default, 5s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "timeout_ns", help_heading = "Sessions")]
    timeout: Option<Duration>,
    /// The timeout in nanoseconds, as the reference loader's -t (0: the default).
    #[arg(short = 't', value_name = "NANOSECONDS", value_parser = parse_number::<u64>, help_heading = "Sessions")]
    timeout_ns: Option<u64>,
    /// Requests per second admitted from one source: an IPv4 address or an
    /// IPv6 /64 (a host owns a whole /64).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_POLICY.source.per_second, help_heading = LIMITS)]
    rate: u64,
    /// Requests one source may send back to back. A source seen for the
    /// first time starts with a quarter second of its rate, not a full burst.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_POLICY.source.burst, help_heading = LIMITS)]
    burst: u64,
    /// Requests per second admitted from one /24 (IPv4) or /48 (IPv6).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_POLICY.prefix.per_second, help_heading = LIMITS)]
    prefix_rate: u64,
    /// Requests one /24 or /48 may send back to back.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_POLICY.prefix.burst, help_heading = LIMITS)]
    prefix_burst: u64,
    /// Most sessions pending for one source (IPv4 address, IPv6 /64).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_POLICY.source_sessions, help_heading = LIMITS)]
    source_sessions: u32,
    /// Most sessions pending for one /24 or /48.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_POLICY.prefix_sessions, help_heading = LIMITS)]
    prefix_sessions: u32,
    /// Sessions created per second by the whole server, whatever the
    /// sources: the table holds at most this × timeout + burst from them.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_POLICY.sessions.per_second, help_heading = LIMITS)]
    session_rate: u64,
    /// Sessions the whole server may create back to back.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_POLICY.sessions.burst, help_heading = LIMITS)]
    session_burst: u64,
    /// Sources seen for the first time (or forgotten) taken on per second
    /// by the whole server, so spoofed random sources cannot crowd out
    /// known ones.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_POLICY.new_sources.per_second, help_heading = LIMITS)]
    new_source_rate: u64,
    /// New sources the whole server may take on back to back.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_POLICY.new_sources.burst, help_heading = LIMITS)]
    new_source_burst: u64,
    /// Unpadded requests served per second by the whole server. A request
    /// is unpadded when it is shorter than the probe, response (and for
    /// TCP the host's reset) it causes, as the reference client's are: a
    /// spoofed one makes the server send its victim more than it got.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_POLICY.unpadded.per_second, help_heading = LIMITS)]
    unpadded_rate: u64,
    /// Unpadded requests the whole server may serve back to back.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_POLICY.unpadded.burst, help_heading = LIMITS)]
    unpadded_burst: u64,
    /// Unpadded requests served per second to one source (the reference
    /// client sends 10 a second).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_POLICY.unpadded_source.per_second, help_heading = LIMITS)]
    unpadded_source_rate: u64,
    /// Unpadded requests one source may send back to back.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_POLICY.unpadded_source.burst, help_heading = LIMITS)]
    unpadded_source_burst: u64,
    /// Drop unpadded requests instead of serving them from their budget:
    /// those shorter than all this host can send to their source for them
    /// (probe, response and, for TCP, the host's reset: IPv4 92 octets, TCP
    /// 140; IPv6 132, TCP 200). Refuses the reference client's requests.
    #[arg(long, help_heading = SOURCES)]
    no_amplification: bool,
    /// Serve only sources in this prefix (repeatable; with none, all are served).
    #[arg(long, value_name = "PREFIX", help_heading = SOURCES)]
    allow: Vec<Prefix>,
    /// Never serve sources in this prefix (repeatable; wins over --allow).
    #[arg(long, value_name = "PREFIX", help_heading = SOURCES)]
    deny: Vec<Prefix>,
    /// File of "allow PREFIX" and "deny PREFIX" lines, re-read on SIGHUP.
    #[arg(long, value_name = "FILE", help_heading = SOURCES)]
    policy: Option<PathBuf>,
    /// Refuse private and shared sources (10/8, 172.16/12, 192.168/16,
    /// 100.64/10, fc00::/7), for a server only the Internet should use.
    /// Sources that can never be a requester (loopback, multicast,
    /// reserved, the host's own addresses, IPv4 embedded in IPv6, ...) are
    /// always refused.
    #[arg(long, help_heading = SOURCES)]
    refuse_private: bool,
    /// Probe protocols offered; others get error state 2.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "icmp,udp,tcp",
        help_heading = SOURCES
    )]
    protocols: Vec<Protocol>,
    /// Serve Prometheus metrics on this address, e.g. 127.0.0.1:9464 (under
    /// systemd, a socket unit passes the socket instead).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Log what the counters moved by this often, at info, when anything
    /// moved (0: never).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1m")]
    pub summary_every: Duration,
    /// Log level (error, warn, info, debug, trace); overrides RUST_LOG.
    /// At debug the loader's own lines stay at info; trace shows them.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<LevelFilter>,
    /// Print the verifier log when the kernel rejects the program.
    #[arg(short, long)]
    pub verbose: bool,
    /// Interfaces to serve on; requests are served only to their
    /// addresses, followed as they change.
    #[arg(value_name = "IFACE", required = true)]
    pub interfaces: Vec<String>,
}

/// The help headings of the options.
const LIMITS: &str = "Limits (0: no limit)";
const SOURCES: &str = "Requests and sources served";

/// A probe protocol of `--protocols`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Protocol {
    Icmp,
    Udp,
    Tcp,
}

impl From<Protocol> for ProbeProtocol {
    fn from(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Icmp => Self::Icmp,
            Protocol::Udp => Self::Udp,
            Protocol::Tcp => Self::Tcp,
        }
    }
}

/// An unsigned number with an optional C-style base prefix (0x, 0), as the
/// reference loader accepts.
fn parse_number<T: TryFrom<u64>>(text: &str) -> Result<T, String> {
    let parsed = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16)
    } else if text.len() > 1
        && let Some(octal) = text.strip_prefix('0')
    {
        u64::from_str_radix(octal, 8)
    } else {
        text.parse()
    };
    let value = parsed.map_err(|error| format!("invalid number {text:?}: {error}"))?;
    T::try_from(value).map_err(|_| format!("{text} is out of range"))
}

impl Cli {
    /// The configuration, 0 meaning "default" as for the reference.
    pub fn config(&self) -> Config {
        let timeout = self
            .timeout
            .or(self.timeout_ns.map(Duration::from_nanos))
            .filter(|timeout| !timeout.is_zero())
            .unwrap_or(Duration::from_nanos(DEFAULT_TIMEOUT_NS));
        let max_sessions = if self.max_sessions == 0 {
            DEFAULT_CAPACITY
        } else {
            self.max_sessions
        };
        Config {
            max_sessions,
            timeout,
        }
    }

    /// The operator's policy from the flags.
    pub fn sources(&self) -> Result<Sources, Error> {
        let rate = |name: &str, per_second: u64, burst: u64| match per_second {
            0 => Ok(Rate::OFF),
            _ => Rate::new(per_second, burst).ok_or_else(|| {
                Error::Config(format!(
                    "{name} {per_second}/s with burst {burst}: both must be 1 to {RATE_MAX}"
                ))
            }),
        };
        let offered: Vec<ProbeProtocol> = self.protocols.iter().map(|p| (*p).into()).collect();
        Ok(Sources {
            policy: Policy {
                source: rate("--rate", self.rate, self.burst)?,
                prefix: rate("--prefix-rate", self.prefix_rate, self.prefix_burst)?,
                sessions: rate("--session-rate", self.session_rate, self.session_burst)?,
                new_sources: rate(
                    "--new-source-rate",
                    self.new_source_rate,
                    self.new_source_burst,
                )?,
                unpadded: rate("--unpadded-rate", self.unpadded_rate, self.unpadded_burst)?,
                unpadded_source: rate(
                    "--unpadded-source-rate",
                    self.unpadded_source_rate,
                    self.unpadded_source_burst,
                )?,
                source_sessions: self.source_sessions,
                prefix_sessions: self.prefix_sessions,
                refused_protocols: refused_protocols(&offered),
                refuse_private: u8::from(self.refuse_private),
                refuse_unpadded: u8::from(self.no_amplification),
                // The daemon keeps the interfaces' addresses in the map.
                local_only: 1,
                ..Policy::default()
            },
            lists: Lists {
                allow: self.allow.iter().copied().collect(),
                deny: self.deny.iter().copied().collect(),
            },
            file: self.policy.clone(),
        })
    }
}

/// The daemon's clap grammar, for the man page and shell completions
/// (`cargo xtask package`).
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser as _;

    use reverse_tr_common::{
        constants::DEFAULT_CAPACITY,
        policy::{DEFAULT_POLICY, Rate},
    };

    use super::{Cli, parse_number};

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).expect("valid arguments")
    }

    #[test]
    fn the_defaults_are_the_recommended_policy() {
        let sources = cli(&["reverse-tr-server", "eth0"])
            .sources()
            .expect("a policy");
        assert_eq!(sources.policy, DEFAULT_POLICY);
        assert_eq!(
            cli(&["reverse-tr-server", "eth0"]).config().max_sessions,
            100_000
        );
    }

    #[test]
    fn every_limit_has_its_flag() {
        let policy = cli(&[
            "reverse-tr-server",
            "--rate=1",
            "--burst=2",
            "--prefix-rate=3",
            "--prefix-burst=4",
            "--session-rate=5",
            "--session-burst=6",
            "--new-source-rate=7",
            "--new-source-burst=8",
            "--unpadded-rate=9",
            "--unpadded-burst=10",
            "--unpadded-source-rate=0",
            "--source-sessions=11",
            "--prefix-sessions=0",
            "--refuse-private",
            "--no-amplification",
            "eth0",
        ])
        .sources()
        .expect("a policy")
        .policy;
        let rate = |per_second, burst| Rate::new(per_second, burst).expect("a rate");
        assert_eq!(
            [
                policy.source,
                policy.prefix,
                policy.sessions,
                policy.new_sources,
                policy.unpadded,
                policy.unpadded_source
            ],
            [
                rate(1, 2),
                rate(3, 4),
                rate(5, 6),
                rate(7, 8),
                rate(9, 10),
                Rate::OFF
            ]
        );
        assert_eq!((policy.source_sessions, policy.prefix_sessions), (11, 0));
        assert_eq!((policy.refuse_private, policy.refuse_unpadded), (1, 1));
        let error = cli(&["reverse-tr-server", "--session-burst=0", "eth0"])
            .sources()
            .expect_err("a burst of 0");
        assert!(
            error
                .to_string()
                .contains("--session-rate 4000/s with burst 0"),
            "{error}"
        );
    }

    #[test]
    fn numbers_take_c_style_prefixes() {
        for (text, expected) in [
            ("5000", Some(5000)),
            ("0x10", Some(16)),
            ("010", Some(8)),
            ("0", Some(0)),
            ("5k", None),
            ("", None),
        ] {
            assert_eq!(parse_number::<u64>(text).ok(), expected, "{text:?}");
        }
        assert!(
            parse_number::<u32>("0x100000000").is_err(),
            "out of range for -n"
        );
    }

    #[test]
    fn reference_options_and_zero_defaults() {
        let config = |args: &[&str]| Cli::try_parse_from(args).expect("valid arguments").config();
        let reference = config(&[
            "reverse-tr-server",
            "-n",
            "0x20",
            "-t",
            "2000000000",
            "eth0",
        ]);
        assert_eq!(
            (reference.max_sessions, reference.timeout),
            (32, Duration::from_secs(2))
        );
        let zeros = config(&["reverse-tr-server", "-n", "0", "-t", "0", "eth0"]);
        assert_eq!(
            (zeros.max_sessions, zeros.timeout),
            (DEFAULT_CAPACITY, Duration::from_secs(5))
        );
        let long = config(&[
            "reverse-tr-server",
            "--max-sessions",
            "7",
            "--timeout",
            "300ms",
            "eth0",
            "eth1",
        ]);
        assert_eq!(
            (long.max_sessions, long.timeout),
            (7, Duration::from_millis(300))
        );
        assert!(
            Cli::try_parse_from(["reverse-tr-server", "-t", "1", "--timeout", "1s", "eth0"])
                .is_err()
        );
        assert!(
            Cli::try_parse_from(["reverse-tr-server"]).is_err(),
            "an interface is required"
        );
    }

    #[test]
    fn an_instances_flags_override_the_shared_defaults() {
        // ExecStart=… $DEFAULT_ARGS $ARGS %I: the instance's come later.
        let cli = Cli::try_parse_from([
            "reverse-tr-server",
            "--rate",
            "100",
            "--allow",
            "192.0.2.0/24",
            "--rate",
            "50",
            "--allow",
            "198.51.100.0/24",
            "eth0",
        ])
        .expect("a flag may be given twice");
        assert_eq!(cli.rate, 50);
        assert_eq!(cli.allow.len(), 2, "repeatable flags add up");
    }
}
