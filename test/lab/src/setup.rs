//! What configures each namespace, as text for the tools: kernel settings
//! for `sysctl`, `ip -batch` scripts and the nftables ruleset.

use std::fmt::Write;

use super::topology::{Direction, Family, HOST_INTERFACE, Host, Topology};

/// Policy-routing tables of the diamond's branches start after this one.
const BRANCH_TABLE_BASE: u32 = 100;

/// ICMP error limits lifted: every probe gets its Time Exceeded / Port
/// Unreachable (rate-limited routers, see `conditions`, get Linux's back).
pub(crate) const LIFTED_ICMP_LIMITS: [&str; 4] = [
    "net.ipv4.icmp_ratelimit=0",
    "net.ipv4.icmp_msgs_per_sec=1000000",
    "net.ipv4.icmp_msgs_burst=1000000",
    "net.ipv6.icmp.ratelimit=0",
];

/// Kernel settings for `host`, as `sysctl -w` arguments. Written before any
/// interface exists, so the `default` values reach every interface.
pub(crate) fn sysctls(host: Host) -> Vec<&'static str> {
    let mut settings = vec![
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.default.rp_filter=0",
        "net.ipv6.conf.all.accept_dad=0",
        "net.ipv6.conf.default.accept_dad=0",
    ];
    settings.extend(LIFTED_ICMP_LIMITS);
    if host.is_router() {
        settings.extend([
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
            "net.ipv6.conf.default.forwarding=1",
            // Hash on addresses, protocol and ports only, as an Internet
            // router does; policy 1 would reuse a sending socket's random hash.
            "net.ipv4.fib_multipath_hash_policy=3",
            "net.ipv4.fib_multipath_hash_fields=0x37",
            "net.ipv6.fib_multipath_hash_policy=3",
            "net.ipv6.fib_multipath_hash_fields=0x37",
        ]);
    }
    settings
}

/// `ethtool` arguments for the end hosts' eth0. With tx checksum offload on
/// (the veth default) every packet from a host's kernel socket crosses the
/// whole lab with an unfinished checksum (`CHECKSUM_PARTIAL`): tcpdump on the
/// server shows "bad udp cksum", routers quote it, the server's TC program
/// sees it. No real network delivers such packets, and the reference vectors
/// have none, so the hosts finish their checksums themselves.
pub(crate) const HOST_CHECKSUM_OFFLOAD_OFF: [&str; 4] = ["-K", HOST_INTERFACE, "tx", "off"];

/// `ip -batch` lines run in the root namespace that create the veth pairs,
/// each end directly inside its namespace so no name clashes outside.
pub(crate) fn links_script(topology: Topology, netns: impl Fn(Host) -> String) -> String {
    topology.links().fold(String::new(), |mut script, link| {
        let _ = writeln!(
            script,
            "link add {} netns {} type veth peer name {} netns {}",
            link.interface(link.a),
            netns(link.a),
            link.interface(link.b),
            netns(link.b),
        );
        script
    })
}

/// `ip -batch` lines run inside `host`'s namespace (with `ip -4` or `ip -6`,
/// which rules need) that give it its addresses and routes in `family`.
/// The IPv4 script also brings the interfaces up, so it must run first.
pub(crate) fn address_script(topology: Topology, host: Host, family: Family) -> String {
    let mut script = String::new();
    let mut line = |text: String| {
        script.push_str(&text);
        script.push('\n');
    };
    // IPv4 has no duplicate-address detection to skip.
    let nodad = match family {
        Family::V4 => "",
        Family::V6 => " nodad",
    };
    if family == Family::V4 {
        line("link set lo up".into());
        for link in topology.links_of(host) {
            line(format!("link set {} up", link.interface(host)));
        }
    }
    if !host.is_router() {
        if let Some(link) = topology.links_of(host).next() {
            let own = link.addr(host, family);
            line(format!(
                "address add {}/{} dev {HOST_INTERFACE}{nodad}",
                own.addr, own.prefix_len
            ));
            let gateway = link.addr(link.peer(host), family).addr;
            let default = match family {
                Family::V4 => "0.0.0.0/0",
                Family::V6 => "::/0",
            };
            line(format!(
                "route add {default} via {gateway} dev {HOST_INTERFACE}"
            ));
        }
        return script;
    }

    let own = host.addr(family);
    line(format!(
        "address add {own}/{} dev lo{nodad}",
        family.host_prefix_len()
    ));
    for link in topology.links_of(host) {
        let interface = link.interface(host);
        let on_link = link.addr(host, family);
        // No prefix route: ours below has the loopback address as source, so
        // the router answers from it whatever the interface.
        line(format!(
            "address add {}/{} dev {interface}{nodad} noprefixroute",
            on_link.addr, on_link.prefix_len
        ));
        line(format!(
            "route add {} dev {interface} src {own}",
            on_link.subnet()
        ));
    }
    for direction in Direction::ALL {
        let destination = direction.destination();
        let next_hops = topology.next_hops(host, direction);
        if next_hops == [destination] {
            continue; // on the destination's link: the link route serves
        }
        let Some(subnet) = topology
            .links_of(destination)
            .next()
            .map(|link| link.addr(destination, family).subnet())
        else {
            continue;
        };
        let via: Vec<String> = next_hops
            .iter()
            .filter_map(|&next| topology.link_between(host, next))
            .map(|link| {
                let gateway = link.addr(link.peer(host), family).addr;
                format!("via {gateway} dev {}", link.interface(host))
            })
            .collect();
        if let [single] = via.as_slice() {
            line(format!("route add {subnet} {single} src {own}"));
            continue;
        }
        let nexthops: String = via.iter().map(|hop| format!(" nexthop {hop}")).collect();
        line(format!("route add {subnet} src {own}{nexthops}"));
        // ECMP does not spread ICMP echo: `ECHO_SPLIT_RULESET` marks echo
        // packets with a branch number and these tables pin each branch.
        for (branch, hop) in (1..).zip(&via) {
            let table = BRANCH_TABLE_BASE + branch;
            line(format!("route add {subnet} {hop} src {own} table {table}"));
            line(format!("rule add fwmark {branch} table {table}"));
        }
    }
    script
}

/// Whether `host` splits traffic over two next hops in some direction.
pub(crate) fn has_diamond(topology: Topology, host: Host) -> bool {
    Direction::ALL
        .into_iter()
        .any(|direction| topology.next_hops(host, direction).len() > 1)
}

/// The nftables ruleset of a router at the diamond: Linux ECMP sends every
/// ICMP echo of a source/destination pair down one branch, so the echo
/// checksum's parity picks the branch (mark 1 or 2, see the `table` rules of
/// `address_script`), and multipath ICMP traces see both.
pub(crate) const ECHO_SPLIT_RULESET: &str = "table inet reverse_tr_lab {
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        icmp type { echo-request, echo-reply } icmp checksum & 1 == 0 meta mark set 1
        icmp type { echo-request, echo-reply } icmp checksum & 1 == 1 meta mark set 2
        icmpv6 type { echo-request, echo-reply } icmpv6 checksum & 1 == 0 meta mark set 1
        icmpv6 type { echo-request, echo-reply } icmpv6 checksum & 1 == 1 meta mark set 2
    }
}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diamond_router_gets_ecmp_route_and_branch_tables() {
        let script = address_script(Topology { asymmetric: false }, Host::R1, Family::V4);
        let expected = [
            "link set lo up",
            "link set client up",
            "link set r2a up",
            "link set r2b up",
            "address add 10.255.0.1/32 dev lo",
            "address add 10.0.1.1/24 dev client noprefixroute",
            "route add 10.0.1.0/24 dev client src 10.255.0.1",
            "address add 10.1.2.1/24 dev r2a noprefixroute",
            "route add 10.1.2.0/24 dev r2a src 10.255.0.1",
            "address add 10.1.3.1/24 dev r2b noprefixroute",
            "route add 10.1.3.0/24 dev r2b src 10.255.0.1",
            "route add 10.0.7.0/24 src 10.255.0.1 nexthop via 10.1.2.2 dev r2a nexthop via 10.1.3.2 dev r2b",
            "route add 10.0.7.0/24 via 10.1.2.2 dev r2a src 10.255.0.1 table 101",
            "rule add fwmark 1 table 101",
            "route add 10.0.7.0/24 via 10.1.3.2 dev r2b src 10.255.0.1 table 102",
            "rule add fwmark 2 table 102",
        ];
        assert_eq!(script.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn asymmetric_r3_sends_reverse_traffic_to_r5_and_keeps_no_branch_tables() {
        let script = address_script(Topology { asymmetric: true }, Host::R3, Family::V6);
        assert!(
            script.contains("route add fd00:0:1::/64 via fd00:1:8::2 dev r5 src fd00:255::3\n")
        );
        assert!(
            script.contains("route add fd00:0:7::/64 via fd00:1:6::2 dev r4 src fd00:255::3\n")
        );
        assert!(!script.contains("table"));
        assert!(
            !script.contains("link set"),
            "links come up in the IPv4 script"
        );
    }

    #[test]
    fn end_host_gets_its_address_and_a_default_route() {
        let cases = [
            (
                Host::Client,
                Family::V4,
                "10.0.1.100/24",
                "0.0.0.0/0 via 10.0.1.1",
            ),
            (
                Host::Client,
                Family::V6,
                "fd00:0:1::100/64",
                "::/0 via fd00:0:1::1",
            ),
            (
                Host::Server,
                Family::V4,
                "10.0.7.200/24",
                "0.0.0.0/0 via 10.0.7.1",
            ),
            (
                Host::Server,
                Family::V6,
                "fd00:0:7::200/64",
                "::/0 via fd00:0:7::1",
            ),
        ];
        for (host, family, addr, default) in cases {
            let script = address_script(Topology { asymmetric: false }, host, family);
            assert!(
                script.contains(&format!("address add {addr} dev eth0")),
                "{script}"
            );
            assert!(
                script.contains(&format!("route add {default} dev eth0\n")),
                "{script}"
            );
        }
    }

    #[test]
    fn only_the_diamond_ends_split_echo() {
        for (asymmetric, routers) in [(false, vec![Host::R1, Host::R3]), (true, vec![Host::R1])] {
            let topology = Topology { asymmetric };
            let splitting: Vec<Host> = topology
                .hosts()
                .filter(|&host| has_diamond(topology, host))
                .collect();
            assert_eq!(splitting, routers, "asymmetric={asymmetric}");
        }
    }
}
