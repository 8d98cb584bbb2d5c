//! The lab as data: its hosts and their addresses (those of the reference
//! vectors), the veth links between them, and the next hops every host uses
//! in each direction. Routes, address scripts and the expected hop lists are
//! all derived from these tables, so they cannot disagree.
//!
//! ```text
//!                     ┌─ r2a ─┐
//! client ── r1 ───────┤       ├─── r3 ── r4 ── server
//!             \       └─ r2b ─┘   /
//!              └────── r5 ───────┘     (asymmetric variant only)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Name of the end hosts' (client, server) only interface: the eBPF server
/// attaches to and redirects out of it.
pub const HOST_INTERFACE: &str = "eth0";

/// TTL → the addresses that may answer a probe sent with that TTL (two at
/// the diamond), the destination last.
pub type Hops = BTreeMap<u8, BTreeSet<IpAddr>>;

/// A node of the lab, each in its own network namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Host {
    Client,
    R1,
    R2a,
    R2b,
    R3,
    R4,
    /// Only in the asymmetric variant: on the reverse path, not the forward.
    R5,
    Server,
}

/// An IP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

/// Which way traffic travels through the lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// Client towards server.
    Forward,
    /// Server towards client.
    Reverse,
}

impl Host {
    /// Every host, in path order.
    pub const ALL: [Host; 8] = [
        Host::Client,
        Host::R1,
        Host::R2a,
        Host::R2b,
        Host::R3,
        Host::R4,
        Host::R5,
        Host::Server,
    ];

    /// Short name, used in namespace and interface names.
    pub const fn name(self) -> &'static str {
        match self {
            Host::Client => "client",
            Host::R1 => "r1",
            Host::R2a => "r2a",
            Host::R2b => "r2b",
            Host::R3 => "r3",
            Host::R4 => "r4",
            Host::R5 => "r5",
            Host::Server => "server",
        }
    }

    /// Routers forward; end hosts (client, server) do not.
    pub const fn is_router(self) -> bool {
        !matches!(self, Host::Client | Host::Server)
    }

    /// The host's one address in `family`: the loopback address of a router
    /// (it answers from it whatever the interface), the eth0 address of an
    /// end host.
    pub const fn addr(self, family: Family) -> IpAddr {
        let (v4, v6) = match self {
            Host::Client => ([10, 0, 1, 100], [0xfd00, 0, 1, 0x100]),
            Host::R1 => ([10, 255, 0, 1], [0xfd00, 0x255, 0, 1]),
            Host::R2a => ([10, 255, 0, 21], [0xfd00, 0x255, 0, 0x21]),
            Host::R2b => ([10, 255, 0, 22], [0xfd00, 0x255, 0, 0x22]),
            Host::R3 => ([10, 255, 0, 3], [0xfd00, 0x255, 0, 3]),
            Host::R4 => ([10, 255, 0, 4], [0xfd00, 0x255, 0, 4]),
            Host::R5 => ([10, 255, 0, 5], [0xfd00, 0x255, 0, 5]),
            Host::Server => ([10, 0, 7, 200], [0xfd00, 0, 7, 0x200]),
        };
        match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(v4[0], v4[1], v4[2], v4[3])),
            Family::V6 => IpAddr::V6(Ipv6Addr::new(v6[0], v6[1], v6[2], 0, 0, 0, 0, v6[3])),
        }
    }

    /// The host whose own address (see [`Host::addr`]) is `addr`.
    pub fn by_addr(addr: IpAddr) -> Option<Host> {
        Host::ALL
            .into_iter()
            .find(|host| Family::ALL.iter().any(|&family| host.addr(family) == addr))
    }
}

impl Family {
    /// Both families.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// "IPv4" or "IPv6".
    pub const fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    /// Length of a host route's prefix.
    pub(crate) const fn host_prefix_len(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

impl Direction {
    /// Both directions.
    pub const ALL: [Direction; 2] = [Direction::Forward, Direction::Reverse];

    /// The end host traffic starts from.
    pub const fn source(self) -> Host {
        match self {
            Direction::Forward => Host::Client,
            Direction::Reverse => Host::Server,
        }
    }

    /// The end host traffic goes to.
    pub const fn destination(self) -> Host {
        match self {
            Direction::Forward => Host::Server,
            Direction::Reverse => Host::Client,
        }
    }

    /// "forward" or "reverse".
    pub const fn name(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Reverse => "reverse",
        }
    }
}

/// A veth pair between two hosts, with a subnet of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub a: Host,
    pub b: Host,
    /// Numbers the subnet of a link between two routers.
    index: u8,
}

/// An address on an interface, with the length of its subnet's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InterfaceAddr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl InterfaceAddr {
    /// The subnet, as `ip` writes it (`10.1.2.0/24`).
    pub fn subnet(self) -> String {
        let network = match self.addr {
            IpAddr::V4(addr) => IpAddr::V4(Ipv4Addr::from_bits(
                addr.to_bits() & (u32::MAX << (32 - u32::from(self.prefix_len))),
            )),
            IpAddr::V6(addr) => IpAddr::V6(Ipv6Addr::from_bits(
                addr.to_bits() & (u128::MAX << (128 - u32::from(self.prefix_len))),
            )),
        };
        format!("{network}/{}", self.prefix_len)
    }
}

impl Link {
    /// The end of the link that is not `host`.
    pub fn peer(self, host: Host) -> Host {
        if host == self.a { self.b } else { self.a }
    }

    /// Name of the link's interface inside `host`: eth0 on an end host, the
    /// peer's name on a router (`r2a` inside r1 leads to r2a).
    pub fn interface(self, host: Host) -> &'static str {
        if host.is_router() {
            self.peer(host).name()
        } else {
            HOST_INTERFACE
        }
    }

    /// The address `host` has on this link. An end host's link is its own
    /// subnet (10.0.1.0/24, 10.0.7.0/24), where the router is `.1`; a link
    /// between routers is 10.1.<index>.0/24 / fd00:1:<index>::/64, where
    /// `a` is `.1` and `b` is `.2`.
    pub fn addr(self, host: Host, family: Family) -> InterfaceAddr {
        let end_host = [self.a, self.b].into_iter().find(|h| !h.is_router());
        let addr = match end_host {
            Some(end) if end == host => end.addr(family),
            Some(end) => replace_host_part(end.addr(family), 1),
            None => {
                let part = if host == self.a { 1 } else { 2 };
                match family {
                    Family::V4 => IpAddr::V4(Ipv4Addr::new(10, 1, self.index, part)),
                    Family::V6 => IpAddr::V6(Ipv6Addr::new(
                        0xfd00,
                        1,
                        u16::from(self.index),
                        0,
                        0,
                        0,
                        0,
                        u16::from(part),
                    )),
                }
            }
        };
        let prefix_len = match family {
            Family::V4 => 24,
            Family::V6 => 64,
        };
        InterfaceAddr { addr, prefix_len }
    }
}

/// `addr` with its last byte (v4) or last group (v6) set to `part`.
fn replace_host_part(addr: IpAddr, part: u8) -> IpAddr {
    match addr {
        IpAddr::V4(addr) => {
            let [a, b, c, _] = addr.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, part))
        }
        IpAddr::V6(addr) => {
            let mut segments = addr.segments();
            segments[7] = u16::from(part);
            IpAddr::V6(Ipv6Addr::from(segments))
        }
    }
}

/// The pairs of hosts joined by a veth in every variant.
const LINKS: [(Host, Host); 7] = [
    (Host::Client, Host::R1),
    (Host::R1, Host::R2a),
    (Host::R1, Host::R2b),
    (Host::R2a, Host::R3),
    (Host::R2b, Host::R3),
    (Host::R3, Host::R4),
    (Host::R4, Host::Server),
];

/// The extra links of the asymmetric variant.
const ASYMMETRIC_LINKS: [(Host, Host); 2] = [(Host::R3, Host::R5), (Host::R5, Host::R1)];

/// One variant of the lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Topology {
    pub asymmetric: bool,
}

impl Topology {
    /// The hosts present in this variant.
    pub fn hosts(self) -> impl Iterator<Item = Host> {
        Host::ALL
            .into_iter()
            .filter(move |&host| host != Host::R5 || self.asymmetric)
    }

    /// Every link of this variant.
    pub(crate) fn links(self) -> impl Iterator<Item = Link> {
        let extra: &[(Host, Host)] = if self.asymmetric {
            &ASYMMETRIC_LINKS
        } else {
            &[]
        };
        LINKS
            .iter()
            .chain(extra)
            .zip(1..)
            .map(|(&(a, b), index)| Link { a, b, index })
    }

    /// The links `host` is on.
    pub(crate) fn links_of(self, host: Host) -> impl Iterator<Item = Link> {
        self.links()
            .filter(move |link| link.a == host || link.b == host)
    }

    /// The link between two adjacent hosts.
    pub(crate) fn link_between(self, host: Host, peer: Host) -> Option<Link> {
        self.links_of(host).find(|link| link.peer(host) == peer)
    }

    /// Where `host` sends traffic travelling in `direction`: two routers at
    /// the diamond (ECMP), none at the destination. The asymmetric variant
    /// sends reverse traffic from r3 through r5 instead of the diamond.
    pub fn next_hops(self, host: Host, direction: Direction) -> &'static [Host] {
        use {Direction::*, Host::*};
        match (direction, host) {
            (Forward, Client) => &[R1],
            (Forward, R1) => &[R2a, R2b],
            (Forward, R2a | R2b | R5) => &[R3],
            (Forward, R3) => &[R4],
            (Forward, R4) => &[Server],
            (Reverse, Server) => &[R4],
            (Reverse, R4) => &[R3],
            (Reverse, R3) if self.asymmetric => &[R5],
            (Reverse, R3) => &[R2a, R2b],
            (Reverse, R2a | R2b | R5) => &[R1],
            (Reverse, R1) => &[Client],
            (Forward, Server) | (Reverse, Client) => &[],
        }
    }

    /// The hops a trace in `direction` sees, derived from the next hops:
    ///
    /// | variant | forward (client → server) | reverse (server → client) |
    /// |---|---|---|
    /// | symmetric | r1, {r2a, r2b}, r3, r4, server | r4, r3, {r2a, r2b}, r1, client |
    /// | asymmetric | r1, {r2a, r2b}, r3, r4, server | r4, r3, r5, r1, client |
    pub fn expected_hops(self, direction: Direction, family: Family) -> Hops {
        let mut hops = Hops::new();
        let mut current = BTreeSet::from([direction.source()]);
        // The routing tables are acyclic; the bound only keeps a bad edit of
        // them from looping forever.
        for ttl in 1..=Host::ALL.len() as u8 {
            current = current
                .iter()
                .flat_map(|&host| self.next_hops(host, direction))
                .copied()
                .collect();
            if current.is_empty() {
                break;
            }
            hops.insert(ttl, current.iter().map(|host| host.addr(family)).collect());
        }
        hops
    }
}

/// Whether a trace saw what `expected` allows: an answer at every TTL, each
/// from an address expected there, and nothing past the destination. A TTL
/// expected empty (only silent routers there) must be traced empty.
pub fn fits(traced: &Hops, expected: &Hops) -> bool {
    traced.len() == expected.len()
        && traced.iter().all(|(ttl, seen)| {
            expected.get(ttl).is_some_and(|allowed| {
                seen.is_subset(allowed) && (allowed.is_empty() || !seen.is_empty())
            })
        })
}

/// Hops from TTL 1 on, written as rows of addresses (an empty row for a
/// `*`), as tests state what a trace shows.
///
/// # Panics
/// On a row entry that is not an IP address.
pub fn hops_of(rows: &[&[&str]]) -> Hops {
    (1..)
        .zip(rows)
        .map(|(ttl, row)| {
            let addrs = row.iter().map(|a| a.parse().expect("address")).collect();
            (ttl, addrs)
        })
        .collect()
}

/// `r1, r2a|r2b, r3`: hop sets by host name.
pub fn describe(hops: &Hops) -> String {
    hops.values().map(names).collect::<Vec<_>>().join(", ")
}

/// `r2a|r2b`, `*` for none, the address for a stranger.
pub(crate) fn names(addrs: &BTreeSet<IpAddr>) -> String {
    if addrs.is_empty() {
        return "*".to_owned();
    }
    addrs
        .iter()
        .map(|&addr| {
            Host::by_addr(addr).map_or_else(|| addr.to_string(), |host| host.name().to_owned())
        })
        .collect::<Vec<_>>()
        .join("|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use Host::*;

    fn by_name(hops: &Hops) -> Vec<Vec<&'static str>> {
        hops.values()
            .map(|addrs| {
                addrs
                    .iter()
                    .map(|&addr| Host::by_addr(addr).map_or("?", Host::name))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn expected_hops_follow_the_documented_paths() {
        let diamond = vec!["r2a", "r2b"];
        let forward = vec![
            vec!["r1"],
            diamond.clone(),
            vec!["r3"],
            vec!["r4"],
            vec!["server"],
        ];
        let cases = [
            (false, Direction::Forward, forward.clone()),
            (
                false,
                Direction::Reverse,
                vec![vec!["r4"], vec!["r3"], diamond, vec!["r1"], vec!["client"]],
            ),
            (true, Direction::Forward, forward),
            (
                true,
                Direction::Reverse,
                vec![
                    vec!["r4"],
                    vec!["r3"],
                    vec!["r5"],
                    vec!["r1"],
                    vec!["client"],
                ],
            ),
        ];
        for (asymmetric, direction, expected) in cases {
            for family in Family::ALL {
                let hops = Topology { asymmetric }.expected_hops(direction, family);
                assert_eq!(
                    by_name(&hops),
                    expected,
                    "asymmetric={asymmetric} {direction:?} {family:?}"
                );
                assert_eq!(hops.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
            }
        }
    }

    #[test]
    fn a_trace_fits_when_every_ttl_answers_from_an_expected_address() {
        let expected = Topology { asymmetric: false }.expected_hops(Direction::Forward, Family::V4);
        let one_branch: Hops = expected
            .iter()
            .map(|(&ttl, addrs)| (ttl, addrs.iter().take(1).copied().collect()))
            .collect();
        let mut silent = one_branch.clone();
        silent.insert(3, BTreeSet::new());
        let mut stranger = one_branch.clone();
        stranger.insert(2, BTreeSet::from([R5.addr(Family::V4)]));
        let mut short = one_branch.clone();
        short.remove(&5);
        let mut long = one_branch.clone();
        long.insert(6, BTreeSet::from([Server.addr(Family::V4)]));
        let cases = [
            ("both branches", expected.clone(), true),
            ("one branch", one_branch, true),
            ("a silent hop", silent, false),
            ("a stranger", stranger, false),
            ("no destination", short, false),
            ("past the destination", long, false),
        ];
        for (case, traced, fit) in cases {
            assert_eq!(fits(&traced, &expected), fit, "{case}");
        }
    }

    #[test]
    fn every_next_hop_is_a_neighbour_in_the_same_variant() {
        for asymmetric in [false, true] {
            let topology = Topology { asymmetric };
            for host in topology.hosts() {
                for direction in Direction::ALL {
                    for &next in topology.next_hops(host, direction) {
                        assert!(
                            topology.link_between(host, next).is_some(),
                            "asymmetric={asymmetric}: {host:?} has no link to its next hop {next:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn addresses_are_unique_and_end_hosts_keep_theirs() {
        for family in Family::ALL {
            let topology = Topology { asymmetric: true };
            let mut seen = BTreeSet::new();
            for host in topology.hosts() {
                assert!(seen.insert(host.addr(family)), "{host:?} {family:?}");
                assert_eq!(Host::by_addr(host.addr(family)), Some(host));
            }
            for link in topology.links() {
                for host in [link.a, link.b] {
                    let addr = link.addr(host, family).addr;
                    // An end host's link address is its own address.
                    assert!(
                        seen.insert(addr) || !host.is_router(),
                        "{link:?} {host:?} {family:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn link_addresses_and_subnets() {
        let topology = Topology { asymmetric: false };
        let cases = [
            (Client, R1, Family::V4, "10.0.1.1", "10.0.1.0/24"),
            (Client, R1, Family::V6, "fd00:0:1::1", "fd00:0:1::/64"),
            (Server, R4, Family::V4, "10.0.7.1", "10.0.7.0/24"),
            (R1, R2b, Family::V4, "10.1.3.2", "10.1.3.0/24"),
            (R3, R2a, Family::V6, "fd00:1:4::1", "fd00:1:4::/64"),
        ];
        for (host, peer, family, addr, subnet) in cases {
            let link = topology.link_between(host, peer).expect("adjacent");
            let on_peer = link.addr(peer, family);
            assert_eq!(on_peer.addr.to_string(), addr, "{host:?}-{peer:?}");
            assert_eq!(on_peer.subnet(), subnet, "{host:?}-{peer:?}");
        }
    }

    #[test]
    fn interfaces_are_named_after_the_peer_on_routers_and_eth0_on_end_hosts() {
        let topology = Topology { asymmetric: true };
        let link = topology.link_between(R1, Client).expect("adjacent");
        assert_eq!(link.interface(R1), "client");
        assert_eq!(link.interface(Client), "eth0");
        let link = topology.link_between(R5, R3).expect("adjacent");
        assert_eq!(link.interface(R5), "r3");
        assert_eq!(link.interface(R3), "r5");
    }
}
