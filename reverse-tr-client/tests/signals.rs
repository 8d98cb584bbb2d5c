#![cfg(feature = "root-tests")]
//! SIGTERM and SIGHUP end a trace as Ctrl-C does: the probes in flight are
//! finished, the partial trace printed, and the status is 130. The trace
//! is a forward fault survey of loopback for a minute, so it is still
//! running when the signal comes.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

#[test]
fn sigterm_and_sighup_print_the_partial_trace() {
    for signal in ["TERM", "HUP", "INT"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_reverse-tr"))
            .args(["-n", "--inter", "10ms", "forward", "icmp", "fault"])
            .args(["--flows", "2", "--duration", "1m", "127.0.0.1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        // The handlers are in place before this line is logged.
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        stderr.read_line(&mut line).expect("a log line");
        assert!(line.contains("tracing 127.0.0.1"), "{line}");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let output = child.wait_with_output().expect("the client ends");
        let rest = std::io::read_to_string(stderr).expect("stderr");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(130), "SIG{signal}: {rest}");
        assert!(rest.contains("interrupted"), "SIG{signal}: {rest}");
        assert!(
            stdout.starts_with("FORWARD fault isolation")
                && stdout.contains("interrupted: the counts are partial"),
            "SIG{signal}: the partial report: {stdout}"
        );
    }
}
