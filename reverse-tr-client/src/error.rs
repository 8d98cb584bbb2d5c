//! Errors of the client library. Each variant maps to one exit status of the
//! CLI (see `Error::exit_code`).

use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
