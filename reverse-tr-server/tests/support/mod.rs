//! Loading the program for a test and checking the frames it leaves; the
//! frames themselves come from the server library's `testing` module.
#![allow(dead_code, reason = "each test binary uses a part")]

use std::{
    net::IpAddr,
    os::fd::AsRawFd as _,
    process::{Child, ExitStatus, Stdio},
    thread,
};

mod process;

#[allow(unused_imports, reason = "each test binary uses a part")]
pub use process::*;
pub use reverse_tr_server::testing::*;
use reverse_tr_server::{Config, Server};
use xtask::lab::{Host, Lab};

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
