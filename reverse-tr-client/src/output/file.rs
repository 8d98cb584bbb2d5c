//! Writing the graph to `<output>.<format>` (§11.14): the DOT source as it
//! is, or laid out by Graphviz's `dot` reading it from a pipe (no
//! intermediate file is left behind).

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use crate::{output::GraphFormat, output::OutputError, output::Result};

/// Writes the graph of `dot` (DOT source) to `<output>.<format>` and
/// returns the file's path.
pub(crate) fn write_graph(dot: &str, format: GraphFormat, output: &str) -> Result<PathBuf> {
    let extension = format.extension();
    let path = PathBuf::from(format!("{output}.{extension}"));
    if format.needs_graphviz() {
        lay_out(dot, extension, &path)?;
    } else {
        std::fs::write(&path, dot).map_err(|source| OutputError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(path)
}

/// Runs `dot -T<format> -o <path>` on the source.
fn lay_out(dot: &str, format: &'static str, path: &Path) -> Result<()> {
    let mut child = Command::new("dot")
        .arg(format!("-T{format}"))
        .arg("-o")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => OutputError::NoGraphviz { format },
            _ => OutputError::Graphviz(error.to_string()),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot.as_bytes())
            .map_err(|error| OutputError::Graphviz(error.to_string()))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|error| OutputError::Graphviz(error.to_string()))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr.lines().next().unwrap_or("no message").trim();
        Err(OutputError::Graphviz(format!(
            "{} ({reason})",
            output.status
        )))
    }
}
