//! Standard output, where reports and listings go. A closed pipe or a full
//! disk there is the reader's doing, not a bug: it ends the run with its own
//! error ([`OutputError::Stdout`]) instead of the panic of `print!`.

use std::io::Write;

use crate::{output::OutputError, output::Result};

/// Writes `text` to stdout and flushes it.
pub(crate) fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(OutputError::Stdout)
}
