//! The daemon's command line: the clap grammar (also the source of the
//! man page and shell completions, see [`command`]) and its translation
//! into the loader's configuration and policy.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use log::LevelFilter;
use reverse_tr_common::constants::{DEFAULT_CAPACITY, DEFAULT_TIMEOUT_NS};
use reverse_tr_common::{
    ProbeProtocol,
    policy::{NO_AMPLIFICATION, Policy, RATE_MAX, Rate},
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
  reverse-tr-server -n 100000 --timeout 2s --no-amplification --protocols udp,icmp eth0
      a large table, short sessions, padded requests only, no TCP probes

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
#[derive(Debug, Parser)]
#[command(
    name = "reverse-tr-server",
    version = env!("REVERSE_TR_VERSION"),
    after_help = EXAMPLES,
    args_override_self = true
)]
pub struct Cli {
    /// Most sessions pending at once (0: the default, 5000).
    #[arg(short = 'n', long, value_name = "N", value_parser = parse_number::<u32>, default_value_t = DEFAULT_CAPACITY)]
    max_sessions: u32,
    /// How long a session waits for its answer, e.g. 5s or 750ms (0: the default, 5s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "timeout_ns")]
    timeout: Option<Duration>,
    /// The timeout in nanoseconds, as the reference loader's -t (0: the default).
    #[arg(short = 't', value_name = "NANOSECONDS", value_parser = parse_number::<u64>)]
    timeout_ns: Option<u64>,
    /// Log level (error, warn, info, debug, trace); overrides RUST_LOG.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<LevelFilter>,
    /// Print the verifier log when the kernel rejects the program.
    #[arg(short, long)]
    pub verbose: bool,
    /// Requests per second admitted from one source address (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 400)]
    rate: u64,
    /// Requests one source address may send back to back.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    burst: u64,
    /// Requests per second admitted from one /24 (IPv4) or /48 (IPv6) (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 1600)]
    prefix_rate: u64,
    /// Requests one /24 or /48 may send back to back.
    #[arg(long, value_name = "N", default_value_t = 4000)]
    prefix_burst: u64,
    /// Serve only sources in this prefix (repeatable; with none, all are served).
    #[arg(long, value_name = "PREFIX")]
    allow: Vec<Prefix>,
    /// Never serve sources in this prefix (repeatable; wins over --allow).
    #[arg(long, value_name = "PREFIX")]
    deny: Vec<Prefix>,
    /// File of "allow PREFIX" and "deny PREFIX" lines, re-read on SIGHUP.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Probe protocols offered; others get error state 2.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "icmp,udp,tcp"
    )]
    protocols: Vec<Protocol>,
    /// Drop requests shorter than the largest packet they can cause (56
    /// octets IPv4, 76 IPv6), so nothing sent is larger than its request;
    /// refuses the reference client's unpadded requests.
    #[arg(long)]
    no_amplification: bool,
    /// Serve Prometheus metrics on this address, e.g. 127.0.0.1:9464 (under
    /// systemd, a socket unit passes the socket instead).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Log a summary of the counters this often, at info (0: never).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub summary_every: Duration,
    /// Interfaces to serve on.
    #[arg(value_name = "IFACE", required = true)]
    pub interfaces: Vec<String>,
}

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

/// A duration: a number with a unit (ns, us, ms, s, m), or seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}"))?;
    let seconds = match unit.trim() {
        "ns" => value / 1e9,
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "" | "s" => value,
        "m" => value * 60.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use ns, us, ms, s or m)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds)
        .map_err(|error| format!("invalid duration {text:?}: {error}"))
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
        let min_request_len = if self.no_amplification {
            NO_AMPLIFICATION
        } else {
            [0; 2]
        };
        Ok(Sources {
            policy: Policy {
                source: rate("--rate", self.rate, self.burst)?,
                prefix: rate("--prefix-rate", self.prefix_rate, self.prefix_burst)?,
                min_request_len,
                refused_protocols: refused_protocols(&offered),
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

    use super::{Cli, parse_duration, parse_number};

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
    fn durations_take_units() {
        let cases = [
            ("5s", Some(Duration::from_secs(5))),
            ("5", Some(Duration::from_secs(5))),
            ("750ms", Some(Duration::from_millis(750))),
            ("2.5s", Some(Duration::from_millis(2500))),
            ("100us", Some(Duration::from_micros(100))),
            ("1m", Some(Duration::from_secs(60))),
            ("5 parsecs", None),
            ("-1s", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text).ok(), expected, "{text:?}");
        }
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
            (5000, Duration::from_secs(5))
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
