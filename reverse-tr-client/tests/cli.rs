//! The command line as a user meets it: every bad input ends with one clear
//! line on stderr and its own exit status, never a panic; `--help` teaches.

use std::process::{Command, Output};

fn reverse_tr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reverse-tr"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// `args` with a valid rest of the command line appended.
fn with_singlepath<'a>(options: &[&'a str]) -> Vec<&'a str> {
    [
        options,
        &[
            "forward",
            "udp",
            "singlepath",
            "--flow",
            "1234",
            "127.0.0.1",
        ],
    ]
    .concat()
}

#[test]
fn bad_input_gives_its_message_and_status() {
    let usage = 2;
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["--json", "forward", "udp", "paths", "192.0.2.1"],
            usage,
            "--json (fault takes its own: `fault --json`) applies to singlepath and multipath traces, not to paths or fault",
        ),
        (
            vec!["-s", "forward", "udp", "fault", "192.0.2.1"],
            usage,
            "-s applies to singlepath and multipath traces",
        ),
        (
            vec!["-f", "svg", "reverse", "tcp", "paths", "192.0.2.1"],
            usage,
            "-f (paths takes -f horiz or -f vert) applies to",
        ),
        (
            vec!["--transmit", "-y", "two-way", "icmp", "fault", "192.0.2.1"],
            usage,
            "--transmit applies to",
        ),
        (
            with_singlepath(&["--transmit", "--collector", "ftp://c.example/"]),
            usage,
            "reverse-tr: transmission failed: collector URL `ftp://c.example/`: must start with https:// or http://",
        ),
        (with_singlepath(&["--min-ttl", "0"]), usage, "--min-ttl"),
        (with_singlepath(&["--max-ttl", "256"]), usage, "--max-ttl"),
        (
            with_singlepath(&["--min-ttl", "9", "--max-ttl", "4"]),
            usage,
            "--max-ttl (4) must be at least --min-ttl (9)",
        ),
        (with_singlepath(&["--abort", "1"]), usage, "--abort"),
        (
            with_singlepath(&["-f", "csv", "--json"]),
            usage,
            "-f csv and --json both replace the text report; choose one",
        ),
        (
            vec!["-f", "csv", "forward", "udp", "paths", "192.0.2.1"],
            usage,
            "-f (paths takes -f horiz or -f vert) applies to",
        ),
        (
            with_singlepath(&["--timeout", "0"]),
            usage,
            "must be more than 0 seconds",
        ),
        (
            with_singlepath(&["--timeout", "soon"]),
            usage,
            "`soon` is not a duration",
        ),
        (
            with_singlepath(&["--timeout", "5 parsecs"]),
            usage,
            "unknown unit `parsecs`",
        ),
        (
            with_singlepath(&["--inter=-1"]),
            usage,
            "not a duration of 0 seconds or more",
        ),
        (
            with_singlepath(&["--inter", "0.1", "--rate", "50"]),
            usage,
            "cannot be used with",
        ),
        (with_singlepath(&["--rate", "0"]), usage, "--rate"),
        (with_singlepath(&["-4", "-6"]), usage, "cannot be used with"),
        (with_singlepath(&["--padding=2000"]), usage, "--padding"),
        (
            vec!["forward", "udp", "singlepath", "--flow", "0", "x"],
            usage,
            "--flow",
        ),
        (
            vec!["forward", "udp", "singlepath", "--flow", "65536", "x"],
            usage,
            "--flow",
        ),
        (vec!["forward", "udp", "singlepath", "x"], usage, "--flow"),
        (
            vec![
                "forward",
                "udp",
                "singlepath",
                "--flow",
                "1",
                "--probes",
                "0",
                "x",
            ],
            usage,
            "--probes",
        ),
        (
            vec!["forward", "udp", "multipath", "--confidence", "0", "x"],
            usage,
            "not between 0 and 1",
        ),
        (
            vec!["forward", "udp", "multipath", "--confidence", "1", "x"],
            usage,
            "not between 0 and 1",
        ),
        (
            vec!["forward", "udp", "multipath", "--confidence=-0.5", "x"],
            usage,
            "not between 0 and 1",
        ),
        (
            vec!["forward", "udp", "multipath", "--min-burst", "0", "x"],
            usage,
            "--min-burst",
        ),
        (
            vec!["forward", "udp", "multipath", "--min-burst", "600", "x"],
            usage,
            "--min-burst (600) must be less than --max-burst (500)",
        ),
        (
            vec!["two-way", "udp", "live", "--interval", "0.5", "x"],
            usage,
            "must be at least 1 s",
        ),
        (
            vec!["two-way", "udp", "live", "--json", "--csv", "x"],
            usage,
            "cannot be used with",
        ),
        (
            vec!["two-way", "udp", "live", "--cycles", "0", "x"],
            usage,
            "--cycles",
        ),
        (
            vec!["sideways", "udp", "singlepath", "--flow", "1", "x"],
            usage,
            "unrecognized subcommand",
        ),
        (
            vec!["forward", "sctp", "singlepath", "--flow", "1", "x"],
            usage,
            "unrecognized subcommand",
        ),
        (
            vec!["forward", "udp", "singlepath", "--flow", "1"],
            usage,
            "<TARGET>",
        ),
        (
            vec![
                "-n",
                "forward",
                "udp",
                "singlepath",
                "--flow",
                "1",
                "300.1.1.1",
            ],
            usage,
            "TARGET `300.1.1.1`: not an IPv4 address",
        ),
        (
            vec!["-n", "reverse", "icmp", "multipath", "2001:db8::1::2"],
            usage,
            "TARGET `2001:db8::1::2`: not an IPv6 address",
        ),
        (
            vec!["-n", "two-way", "udp", "multipath", "@nosuch"],
            usage,
            "TARGET `@nosuch`: no public server of that name (see --list-endpoints)",
        ),
        (
            vec![
                "-6",
                "forward",
                "udp",
                "singlepath",
                "--flow",
                "1",
                "127.0.0.1",
            ],
            3,
            "failed to resolve 127.0.0.1: no IPv6 address",
        ),
        (
            vec!["-4", "reverse", "icmp", "multipath", "::1"],
            3,
            "failed to resolve ::1: no IPv4 address",
        ),
    ];
    assert_each_fails(cases, usage);
}

/// The presence check needs raw sockets: root (or CAP_NET_RAW).
#[cfg(feature = "root-tests")]
#[test]
fn a_host_without_a_server_is_named_with_the_fix() {
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec![
                "-n",
                "reverse",
                "udp",
                "singlepath",
                "--flow",
                "1",
                "127.0.0.1",
            ],
            5,
            "127.0.0.1 does not run a reverse-traceroute server; try `forward`",
        ),
        (
            vec!["-n", "two-way", "tcp", "multipath", "::1"],
            5,
            "::1 does not run a reverse-traceroute server; try `forward`",
        ),
    ];
    assert_each_fails(cases, 2);
}

/// Runs each case: its status, its message, never a panic, and (beyond
/// usage errors, status `usage`) one `reverse-tr: …` line at the end.
fn assert_each_fails(cases: Vec<(Vec<&str>, i32, &str)>, usage: i32) {
    for (args, status, message) in cases {
        let output = reverse_tr(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(status), "{args:?}: {stderr}");
        assert!(
            stderr.contains(message),
            "{args:?}: expected `{message}` in: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        if status != usage {
            let last = stderr.lines().last().unwrap_or_default();
            assert!(
                last.starts_with("reverse-tr: "),
                "{args:?}: one line `reverse-tr: …` at the end: {stderr}"
            );
        }
    }
}

#[test]
fn without_raw_socket_privilege_says_which_capability() {
    // The same binary with CAP_NET_RAW dropped from the bounding set.
    let output = Command::new("setpriv")
        .args([
            "--bounding-set=-net_raw",
            "--",
            env!("CARGO_BIN_EXE_reverse-tr"),
        ])
        .args([
            "-n",
            "forward",
            "icmp",
            "singlepath",
            "--flow",
            "1",
            "127.0.0.1",
        ])
        .output()
        .expect("setpriv (util-linux) runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("CAP_NET_RAW"), "{stderr}");
}

#[test]
fn help_teaches_every_level() {
    for (args, snapshot) in [
        (&["--help"][..], "help"),
        (&["two-way", "--help"], "help_direction"),
        (&["two-way", "udp", "--help"], "help_protocol"),
        (
            &["two-way", "udp", "singlepath", "--help"],
            "help_singlepath",
        ),
        (&["two-way", "udp", "multipath", "--help"], "help_multipath"),
        (&["forward", "udp", "paths", "--help"], "help_paths"),
        (&["forward", "tcp", "fault", "--help"], "help_fault"),
        (&["two-way", "udp", "live", "--help"], "help_live"),
    ] {
        let output = reverse_tr(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        insta::assert_snapshot!(snapshot, String::from_utf8_lossy(&output.stdout));
    }
}

#[test]
fn list_endpoints_needs_no_trace_and_takes_nothing_else() {
    let output = reverse_tr(&["--list-endpoints"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("NAME"), "{stdout}");
    assert_eq!(stdout.lines().count(), 6, "{stdout}");
    assert!(
        stdout.lines().any(|line| line.starts_with("bcix ")
            && line.contains("www.bcix.de")
            && line.contains("62193")),
        "{stdout}"
    );
    let cases: [(&[&str], &str); 3] = [
        (&["--list-endpoints", "-n"], "cannot be used with"),
        (&[], "a DIRECTION is required"),
        (
            &[
                "--collector",
                "http://c.example/",
                "forward",
                "udp",
                "singlepath",
                "--flow",
                "1",
                "x",
            ],
            "--transmit",
        ),
    ];
    for (args, expected) in cases {
        let output = reverse_tr(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn a_full_or_closed_stdout_is_one_line_and_status_7() {
    let full = std::fs::File::create("/dev/full").expect("/dev/full opens");
    let (reader, closed) = std::io::pipe().expect("a pipe");
    drop(reader);
    for (stdout, reason) in [
        (std::process::Stdio::from(full), "No space left on device"),
        (std::process::Stdio::from(closed), "Broken pipe"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_reverse-tr"))
            .arg("--list-endpoints")
            .stdout(stdout)
            .output()
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(7), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("reverse-tr: writing standard output: ") && stderr.contains(reason),
            "{stderr}"
        );
    }
}

#[test]
fn usage_errors_take_two_lines_what_and_the_fix() {
    // The fix, when clap's error does not carry it in its own line.
    let cases: [(&[&str], &str, Option<&str>); 4] = [
        (
            &["--padding", "24", "forward", "udp", "multipath", "x"],
            "unrecognized subcommand '24'",
            Some("--padding takes its value after `=`: --padding=24"),
        ),
        (
            &["forwrd", "udp", "multipath", "x"],
            "unrecognized subcommand 'forwrd'",
            Some("a similar subcommand exists: 'forward'"),
        ),
        (
            &["forward", "udp", "singlepath", "--flow", "1"],
            "required arguments were not provided: <TARGET>",
            Some("usage: reverse-tr forward udp singlepath --flow <N> <TARGET>"),
        ),
        (
            &["--timeout", "soon", "forward", "udp", "multipath", "x"],
            "`soon` is not a duration (a number with ns, us, ms, s, m or h; plain seconds)",
            None,
        ),
    ];
    for (args, what, fix) in cases {
        let output = reverse_tr(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert!(
            lines[0].starts_with("reverse-tr: ") && lines[0].contains(what),
            "{args:?}: {stderr}"
        );
        assert_eq!(lines.get(1).is_some(), fix.is_some(), "{args:?}: {stderr}");
        if let (Some(line), Some(fix)) = (lines.get(1), fix) {
            assert!(line.contains(fix), "{args:?}: {stderr}");
        }
        assert!(lines.len() <= 2, "{args:?}: {stderr}");
    }
    // --help is not an error: whole, on stdout, status 0.
    let help = reverse_tr(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).lines().count() > 20);
}
