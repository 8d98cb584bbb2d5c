//! The one error type of the xtask library.

/// Result of xtask library operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in a task.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lab could not be built, inspected or removed.
    #[error(transparent)]
    Lab(#[from] reverse_tr_lab::Error),
    /// A file or process of the demo could not be handled.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The demo could not run to its end.
    #[error("demo: {0}")]
    Demo(String),
    /// A benchmark could not measure what it set out to.
    #[error("bench: {0}")]
    Bench(String),
    /// The server could not be loaded or run for a benchmark.
    #[error("server: {0}")]
    Server(#[from] reverse_tr_server::Error),
    /// The Ctrl-C/SIGTERM handler could not be installed.
    #[error("cannot install the interrupt handler: {0}")]
    Interrupt(#[from] ctrlc::Error),
}
