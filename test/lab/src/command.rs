//! The one place that runs helper programs, so every failure names the
//! command and carries its stderr.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::{Error, Result};

/// Runs `command` to completion, feeding it `input` on stdin when given, and
/// returns its stdout; a non-zero exit is an error carrying stderr.
pub fn run(command: &mut Command, input: Option<&str>) -> Result<String> {
    let line = describe(command);
    let spawn_error = |source| Error::Spawn {
        command: line.clone(),
        source,
    };
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(spawn_error)?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // Dropping stdin at the end of this block closes it: the batch ends.
        stdin.write_all(input.as_bytes()).map_err(spawn_error)?;
    }
    let output = child.wait_with_output().map_err(spawn_error)?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(Error::Command {
            command: line,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// The command line as a user would type it.
pub fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_input_and_failures_are_reported() {
        let echoed = run(&mut Command::new("cat"), Some("batch\n")).expect("cat runs");
        assert_eq!(echoed, "batch\n");

        let failed = run(
            Command::new("sh").args(["-c", "echo oops >&2; exit 3"]),
            None,
        );
        match failed {
            Err(Error::Command {
                command,
                status,
                stderr,
            }) => {
                assert_eq!(command, "sh -c echo oops >&2; exit 3");
                assert_eq!(status.code(), Some(3));
                assert_eq!(stderr, "oops");
            }
            other => panic!("expected a command failure, got {other:?}"),
        }

        let missing = run(&mut Command::new("/nonexistent/ip"), None);
        assert!(
            matches!(&missing, Err(Error::Spawn { command, .. }) if command == "/nonexistent/ip"),
            "{missing:?}"
        );
    }
}
