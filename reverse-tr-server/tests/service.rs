#![cfg(feature = "root-tests")]
//! The daemon as the systemd unit runs it, each test in a network
//! namespace of its own: with only the unit's capabilities as an
//! unprivileged user; on an interface named with a dash, by the unit's
//! expanded ExecStart; serving metrics on the socket a socket unit passes
//! (LISTEN_FDS); logging to the journal stream with priorities.

mod support;
mod units;

use std::{os::unix::fs::MetadataExt as _, process::Command, time::Duration};

use support::*;
use units::*;

#[test]
fn the_units_capabilities_suffice_for_an_unprivileged_user() {
    let unit = template(SERVICE);
    let ambient = values(&unit, "AmbientCapabilities");
    assert_eq!(
        ambient,
        values(&unit, "CapabilityBoundingSet"),
        "the unit grants what it bounds"
    );
    let capabilities: Vec<String> = ambient
        .iter()
        .flat_map(|line| line.split_whitespace())
        .map(|name| {
            let name = name
                .strip_prefix("CAP_")
                .expect("capability names start with CAP_");
            format!("+{}", name.to_lowercase())
        })
        .collect();
    assert!(!capabilities.is_empty());
    let set = format!("-all,{}", capabilities.join(","));
    // A fresh network namespace: nothing outside it is touched. unshare
    // execs setpriv, which execs the daemon: the pid is the daemon's.
    let daemon = Logged::start(
        Command::new("unshare")
            .args(["--net", "setpriv", "--reuid=65534", "--regid=65534"])
            .args(["--clear-groups", "--no-new-privs"])
            .arg(format!("--inh-caps={set}"))
            .arg(format!("--ambient-caps={set}"))
            .arg(format!("--bounding-set={set}"))
            .arg(env!("CARGO_BIN_EXE_reverse-tr-server"))
            .arg("lo"),
    );
    daemon.expect_line("serving on lo");
    let (status, rest) = daemon.stop();
    let log = rest.join("\n");
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("stopping; counters: requests 0"), "{log}");
}

#[test]
fn the_units_exec_start_serves_an_interface_named_with_a_dash() {
    let service = Instance::new(SERVICE, "br-lan");
    let unit = service.expand(&with_built_binary(&template(SERVICE)));
    // The configuration files' variables, as systemd substitutes them:
    // `$NAME` splits into words, an unset one into none.
    let exec = value(&unit, "ExecStart")
        .replace("$DEFAULT_ARGS", "--summary-every 0")
        .replace("$ARGS", "--rate 100");
    let argv: Vec<&str> = exec.split_whitespace().collect();
    // The namespace gets an interface of that name (one end of a veth
    // pair), then execs the daemon.
    let daemon = Logged::start(
        Command::new("unshare")
            .args(["--net", "sh", "-c"])
            .arg("ip link add br-lan type veth peer name br-lan-peer && ip link set br-lan up && exec \"$@\"")
            .arg("sh")
            .args(&argv),
    );
    daemon.expect_line("serving on br-lan");
    let (status, _) = daemon.stop();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn metrics_come_through_the_socket_systemd_passes() {
    isolate().expect("a network namespace of the test's own");
    serve_on_lo();
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    // systemd's own socket activation: it listens, and on the first
    // connection execs the daemon with the socket as fd 3, LISTEN_FDS=1
    // and LISTEN_PID set, as the socket unit does.
    let daemon = Logged::start(
        Command::new("systemd-socket-activate")
            .args(["--listen", &address])
            .arg(env!("CARGO_BIN_EXE_reverse-tr-server"))
            .arg("lo"),
    );
    daemon.expect_line(&format!("Listening on {address}"));
    // Waits in the backlog until the daemon has started and accepts it.
    let (status, body) = get(port, "/metrics");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let samples = samples(&body);
    assert_eq!(sample(&samples, "reverse_tr_sessions_active"), 0.0);
    let (line, _) = daemon.expect_lines("metrics on");
    assert!(
        line.contains(&format!("http://{address}/metrics")),
        "{line}"
    );
    daemon.expect_line("serving on lo");
    send_request(1);
    let udp = r#"reverse_tr_requests_total{family="ipv4",protocol="udp"}"#;
    let counted = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        sample(&support::samples(&get(port, "/metrics").1), udp) == 1.0
    });
    assert!(counted, "the request is counted");
    let (status, _) = daemon.stop();
    assert_eq!(status.code(), Some(0));

    // A passed socket and --metrics: one of them is a mistake.
    let both = Logged::start(
        Command::new("systemd-socket-activate")
            .args(["--listen", &address])
            .arg(env!("CARGO_BIN_EXE_reverse-tr-server"))
            .args(["--metrics", "127.0.0.1:1", "lo"]),
    );
    both.expect_line(&format!("Listening on {address}"));
    let _ = std::net::TcpStream::connect(&address).expect("activates the daemon");
    let line = both.expect_line("reverse-tr-server:");
    assert!(line.contains("use one of them"), "{line}");
}

#[test]
fn the_journal_gets_one_entry_per_event_with_its_priority() {
    isolate().expect("a network namespace of the test's own");
    serve_on_lo();
    let directory = std::env::temp_dir().join(format!("reverse-tr-journal-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("a temporary directory");
    let policy = directory.join("policy");
    std::fs::write(&policy, "# nobody denied\n").expect("policy written");
    // The journal stream: a pipe, named by JOURNAL_STREAM as systemd does.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    let writer = std::fs::File::from(std::os::fd::OwnedFd::from(writer));
    let stat = writer.metadata().expect("the pipe's inode");
    let child = daemon_command()
        .args(["--summary-every", "1s", "--policy"])
        .arg(&policy)
        .arg("lo")
        .env("JOURNAL_STREAM", format!("{}:{}", stat.dev(), stat.ino()))
        .env_remove("RUST_LOG")
        .stderr(writer)
        .spawn()
        .expect("the daemon starts");
    let daemon = Logged::reading(child, reader);
    let (serving, before) = daemon.expect_lines("serving on lo");
    assert!(serving.starts_with("<6>serving on lo"), "{serving}");

    send_request(7);
    // Sessions are debug: the summary counts them, no line names them.
    let (summary, between) = daemon.expect_lines("1 requests");
    assert!(summary.starts_with("<6>in the last 1s: "), "{summary}");

    std::fs::write(&policy, "deny 127.0.0.1/8\n").expect("policy written");
    daemon.signal(libc::SIGHUP);
    let error = daemon.expect_line("SIGHUP");
    assert!(error.starts_with("<3>SIGHUP: "), "{error}");

    let (status, after) = daemon.stop();
    assert_eq!(status.code(), Some(0));
    let stop: Vec<&String> = after
        .iter()
        .filter(|line| line.contains("counters"))
        .collect();
    assert_eq!(stop.len(), 1, "{after:#?}");
    assert!(
        stop[0].starts_with("<6>stopping; counters: requests 1, "),
        "{}",
        stop[0]
    );
    let log: Vec<&String> = before.iter().chain(&between).chain(&after).collect();
    for line in &log {
        assert!(
            line.len() > 3 && line.starts_with('<') && line.as_bytes()[2] == b'>',
            "an entry without its priority: {line:?}"
        );
        assert!(!line.contains("127.0.0.1,"), "a session at info: {line}");
    }
    let _ = std::fs::remove_dir_all(&directory);
}
