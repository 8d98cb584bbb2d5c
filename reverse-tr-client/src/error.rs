//! Errors of the client library. Each variant maps to one exit status of the
//! CLI (see `Error::exit_code`).

use std::net::IpAddr;

use thiserror::Error;

use crate::trace::probe::ErrorState;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The routing table has no way to TARGET.
    #[error("no route to {target}: {source}")]
    NoRoute {
        target: IpAddr,
        source: std::io::Error,
    },
    /// The kernel refused to send a probe or request (no route, …).
    #[error("sending to {destination}: {source}")]
    Send {
        destination: IpAddr,
        source: std::io::Error,
    },
    /// A packet could not be built (a bug, or an option out of range).
    #[error("building a packet: {0}")]
    Wire(#[from] reverse_tr_common::Error),
    /// TARGET has no address of the wanted family (§11.2).
    #[error("failed to resolve {target}: {reason}")]
    Resolve { target: String, reason: String },
    /// TARGET is neither a host name nor an IP address nor `@ENDPOINT`.
    #[error("TARGET `{target}`: {reason}")]
    Target { target: String, reason: String },
    /// Opening a raw socket was refused.
    #[error(
        "raw sockets need root or the CAP_NET_RAW capability (try `sudo` or `setcap cap_net_raw+ep`)"
    )]
    NoPrivilege,
    /// The presence check (§11.5.3) got no answer at all.
    #[error(
        "{target} did not answer the reverse-traceroute presence check; is a server running there? try `forward`"
    )]
    NoAnswer { target: IpAddr },
    /// An ICMP error answered the presence check: the way to TARGET is broken.
    #[error(
        "{target} is unreachable (an ICMP error came from {from}); no reverse-traceroute server can answer"
    )]
    Unreachable { target: IpAddr, from: IpAddr },
    /// The presence check got a plain echo: a host without a server (§11.5.3).
    #[error("{target} does not run a reverse-traceroute server; try `forward`")]
    NoServer { target: IpAddr },
    /// The server refused a request with an error state (§7.3).
    #[error("the server refused the request: {state}")]
    Refused { state: ErrorState },
    /// Standard output is closed or full (`| head`, `>/dev/full`).
    #[error("writing standard output: {0}")]
    Stdout(std::io::Error),
    /// The privileges that opened the raw sockets could not be dropped.
    #[error("dropping privileges after opening the raw sockets: {0}")]
    Privileges(String),
    /// Ctrl-C ended the trace early.
    #[error("interrupted")]
    Interrupted,
    /// A line of an ENDPOINTS file (§11.18) that is not a record.
    #[error("ENDPOINTS line {line}: {problem}")]
    Endpoint {
        line: usize,
        problem: crate::cli::endpoints::EndpointProblem,
    },
    /// The configuration file could not be read or parsed.
    #[error("{path}: {reason}")]
    Config { path: String, reason: String },
    /// An output file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    /// Submission to the collector (§11.16) failed.
    #[error("transmission failed: {0}")]
    Transmit(String),
    /// `-f` asks for a format only Graphviz's `dot` program can lay out.
    #[error(
        "-f {format} needs the `dot` program of Graphviz, which is not installed: install the `graphviz` package (e.g. `apt install graphviz`) or use -f dot"
    )]
    NoGraphviz { format: &'static str },
    /// Graphviz's `dot` failed to lay out the graph.
    #[error("graphviz `dot` failed: {0}")]
    Graphviz(String),
    /// A discovery parameter outside the range §11.1 allows.
    #[error("--{name} must be {constraint}")]
    InvalidParameter {
        name: &'static str,
        constraint: &'static str,
    },
}

impl Error {
    /// The CLI's exit status for this error; the table is printed by
    /// `reverse-tr --help`. Usage errors exit with 2 from the parser itself.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Resolve { .. } => 3,
            Self::NoPrivilege => 4,
            Self::NoAnswer { .. } | Self::NoServer { .. } | Self::Unreachable { .. } => 5,
            Self::Refused { .. } => 6,
            Self::Stdout(_) => 7,
            Self::Interrupted => 130,
            Self::InvalidParameter { .. } | Self::Target { .. } => 2,
            Self::Io(_)
            | Self::NoRoute { .. }
            | Self::Send { .. }
            | Self::Wire(_)
            | Self::Endpoint { .. }
            | Self::Config { .. }
            | Self::Write { .. }
            | Self::Transmit(_)
            | Self::NoGraphviz { .. }
            | Self::Graphviz(_)
            | Self::Privileges(_) => 1,
        }
    }
}
