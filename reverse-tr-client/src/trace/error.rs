//! Errors of the trace engine: the network refusing, the server answering
//! otherwise than a reverse-traceroute server, parameters out of range.

use std::net::IpAddr;

use thiserror::Error;

use crate::trace::probe::ErrorState;

pub(crate) type Result<T, E = TraceError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum TraceError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The kernel refused to send a probe or request (no route, …).
    #[error("sending to {destination}: {source}")]
    Send {
        destination: IpAddr,
        source: std::io::Error,
    },
    /// A packet could not be built (a bug, or an option out of range).
    #[error("building a packet: {0}")]
    Wire(#[from] reverse_tr_common::Error),
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
    /// A discovery parameter outside the range §11.1 allows.
    #[error("--{name} must be {constraint}")]
    InvalidParameter {
        name: &'static str,
        constraint: &'static str,
    },
}
