//! `reverse-tr-server`: attach the reverse-traceroute server to interfaces
//! and log its sessions until SIGINT/SIGTERM.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use log::LevelFilter;
use reverse_tr_common::constants::{DEFAULT_CAPACITY, DEFAULT_TIMEOUT_NS};
use reverse_tr_common::{
    ProbeProtocol,
    duration::parse_duration,
    policy::{NO_AMPLIFICATION, Policy, RATE_MAX, Rate},
};
use reverse_tr_server::{
    Config, Error, Server, attach, daemon,
    policy::{Lists, Prefix, Sources, describe, refused_protocols},
};

const EXAMPLES: &str = "\
Examples:
  reverse-tr-server eth0
      serve on eth0 with the defaults (as root; Ctrl-C detaches and prints the counters)
  reverse-tr-server --policy /etc/reverse-tr/policy --metrics 127.0.0.1:9464 eth0 eth1
      two interfaces, allow/deny lists re-read on SIGHUP, Prometheus metrics on loopback
  reverse-tr-server -n 100000 --timeout 2s --no-amplification --protocols udp,icmp eth0
      a large table, short sessions, padded requests only, no TCP probes";

/// The reverse-traceroute server: answers reverse-traceroute requests
/// arriving on the given interfaces (an eBPF program on TC ingress).
#[derive(Debug, Parser)]
#[command(name = "reverse-tr-server", version, after_help = EXAMPLES)]
struct Cli {
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
    log_level: Option<LevelFilter>,
    /// Print the verifier log when the kernel rejects the program.
    #[arg(short, long)]
    verbose: bool,
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
    /// Serve Prometheus metrics on this address, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Interfaces to serve on.
    #[arg(value_name = "IFACE", required = true)]
    interfaces: Vec<String>,
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

impl Cli {
    /// The configuration, 0 meaning "default" as for the reference.
    fn config(&self) -> Config {
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
    fn sources(&self) -> Result<Sources, Error> {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if let Some(level) = cli.log_level {
        logger.filter_level(level);
    }
    logger.init();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("reverse-tr-server: {error}");
            if let (true, Some(Error::Verifier { log, .. })) =
                (cli.verbose, error.downcast_ref::<Error>())
            {
                eprintln!("{log}");
            }
            let code = error.downcast_ref::<Error>().map_or(1, Error::exit_code);
            ExitCode::from(code)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let config = cli.config();
    let sources = cli.sources()?;
    let (policy, lists) = sources.read()?;
    // Bound before loading, so a taken address fails before anything else.
    let metrics = cli
        .metrics
        .map(|address| {
            std::net::TcpListener::bind(address)
                .map_err(|error| anyhow::anyhow!("metrics address {address}: {error}"))
        })
        .transpose()?;
    let mut server = Server::load(config)?;
    server.apply(&policy, &lists)?;
    log::info!(
        "session timeout {:?}, at most {} sessions",
        config.timeout,
        config.max_sessions
    );
    log::info!(
        "policy: {}; {} allowed, {} denied prefixes",
        describe(&policy),
        lists.allow.len(),
        lists.deny.len()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let signals = {
        let _context = runtime.enter();
        daemon::Signals::install()?
    };
    for interface in &cli.interfaces {
        let hook = attach(&mut server, interface)?;
        log::info!("serving on {interface} ({hook})");
    }
    runtime.block_on(daemon::serve(
        &mut server,
        daemon::Options {
            sources,
            metrics,
            signals,
        },
    ))?;
    log::info!("stopping; counters:\n{}", daemon::summary(&server)?);
    // Dropping the server detaches the program from every interface.
    drop(server);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser as _;

    use super::{Cli, parse_number};

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
}
