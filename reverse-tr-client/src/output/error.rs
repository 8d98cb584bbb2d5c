//! Errors of the outputs: files and stdout that cannot be written,
//! Graphviz, and submission to a collector.

use thiserror::Error;

pub(crate) type Result<T, E = OutputError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum OutputError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Standard output is closed or full (`| head`, `>/dev/full`).
    #[error("writing standard output: {0}")]
    Stdout(std::io::Error),
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
}
