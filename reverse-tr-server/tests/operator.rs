//! The daemon as an operator runs it, on `lo` of a network namespace of the
//! test's own: metrics scraped on loopback move with traffic, and the
//! policy file is re-read on SIGHUP without detaching the program, all or
//! nothing.
#![cfg(feature = "root-tests")]

mod support;

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::mpsc::{Receiver, channel},
    time::Duration,
};

use socket2::{Domain, Protocol, Socket, Type};
use support::*;

/// How long the daemon gets to log an expected line.
const PATIENCE: Duration = Duration::from_secs(30);

/// The daemon and its stderr lines.
struct Daemon {
    child: Child,
    lines: Receiver<String>,
}

impl Daemon {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_reverse-tr-server"))
            .args(args)
            .stderr(Stdio::piped())
            .spawn()
            .expect("the daemon starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits for a line containing `text`; returns it.
    fn expect_line(&self, text: &str) -> String {
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(error) => panic!("no line with {text:?} from the daemon: {error}"),
            }
        }
    }

    fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill only sends a signal to our own child.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.signal(libc::SIGTERM);
        let _ = self.child.wait();
    }
}

/// A free loopback port in this namespace.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.local_addr().expect("its address").port()
}

/// GET `path`; the status line and the body.
fn get(port: u16, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("metrics connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("request sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a header and a body");
    (head.to_owned(), body.to_owned())
}

/// The samples of a text exposition: series (name and labels) → value.
/// Checks every sample's metric has a TYPE line before it.
fn samples(text: &str) -> Vec<(String, f64)> {
    let mut typed = Vec::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            typed.push(name.to_owned());
        } else if !line.starts_with("# HELP ") {
            let (series, value) = line.rsplit_once(' ').expect("series value");
            let name = series.split('{').next().unwrap_or_default();
            assert!(typed.iter().any(|t| t == name), "no TYPE before {line}");
            samples.push((series.to_owned(), value.parse().expect("a number")));
        }
    }
    samples
}

fn sample(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find_map(|(s, value)| (s == series).then_some(*value))
        .unwrap_or_else(|| panic!("no sample {series}"))
}

/// The address the daemon serves, on `lo`.
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// A requester's (spoofed) address: loopback sources are never served.
const REQUESTER: Ipv4Addr = Ipv4Addr::new(10, 9, 9, 9);

/// Sends one unpadded IPv4 request for a UDP probe from [`REQUESTER`] to
/// [`SERVER`].
fn send_request(identifier: u16) {
    let socket = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(libc::IPPROTO_RAW)),
    )
    .expect("raw socket");
    let (from, to) = (IpAddr::V4(REQUESTER), IpAddr::V4(SERVER));
    let mut rest = identifier.to_be_bytes().to_vec();
    rest.extend([0, 0, 5, 17, 0x30, 0x39]);
    let packet = icmp_packet(from, to, 64, 8, 1, &rest);
    let to = SocketAddr::new(to, 0);
    socket.send_to(&packet, &to.into()).expect("request sent");
}

/// Writes `text` to the policy file, sends SIGHUP and returns the
/// daemon's line about the reload.
fn reload(daemon: &Daemon, policy: &std::path::Path, text: &str) -> String {
    std::fs::write(policy, text).expect("policy written");
    daemon.signal(libc::SIGHUP);
    daemon.expect_line("SIGHUP:")
}

/// Waits until the metric `series` reaches `expected`.
fn reaches(port: u16, series: &str, expected: f64) -> bool {
    (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        sample(&samples(&get(port, "/metrics").1), series) == expected
    })
}

#[test]
fn metrics_move_with_traffic_and_sighup_reloads_the_policy_all_or_nothing() {
    isolate().expect("a network namespace of the test's own");
    let status = Command::new("ip")
        .args(["address", "add", "10.0.0.1/32", "dev", "lo"])
        .status()
        .expect("ip runs");
    assert!(status.success(), "adding {SERVER} to lo");
    let port = free_port();
    let directory =
        std::env::temp_dir().join(format!("reverse-tr-operator-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("a temporary directory");
    let policy = directory.join("policy");
    std::fs::write(&policy, "# nobody yet\n").expect("policy written");
    let address = format!("127.0.0.1:{port}");
    let daemon = Daemon::start(&[
        "--metrics",
        &address,
        "--policy",
        policy.to_str().expect("a UTF-8 path"),
        "lo",
    ]);
    daemon.expect_line("serving on lo");

    // A scraper that connects and says nothing holds up no one.
    let _silent = TcpStream::connect(("127.0.0.1", port)).expect("metrics connect");
    let (status, body) = get(port, "/metrics");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(status.contains("text/plain; version=0.0.4"), "{status}");
    let before = samples(&body);
    let udp = r#"reverse_tr_requests_total{family="ipv4",protocol="udp"}"#;
    assert_eq!(sample(&before, udp), 0.0);
    assert_eq!(sample(&before, "reverse_tr_denied_total"), 0.0);
    assert!(get(port, "/").0.starts_with("HTTP/1.1 404"));

    send_request(1);
    // The request is counted before the scrape can see it only once the
    // kernel has passed it through lo's ingress: poll briefly.
    assert!(reaches(port, udp, 1.0), "the request counter moved");
    assert!(
        reaches(port, "reverse_tr_probes_total", 1.0),
        "the request was served"
    );

    let line = reload(&daemon, &policy, "deny 10.9.9.0/24\n");
    assert!(
        line.contains("SIGHUP: policy reloaded: +deny 10.9.9.0/24"),
        "{line}"
    );
    send_request(2);
    assert!(
        reaches(port, "reverse_tr_denied_total", 1.0),
        "the request was denied after the reload"
    );

    let line = reload(&daemon, &policy, "deny 10.9.9.1/24\n");
    assert!(
        line.contains("line 1: invalid prefix \"10.9.9.1/24\": host bits are set")
            && line.contains("keeping the policy in force"),
        "{line}"
    );

    // More prefixes than the deny list holds (16,384): the reload fails
    // half way, after thousands of entries went in, and is undone.
    let mut crowded = String::from("allow 10.9.9.0/24\n");
    for n in 0..16_385u32 {
        crowded.push_str(&format!("deny 11.{}.{}.0/24\n", n / 256, n % 256));
    }
    let line = reload(&daemon, &policy, &crowded);
    assert!(
        line.contains("policy not applied") && line.contains("keeping the policy in force"),
        "{line}"
    );
    send_request(3);
    assert!(
        reaches(port, "reverse_tr_denied_total", 2.0),
        "the old deny list is still in force"
    );
    // Nothing of the failed reload is left: the old file changes nothing.
    let line = reload(&daemon, &policy, "deny 10.9.9.0/24\n");
    assert!(
        line.contains("SIGHUP: policy reloaded, lists unchanged"),
        "{line}"
    );
    drop(daemon);
    let _ = std::fs::remove_dir_all(&directory);
}
