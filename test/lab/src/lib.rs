//! The network-namespace lab: a client host, routers with an ECMP diamond
//! and a server host, IPv4 and IPv6, built from namespaces and veths; see
//! [`topology`] for the map, the addresses and the expected hop lists. The
//! end-to-end tests of every crate run in it, and `cargo xtask lab` drives it
//! by hand.
//!
//! ```no_run
//! use reverse_tr_lab::{Family, Host, Lab, LabConfig};
//! let lab = Lab::up(LabConfig::default())?;
//! let server = lab.addr(Host::Server, Family::V4);
//! let status = lab.command(Host::Client, "ping").args(["-c1", &server.to_string()]).status();
//! // Dropping `lab` removes every namespace, also when a test panics.
//! # Ok::<(), reverse_tr_lab::Error>(())
//! ```
//!
//! A test's lab is named after its process (`rtr-<pid>x<serial>-<host>`) and
//! removed when its [`Lab`] drops, panics included; one left by a killed
//! process is removed by the next `Lab::up`. Named labs (`rtr-<name>-<host>`)
//! stay until [`Lab::remove`] (`cargo xtask lab down`).

pub mod command;
mod conditions;
mod error;
mod judge;
mod naming;
mod setup;
mod status;
pub mod topology;
mod traceroute;

use std::net::IpAddr;
use std::process::Command;

pub use conditions::{Conditions, Loss, router};
use naming::{Label, our_namespaces, parse_netns};
pub use status::Check;
use topology::Topology;
pub use topology::{Direction, Family, HOST_INTERFACE, Hops, Host, describe, fits, hops_of};
pub use traceroute::{Protocol, TraceOptions};

use command::run;
pub use error::{Error, Result};
pub use judge::{hop_wrong, wrong};

/// The name `cargo xtask lab` uses when none is given.
pub const DEFAULT_NAME: &str = "lab";

/// How to build a lab.
#[derive(Clone, Debug, Default)]
pub struct LabConfig {
    /// Add r5 on the reverse path only (see [`topology`]).
    pub asymmetric: bool,
    /// A name makes the lab persistent (`cargo xtask lab down` removes it);
    /// without one, the lab belongs to this process and goes with it.
    pub name: Option<String>,
}

/// A lab that is up. Dropping it tears it down (also on panic) unless it was
/// [`kept`](Lab::keep) or [`attached`](Lab::attach) to.
#[derive(Debug)]
pub struct Lab {
    label: Label,
    topology: Topology,
    /// Namespace names, in [`Host::ALL`] order.
    namespaces: Vec<String>,
    tear_down_on_drop: bool,
}

impl Lab {
    /// Removes stale labs, then builds a new one.
    pub fn up(config: LabConfig) -> Result<Lab> {
        reap_stale()?;
        let label = match &config.name {
            Some(name) => Label::named(name)?,
            None => Label::owned(),
        };
        if exists(&label)? {
            return Err(Error::AlreadyUp(label.to_string()));
        }
        let mut lab = Lab::new(label, config.asymmetric, false);
        // `netns add` stops at the first name taken, the client's when two
        // `up`s of one name race: only the winner arms its tear-down, so the
        // loser cannot remove the winner's lab.
        let add: String = lab
            .hosts()
            .map(|host| format!("netns add {}\n", lab.netns(host)))
            .collect();
        if let Err(error) = run(Command::new("ip").args(["-batch", "-"]), Some(&add)) {
            let lost_race = matches!(lab.label, Label::Named(_)) && exists(&lab.label)?;
            return Err(if lost_race {
                Error::AlreadyUp(lab.name())
            } else {
                error
            });
        }
        // From here on a failure half-way tears down what was made.
        lab.tear_down_on_drop = true;
        lab.configure()?;
        Ok(lab)
    }

    /// The lab named `name` (a user's name or an owned label) that is up,
    /// without taking ownership: dropping the handle leaves it up.
    pub fn attach(name: &str) -> Result<Lab> {
        let label = Label::parse(name)?;
        let present: Vec<Host> = our_namespaces()?
            .iter()
            .filter_map(|(netns, _)| parse_netns(netns))
            .filter(|(l, _)| *l == label)
            .map(|(_, host)| host)
            .collect();
        if !present.contains(&Host::Client) {
            return Err(Error::NotFound(name.to_owned()));
        }
        Ok(Lab::new(label, present.contains(&Host::R5), false))
    }

    /// Removes the lab named `name`; false when there was none.
    pub fn remove(name: &str) -> Result<bool> {
        remove_where(|label| label.to_string() == name).map(|removed| removed > 0)
    }

    /// Removes every lab of ours, owned by a live process or not; returns
    /// how many namespaces went.
    pub fn remove_all() -> Result<usize> {
        remove_where(|_| true)
    }

    fn new(label: Label, asymmetric: bool, tear_down_on_drop: bool) -> Lab {
        let namespaces = Host::ALL.iter().map(|&host| label.netns(host)).collect();
        Lab {
            label,
            topology: Topology { asymmetric },
            namespaces,
            tear_down_on_drop,
        }
    }

    /// Fills the lab's fresh namespaces: settings, links, addresses, routes.
    fn configure(&self) -> Result<()> {
        let hosts: Vec<Host> = self.topology.hosts().collect();
        for &host in &hosts {
            run(
                self.command(host, "sysctl")
                    .args(["-q", "-w"])
                    .args(setup::sysctls(host)),
                None,
            )?;
        }
        let links = setup::links_script(self.topology, |host| self.netns(host).to_owned());
        run(Command::new("ip").args(["-batch", "-"]), Some(&links))?;
        for &host in &hosts {
            // IPv4 first: its script brings the interfaces up.
            for (family, flag) in [(Family::V4, "-4"), (Family::V6, "-6")] {
                let script = setup::address_script(self.topology, host, family);
                run(
                    Command::new("ip").args(["-n", self.netns(host), flag, "-batch", "-"]),
                    Some(&script),
                )?;
            }
            if !host.is_router() {
                run(
                    self.command(host, "ethtool")
                        .args(setup::HOST_CHECKSUM_OFFLOAD_OFF),
                    None,
                )?;
            }
            if setup::has_diamond(self.topology, host) {
                run(
                    self.command(host, "nft").args(["-f", "-"]),
                    Some(setup::ECHO_SPLIT_RULESET),
                )?;
            }
        }
        Ok(())
    }

    /// Tears the lab down now, reporting failure (unlike drop).
    pub fn down(mut self) -> Result<()> {
        self.tear_down_on_drop = false;
        remove_where(|label| *label == self.label).map(drop)
    }

    /// Leaves the lab up after this handle is gone (`cargo xtask lab up`).
    pub fn keep(mut self) {
        self.tear_down_on_drop = false;
    }

    /// The lab's name: what `--name` takes.
    pub fn name(&self) -> String {
        self.label.to_string()
    }

    /// Whether r5 is on the reverse path.
    pub fn is_asymmetric(&self) -> bool {
        self.topology.asymmetric
    }

    /// The hosts of this lab (r5 only in the asymmetric variant).
    pub fn hosts(&self) -> impl Iterator<Item = Host> + use<> {
        self.topology.hosts()
    }

    /// The network namespace of `host`. (R5's is only there in the asymmetric
    /// variant.)
    pub fn netns(&self, host: Host) -> &str {
        // `Host::ALL` lists the variants in declaration order.
        &self.namespaces[host as usize]
    }

    /// The address of `host` in `family` (see [`Host::addr`]).
    pub fn addr(&self, host: Host, family: Family) -> IpAddr {
        host.addr(family)
    }

    /// A command that runs `program` inside `host`'s namespace.
    pub fn command(&self, host: Host, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", self.netns(host), program]);
        command
    }

    /// Per TTL, the addresses that may answer a trace from the client to the
    /// server: r1, {r2a, r2b}, r3, r4, server.
    pub fn expected_forward_hops(&self, family: Family) -> Hops {
        self.topology.expected_hops(Direction::Forward, family)
    }

    /// Per TTL, the addresses that may answer a trace from the server to the
    /// client: r4, r3, {r2a, r2b}, r1, client; in the asymmetric variant r4,
    /// r3, r5, r1, client.
    pub fn expected_reverse_hops(&self, family: Family) -> Hops {
        self.topology.expected_hops(Direction::Reverse, family)
    }

    /// [`Lab::expected_forward_hops`] or [`Lab::expected_reverse_hops`].
    pub fn expected_hops(&self, direction: Direction, family: Family) -> Hops {
        self.topology.expected_hops(direction, family)
    }
}

/// Removes the named lab when dropped, so a test that names one leaves
/// nothing behind when it fails (named labs are never reaped).
pub struct RemoveOnDrop(pub String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        // Already removed by the test when it passed.
        let _ = Lab::remove(&self.0);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.tear_down_on_drop
            && let Err(error) = remove_where(|label| *label == self.label)
        {
            eprintln!("lab {}: tear-down failed: {error}", self.label);
        }
    }
}

/// Whether any namespace of the lab `label` exists.
fn exists(label: &Label) -> Result<bool> {
    Ok(our_namespaces()?.iter().any(|(_, l)| l == label))
}

/// Removes the labs whose owning process is gone.
fn reap_stale() -> Result<()> {
    remove_where(Label::is_stale).map(drop)
}

/// Deletes our namespaces whose label matches; returns how many went. One
/// that vanished meanwhile (a concurrent reaper) is not an error.
fn remove_where(matches: impl Fn(&Label) -> bool) -> Result<usize> {
    let doomed: Vec<String> = our_namespaces()?
        .into_iter()
        .filter(|(_, label)| matches(label))
        .map(|(netns, _)| netns)
        .collect();
    if doomed.is_empty() {
        return Ok(0);
    }
    let script: String = doomed
        .iter()
        .map(|netns| format!("netns delete {netns}\n"))
        .collect();
    let deleted = run(
        Command::new("ip").args(["-force", "-batch", "-"]),
        Some(&script),
    );
    if let Err(error) = deleted {
        let left = our_namespaces()?;
        if doomed
            .iter()
            .any(|netns| left.iter().any(|(n, _)| n == netns))
        {
            return Err(error);
        }
    }
    Ok(doomed.len())
}
