//! Loading the program for a test and checking the frames it leaves; the
//! frames themselves come from the server library's `testing` module.
#![allow(dead_code, reason = "each test binary uses a part")]

use std::{
    collections::BTreeMap,
    io::{Read as _, Write as _},
    net::{IpAddr, SocketAddr, TcpStream, UdpSocket},
    os::fd::AsRawFd as _,
    process::{Child, ExitStatus, Stdio},
    sync::atomic::{AtomicU16, Ordering},
    thread,
    time::{Duration, Instant},
};

use reverse_tr_common::{
    Family as WireFamily, IpHeader, Ipv4Header, Ipv6Header, Outcome, Request, RequestHeader,
    Response,
    constants::REQUEST_LEN,
    policy::{Policy, padded_len},
    request::{REQUEST_MAX_PADDING, REQUEST_MESSAGE_MAX_LEN},
};
use socket2::{Domain, Protocol, Socket, Type};

use reverse_tr_lab::{Family, Host, Lab};

mod process;

#[allow(unused_imports, reason = "each test binary uses a part")]
pub use process::*;
pub use reverse_tr_server::testing::*;
use reverse_tr_server::{Config, Server, policy::Lists};

/// A server loaded for a test, in an isolated thread.
pub fn server(config: Config) -> Server {
    isolate().expect("a network namespace of the test's own");
    match Server::load(config) {
        Ok(server) => server,
        Err(reverse_tr_server::Error::Verifier {
            log,
            source,
            program,
        }) => {
            panic!("verifier rejected {program}: {source}\n{log}")
        }
        Err(error) => panic!("{error}"),
    }
}

/// Puts `policy` in force in `server`, with no lists.
pub fn apply_policy(server: &mut Server, policy: &Policy) {
    server
        .apply(policy, &Lists::default())
        .expect("policy applied");
}

/// A server with `policy` and no lists.
pub fn with_policy(policy: Policy) -> Server {
    let mut server = server(Config::default());
    apply_policy(&mut server, &policy);
    server
}

/// Parses a hex pattern; `??` matches any octet.
fn pattern(text: &str) -> Vec<Option<u8>> {
    text.split_whitespace()
        .map(|octet| (octet != "??").then(|| u8::from_str_radix(octet, 16).expect("hex octet")))
        .collect()
}

/// Asserts `actual` equals the hex `expected`, octet for octet.
pub fn assert_bytes(actual: &[u8], expected: &str) {
    let expected = pattern(expected);
    let shown: Vec<String> = actual.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        actual.len(),
        expected.len(),
        "length differs: {}",
        shown.join(" ")
    );
    for (at, (a, e)) in actual.iter().zip(&expected).enumerate() {
        if let Some(e) = e {
            assert_eq!(a, e, "octet {at} differs: {}", shown.join(" "));
        }
    }
}

/// Asserts every checksum of an IPv4/IPv6 frame verifies: the IPv4 header
/// checksum and the transport checksum (with its pseudo-header).
pub fn assert_checksums(frame: &[u8]) {
    let packet = &frame[14..];
    let (source, destination, protocol, transport): (IpAddr, IpAddr, u8, &[u8]) =
        match packet[0] >> 4 {
            4 => {
                let ihl = usize::from(packet[0] & 0x0f) * 4;
                assert_eq!(checksum(&[&packet[..ihl]]), 0, "IPv4 header checksum");
                let s: [u8; 4] = packet[12..16].try_into().expect("4 octets");
                let d: [u8; 4] = packet[16..20].try_into().expect("4 octets");
                (IpAddr::from(s), IpAddr::from(d), packet[9], &packet[ihl..])
            }
            6 => {
                let s: [u8; 16] = packet[8..24].try_into().expect("16 octets");
                let d: [u8; 16] = packet[24..40].try_into().expect("16 octets");
                (IpAddr::from(s), IpAddr::from(d), packet[6], &packet[40..])
            }
            version => panic!("IP version {version}"),
        };
    let pseudo = if protocol == 1 {
        Vec::new()
    } else {
        pseudo_header(source, destination, protocol, transport.len())
    };
    assert_eq!(
        checksum(&[&pseudo, transport]),
        0,
        "transport checksum (protocol {protocol})"
    );
}

/// The Ethernet header of a frame sent back to the peer.
pub const REPLY_ETHERNET_V4: &str = "02 00 00 00 00 01 00 00 00 00 00 00 08 00";
pub const REPLY_ETHERNET_V6: &str = "02 00 00 00 00 01 00 00 00 00 00 00 86 dd";

/// Runs `f` on a thread inside `host`'s network namespace.
pub fn inside<T: Send>(lab: &Lab, host: Host, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/var/run/netns/{}", lab.netns(host));
    thread::scope(|scope| {
        scope
            .spawn(|| {
                let netns = std::fs::File::open(&path).expect("the namespace exists");
                // SAFETY: setns moves only this thread, which only runs `f`.
                let status = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(
                    status,
                    0,
                    "setns {path}: {}",
                    std::io::Error::last_os_error()
                );
                f()
            })
            .join()
            .expect("the namespace thread")
    })
}

/// The daemon in a lab's server namespace; killed on drop.
pub struct Daemon(Child);

impl Daemon {
    /// Starts the daemon with `args` (options and interfaces), output discarded.
    pub fn spawn(lab: &Lab, args: &[&str]) -> Self {
        let child = lab
            .command(Host::Server, env!("CARGO_BIN_EXE_reverse-tr-server"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the daemon starts");
        Self(child)
    }

    /// Its process id (`ip netns exec` execs the daemon in place).
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Stops the daemon as systemd would and returns its exit status.
    pub fn stop(mut self) -> ExitStatus {
        let pid = i32::try_from(self.0.id()).expect("a pid");
        // SAFETY: signals our own child, which has not been waited for.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        self.0.wait().expect("the daemon exits")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Gone already after `stop`; nothing else to clean up.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The metrics address the lab tests give the daemon (`--metrics`), in
/// the server's namespace.
pub const METRICS: &str = "127.0.0.1:9464";

/// The daemon's metrics, summed over labels, scraped inside the server
/// namespace; `None` until it serves them.
pub fn metrics(lab: &Lab) -> Option<BTreeMap<String, u64>> {
    let text = inside(lab, Host::Server, || {
        let address: SocketAddr = METRICS.parse().expect("an address");
        let limit = Some(Duration::from_secs(2));
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
        stream.set_read_timeout(limit).ok()?;
        stream.set_write_timeout(limit).ok()?;
        stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        Some(text)
    })?;
    let mut values = BTreeMap::new();
    for line in text.lines().filter(|line| line.starts_with("reverse_tr_")) {
        let (name, value) = line.rsplit_once(' ')?;
        let name = name.split('{').next()?;
        *values.entry(name.to_owned()).or_default() += value.parse::<u64>().ok()?;
    }
    (!values.is_empty()).then_some(values)
}

/// One metric of a scrape (summed over its labels).
pub fn metric(metrics: &BTreeMap<String, u64>, name: &str) -> u64 {
    *metrics
        .get(name)
        .unwrap_or_else(|| panic!("metric {name} missing: {metrics:?}"))
}

/// Runs `ip` with `args` in `host`'s namespace; panics if it fails.
pub fn ip_in(lab: &Lab, host: Host, args: &[&str]) -> String {
    let output = lab
        .command(host, "ip")
        .args(args)
        .output()
        .expect("ip runs");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Identifiers unique within the test process.
static NEXT_IDENTIFIER: AtomicU16 = AtomicU16::new(1);

/// Sends one request with `padding` octets from the lab's client to
/// `server`, an address of the server host, and waits up to 2 s for its
/// response.
pub fn ask_to(
    lab: &Lab,
    server: IpAddr,
    ttl: u8,
    protocol: u8,
    flow: u16,
    padding: usize,
) -> Option<Outcome> {
    let family = match server {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    };
    let client = lab.addr(Host::Client, family);
    let identifier = NEXT_IDENTIFIER.fetch_add(1, Ordering::Relaxed);
    let (wire_family, domain, icmp, ip) = match (client, server) {
        (IpAddr::V4(source), IpAddr::V4(destination)) => (
            WireFamily::V4,
            Domain::IPV4,
            Protocol::ICMPV4,
            IpHeader::V4(Ipv4Header {
                source,
                destination,
                tos: 0,
                identification: 1,
                flags_fragment: 0,
            }),
        ),
        (IpAddr::V6(source), IpAddr::V6(destination)) => (
            WireFamily::V6,
            Domain::IPV6,
            Protocol::ICMPV6,
            IpHeader::V6(Ipv6Header {
                source,
                destination,
                traffic_class: 0,
                flow_label: 0,
            }),
        ),
        _ => unreachable!("the lab gives one family per call"),
    };
    let request = Request {
        identifier,
        sequence: 0,
        header: RequestHeader {
            ttl,
            protocol,
            flow,
        },
    };
    let mut message = [0u8; REQUEST_MESSAGE_MAX_LEN];
    let len = request
        .write_message(&ip, padding, &mut message)
        .expect("a request");
    inside(lab, Host::Client, || {
        let socket: UdpSocket = Socket::new(domain, Type::RAW, Some(icmp))
            .expect("a raw socket")
            .into();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        socket
            .send_to(&message[..len], SocketAddr::new(server, 0))
            .expect("sent");
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut buffer = [0u8; 1500];
        while Instant::now() < deadline {
            let Ok((received, from)) = socket.recv_from(&mut buffer) else {
                continue;
            };
            // IPv4 raw sockets deliver the IP header too.
            let skip = if client.is_ipv4() {
                usize::from(buffer[0] & 0x0f) * 4
            } else {
                0
            };
            let Some(icmp) = buffer.get(skip..received) else {
                continue;
            };
            if let Ok(response) = Response::decode(wire_family, icmp)
                && response.identifier == identifier
                && from.ip() == server
            {
                return Some(response.outcome);
            }
        }
        None
    })
}

/// The common crate's name of a lab family.
pub fn wire_family(family: Family) -> WireFamily {
    match family {
        Family::V4 => WireFamily::V4,
        Family::V6 => WireFamily::V6,
    }
}

/// The IP length of an unpadded request of `family`.
pub fn request_len(family: Family) -> usize {
    let header = match family {
        Family::V4 => 20,
        Family::V6 => 40,
    };
    header + REQUEST_LEN
}

/// The padding that makes a request for `protocol` padded (§3.7: as long
/// as everything it can make the server host send), or as near as the
/// longest request allows.
pub fn padding(family: Family, protocol: u8) -> usize {
    (padded_len(wire_family(family), protocol) - request_len(family)).min(REQUEST_MAX_PADDING)
}
