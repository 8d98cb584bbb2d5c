//! The daemon as an operator sees it: a process whose log lines are
//! awaited, whose metrics are scraped, to which requests are sent.

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc::{Receiver, channel},
    time::{Duration, Instant},
};

use socket2::{Domain, Protocol, Socket, Type};

use super::icmp_packet;

/// How long the daemon gets to log an expected line.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The command running the daemon just built.
pub fn daemon_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_reverse-tr-server"))
}

/// A running process (the daemon, or a wrapper that execs it) and its
/// stderr lines; stopped with SIGTERM on drop.
pub struct Logged {
    child: Child,
    lines: Receiver<String>,
}

impl Logged {
    /// Starts `command` with stderr piped to [`Logged::expect_line`].
    pub fn start(command: &mut Command) -> Self {
        let mut child = command
            .stderr(Stdio::piped())
            .spawn()
            .expect("the daemon starts");
        let stderr = child.stderr.take().expect("piped stderr");
        Self::reading(child, stderr)
    }

    /// A started process whose log comes from `log` (its stderr, or the
    /// other end of a pipe it writes to).
    pub fn reading(child: Child, log: impl std::io::Read + Send + 'static) -> Self {
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(log).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits for a line containing `text`; returns it and the lines before.
    pub fn expect_lines(&self, text: &str) -> (String, Vec<String>) {
        let mut before = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) if line.contains(text) => return (line, before),
                Ok(line) => before.push(line),
                Err(error) => {
                    panic!("no line with {text:?} from the daemon ({error}) after:\n{before:#?}")
                }
            }
        }
    }

    /// Waits for a line containing `text`; returns it.
    pub fn expect_line(&self, text: &str) -> String {
        self.expect_lines(text).0
    }

    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill only sends a signal to our own child.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Stops it as systemd would; its exit status and its last lines.
    pub fn stop(mut self) -> (ExitStatus, Vec<String>) {
        self.signal(libc::SIGTERM);
        let status = self.child.wait().expect("the daemon exits");
        // Until the log's writers are gone (or a child of the daemon's
        // keeps it open: then what came within PATIENCE).
        let rest = std::iter::from_fn(|| self.lines.recv_timeout(PATIENCE).ok()).collect();
        (status, rest)
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        // Gone already after `stop`.
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGTERM);
            let _ = self.child.wait();
        }
    }
}

/// A free loopback port in this namespace.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.local_addr().expect("its address").port()
}

/// GET `path`; the status line and the body.
pub fn get(port: u16, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("metrics connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("request sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a header and a body");
    (head.to_owned(), body.to_owned())
}

/// The samples of a text exposition: series (name and labels) → value.
/// Checks every sample's metric has a TYPE line before it.
pub fn samples(text: &str) -> Vec<(String, f64)> {
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

pub fn sample(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find_map(|(s, value)| (s == series).then_some(*value))
        .unwrap_or_else(|| panic!("no sample {series}"))
}

/// The address a daemon on `lo` serves (see [`serve_on_lo`]).
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// A requester's (spoofed) address: loopback sources are never served.
pub const REQUESTER: Ipv4Addr = Ipv4Addr::new(10, 9, 9, 9);

/// Gives `lo` of the test's namespace the address [`SERVER`], so requests
/// to it are to this host (requests to 127.0.0.1 come from loopback
/// sources, which are never served).
pub fn serve_on_lo() {
    let status = Command::new("ip")
        .args(["address", "add", "10.0.0.1/32", "dev", "lo"])
        .status()
        .expect("ip runs");
    assert!(status.success(), "adding {SERVER} to lo");
}

/// Sends one unpadded IPv4 request for a UDP probe from [`REQUESTER`] to
/// [`SERVER`].
pub fn send_request(identifier: u16) {
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
