//! The one error type of the lab.

use std::process::ExitStatus;

/// Result of lab operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while driving the lab.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A helper program (`ip`, `nft`, `sysctl`, `ping`, `traceroute`) could not be started.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// A helper program ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    /// The network namespaces could not be listed.
    #[error("cannot list network namespaces in {path}: {source}")]
    ListNamespaces {
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A lab name that cannot be part of a namespace name.
    #[error(
        "invalid lab name `{0}`: use 1 to 12 lowercase letters and digits, starting with a letter"
    )]
    InvalidName(String),
    /// `up` with the name of a lab that is already up.
    #[error("lab `{0}` is already up (remove it with `cargo xtask lab down --name {0}`)")]
    AlreadyUp(String),
    /// A condition that this lab cannot take (a router it does not have).
    #[error("conditions: {0}")]
    Condition(String),
    /// A lab that is not up was named.
    #[error("no lab named `{0}` is up")]
    NotFound(String),
}
