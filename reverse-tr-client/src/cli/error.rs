//! Errors at the app's edge: those of the engine and of the outputs, and
//! the app's own (resolving TARGET, privileges, interruption). Each maps
//! to one exit status of the CLI (see `Error::exit_code`).

use std::net::IpAddr;

use thiserror::Error;

use crate::{
    cli::endpoints::EndpointError,
    output::OutputError,
    trace::{TraceError, probe::ErrorState},
};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The routing table has no way to TARGET.
    #[error("no route to {target}: {source}")]
    NoRoute {
        target: IpAddr,
        source: std::io::Error,
    },
    /// TARGET has no address of the wanted family (§11.2).
    #[error("failed to resolve {target}: {reason}")]
    Resolve { target: String, reason: String },
    /// TARGET is neither a host name nor an IP address nor `@ENDPOINT`.
    #[error("TARGET `{target}`: {reason}")]
    Target { target: String, reason: String },
    /// The privileges that opened the raw sockets could not be dropped.
    #[error("dropping privileges after opening the raw sockets: {0}")]
    Privileges(String),
    /// Ctrl-C ended the trace early.
    #[error("interrupted")]
    Interrupted,
    /// A line of an ENDPOINTS file (§11.18) that is not a record.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
}

impl Error {
    /// The server refused requests with `state` (§7.3).
    pub fn refused(state: ErrorState) -> Self {
        Self::Trace(TraceError::Refused { state })
    }

    /// The CLI's exit status for this error; the table is printed by
    /// `reverse-tr --help`. Usage errors exit with 2 from the parser itself.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Trace(error) => match error {
                TraceError::NoPrivilege => 4,
                TraceError::NoAnswer { .. }
                | TraceError::NoServer { .. }
                | TraceError::Unreachable { .. } => 5,
                TraceError::Refused { .. } => 6,
                TraceError::InvalidParameter { .. } => 2,
                TraceError::Io(_) | TraceError::Send { .. } | TraceError::Wire(_) => 1,
            },
            Self::Output(error) => match error {
                OutputError::Stdout(_) => 7,
                OutputError::Io(_)
                | OutputError::Config { .. }
                | OutputError::Write { .. }
                | OutputError::Transmit(_)
                | OutputError::NoGraphviz { .. }
                | OutputError::Graphviz(_) => 1,
            },
            Self::Resolve { .. } => 3,
            Self::Interrupted => 130,
            Self::Target { .. } => 2,
            Self::Io(_) | Self::NoRoute { .. } | Self::Endpoint(_) | Self::Privileges(_) => 1,
        }
    }
}
