//! Running `reverse-tr` and `reverse-tr-server` in a lab (reverse_tr_lab) and
//! reading what the client printed.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    path::PathBuf,
    process::{Child, Output, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use reverse_tr_lab::{Direction, Family, Hops, Host, Lab, wrong};

/// Both families, as the lab names them.
pub const FAMILIES: [Family; 2] = [Family::V4, Family::V6];
pub const PROTOCOLS: [&str; 3] = ["udp", "tcp", "icmp"];

/// The server daemon in the lab's server namespace; stopped on drop.
pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        // Already gone is fine: nothing else to clean up.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `reverse-tr-server`, built beside this crate's binary by a workspace
/// build (`cargo test` at the root); `REVERSE_TR_SERVER` overrides.
fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("REVERSE_TR_SERVER") {
        return path.into();
    }
    let client = PathBuf::from(env!("CARGO_BIN_EXE_reverse-tr"));
    let server = client.with_file_name("reverse-tr-server");
    assert!(
        server.exists(),
        "{} is missing: run `cargo build -p reverse-tr-server` first",
        server.display()
    );
    server
}

/// Starts the server on the server's eth0 and waits until it answers the
/// presence check in both families.
pub fn start_server(lab: &Lab) -> Server {
    start_server_with(lab, &[])
}

/// [`start_server`] with more options for the server.
pub fn start_server_with(lab: &Lab, options: &[&str]) -> Server {
    let binary = server_binary();
    let child = lab
        .command(Host::Server, &binary.to_string_lossy())
        .args(options)
        .arg("eth0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    for family in FAMILIES {
        let target = lab.addr(Host::Server, family).to_string();
        while !client(
            lab,
            &[
                "--timeout",
                "0.5",
                "--max-ttl",
                "1",
                "reverse",
                "icmp",
                "singlepath",
                "--flow",
                "1",
                &target,
            ],
        )
        .status
        .success()
        {
            assert!(
                Instant::now() < deadline,
                "the server did not come up on {target}"
            );
            sleep(Duration::from_millis(200));
        }
    }
    server
}

/// Runs the client in the client's namespace.
pub fn client(lab: &Lab, args: &[&str]) -> Output {
    lab.command(Host::Client, env!("CARGO_BIN_EXE_reverse-tr"))
        // No reverse DNS: lab addresses have no names, and the system's
        // resolver is outside the lab.
        .args(["-n", "-l", "warning"])
        .args(args)
        .output()
        .expect("the client runs")
}

/// Runs the client with `args` (`DIRECTION PROTOCOL MODE… TARGET`) and
/// returns what is wrong with its run, nothing when right: each direction
/// it traced is judged by [`reverse_tr_lab::wrong`] against the hops
/// `expected` gives for it. The report follows the reasons.
pub fn wrong_trace(
    lab: &Lab,
    args: &[&str],
    expected: impl Fn(Direction) -> Hops,
) -> Option<String> {
    let output = client(lab, args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let direction = args.first().copied().unwrap_or_default();
    let traced: Vec<(Direction, Hops)> = Direction::ALL
        .into_iter()
        .filter(|way| match way {
            Direction::Forward => direction != "reverse",
            Direction::Reverse => direction != "forward",
        })
        .map(|way| (way, expected(way)))
        .collect();
    let multipath = args.contains(&"multipath");
    wrong(output.status, &parse_report(&stdout), &traced, multipath).map(|reason| {
        format!(
            "{args:?}: {reason}\n{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The hops of each direction in the client's text report ("FORWARD …",
/// "REVERSE …"): TTL → addresses, TTL 0 (the root) left out; a black hole
/// (`*`) leaves its TTL empty.
pub fn parse_report(stdout: &str) -> BTreeMap<String, Hops> {
    let mut traces = BTreeMap::new();
    let mut current: Option<(String, Hops)> = None;
    let mut ttl = 0u8;
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [direction @ ("FORWARD" | "REVERSE"), ..] => {
                traces.extend(current.take());
                current = Some(((*direction).to_owned(), Hops::new()));
                ttl = 0;
            }
            [first, rest @ ..] => {
                let Some((_, hops)) = current.as_mut() else {
                    continue;
                };
                let address = match first.parse::<u8>() {
                    Ok(number) => {
                        ttl = number;
                        rest.first().copied()
                    }
                    Err(_) => Some(*first),
                };
                if ttl == 0 {
                    continue;
                }
                let entry = hops.entry(ttl).or_insert_with(BTreeSet::new);
                if let Some(address) = address.and_then(|a| a.parse::<IpAddr>().ok()) {
                    entry.insert(address);
                }
            }
            [] => {}
        }
    }
    traces.extend(current);
    traces
}
