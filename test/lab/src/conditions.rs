//! How the lab's routers misbehave, chosen per router, as on real paths
//! (see "The Internet is not the clean lab" in the design notes):
//!
//! - **silent**: the router forwards but sends no ICMP error of its own
//!   (an nftables output rule drops its Time Exceeded, Destination
//!   Unreachable and Parameter Problem, both families);
//! - **rate-limited**: the router limits its ICMP errors as Linux does by
//!   default (per destination a burst of 6, then one per second; all
//!   errors together 1,000/s with a burst of 50), where the clean lab
//!   lifts these limits;
//! - **loss**: the router drops a share of the packets it forwards, both
//!   ways (nftables `numgen random`; this kernel has no netem);
//! - **reverse loss**: the router drops a share of the reverse
//!   traceroute's probes it forwards towards the client (the server's
//!   probes, PROTOCOL.md §5: UDP or TCP from port 1021, ICMP echo
//!   requests, both families) and nothing else, so the loss is on the way
//!   back only and only a reverse trace sees it: forward probes, their
//!   answers and the server's responses pass.
//!
//! Conditions combine with each other and with the asymmetric variant, and
//! [`Lab::set_conditions`] replaces them on a lab that is up, so one lab
//! serves a clean run and a lossy one in turn.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::str::FromStr;

use super::{Family, Hops, Host, Lab, setup};
use crate::command::run;
use crate::error::{Error, Result};

/// Linux's default ICMP error limits, which the clean lab lifts
/// ([`setup::LIFTED_ICMP_LIMITS`] names the same settings). The rate mask
/// (`icmp_ratemask`, Time Exceeded and Destination Unreachable included)
/// is never changed, so it stays the default.
const LINUX_ICMP_LIMITS: [&str; 4] = [
    "net.ipv4.icmp_ratelimit=1000",
    "net.ipv4.icmp_msgs_per_sec=1000",
    "net.ipv4.icmp_msgs_burst=50",
    "net.ipv6.icmp.ratelimit=1000",
];

/// The nftables table holding a router's conditions; replaced whole.
const TABLE: &str = "reverse_tr_conditions";

/// The source port of the server's UDP and TCP probes (PROTOCOL.md §5.3,
/// §5.4), which tells them from the answers to forward probes.
const REVERSE_PROBE_PORT: u16 = 1021;

/// The misbehaviour of each router; the default is the clean lab.
///
/// ```
/// use reverse_tr_lab::{Conditions, Host};
/// let conditions = Conditions::default()
///     .silent([Host::R3])
///     .rate_limited([Host::R1, Host::R3])
///     .loss(Host::R2a, 5);
/// assert_eq!(conditions.to_string(), "silent r3; rate-limited r1,r3; loss r2a:5%");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    silent: BTreeSet<Host>,
    rate_limited: BTreeSet<Host>,
    /// Router → percent of forwarded packets dropped.
    loss: BTreeMap<Host, u8>,
    /// Router → percent of the reverse probes towards the client dropped.
    reverse_loss: BTreeMap<Host, u8>,
}

impl Conditions {
    /// These routers send no ICMP errors (they still forward).
    pub fn silent(mut self, routers: impl IntoIterator<Item = Host>) -> Self {
        self.silent.extend(routers);
        self
    }

    /// These routers limit their ICMP errors as Linux does by default.
    pub fn rate_limited(mut self, routers: impl IntoIterator<Item = Host>) -> Self {
        self.rate_limited.extend(routers);
        self
    }

    /// `router` drops `percent` % of the packets it forwards, at random.
    pub fn loss(mut self, router: Host, percent: u8) -> Self {
        self.loss.insert(router, percent);
        self
    }

    /// `router` drops `percent` % of the reverse probes it forwards towards
    /// the client, at random, and nothing else.
    pub fn reverse_loss(mut self, router: Host, percent: u8) -> Self {
        self.reverse_loss.insert(router, percent);
        self
    }

    /// No condition: the clean lab.
    pub fn is_clean(&self) -> bool {
        self.silent.is_empty()
            && self.rate_limited.is_empty()
            && self.loss.is_empty()
            && self.reverse_loss.is_empty()
    }

    /// The silent routers.
    pub fn silent_routers(&self) -> &BTreeSet<Host> {
        &self.silent
    }

    /// `hops` as a trace sees them under these conditions: the silent
    /// routers' addresses removed, so a TTL where only silent routers are
    /// leaves an empty set there (a `*` hop; [`super::fits`] expects one).
    pub fn visible(&self, hops: &Hops) -> Hops {
        hops.iter()
            .map(|(&ttl, addrs)| {
                let seen = addrs
                    .iter()
                    .filter(|&&addr| Host::by_addr(addr).is_none_or(|h| !self.silent.contains(&h)))
                    .copied()
                    .collect();
                (ttl, seen)
            })
            .collect()
    }

    /// Every router named, so a lab can check it has them all.
    fn routers(&self) -> impl Iterator<Item = Host> + '_ {
        self.silent
            .iter()
            .chain(&self.rate_limited)
            .chain(self.loss.keys())
            .chain(self.reverse_loss.keys())
            .copied()
    }

    /// The kernel settings of `router`: Linux's limits or the lab's lifted ones.
    fn sysctls(&self, router: Host) -> &'static [&'static str] {
        if self.rate_limited.contains(&router) {
            &LINUX_ICMP_LIMITS
        } else {
            &setup::LIFTED_ICMP_LIMITS
        }
    }

    /// The nftables script that replaces `router`'s conditions table.
    fn ruleset(&self, router: Host) -> String {
        // Adding first makes the deletion succeed on a router without one.
        let mut script = format!("table inet {TABLE} {{}}\ndelete table inet {TABLE}\n");
        let silent = self.silent.contains(&router);
        let loss = self.loss.get(&router);
        let reverse_loss = self.reverse_loss.get(&router);
        if !silent && loss.is_none() && reverse_loss.is_none() {
            return script;
        }
        let _ = writeln!(script, "table inet {TABLE} {{");
        if silent {
            script.push_str(
                "    chain output {
        type filter hook output priority filter; policy accept;
        icmp type { destination-unreachable, time-exceeded, parameter-problem } counter drop
        icmpv6 type { destination-unreachable, time-exceeded, parameter-problem } counter drop
    }
",
            );
        }
        if loss.is_some() || reverse_loss.is_some() {
            script.push_str(
                "    chain forward {
        type filter hook forward priority filter; policy accept;
",
            );
            if let Some(percent) = loss {
                let _ = writeln!(
                    script,
                    "        numgen random mod 100 < {percent} counter drop"
                );
            }
            if let Some(percent) = reverse_loss {
                // The server's probes towards the client (PROTOCOL.md §5.2-5.4).
                let drop = format!("numgen random mod 100 < {percent} counter drop");
                for (match_family, family) in [("ip", Family::V4), ("ip6", Family::V6)] {
                    let client = Host::Client.addr(family);
                    let echo = match family {
                        Family::V4 => "icmp",
                        Family::V6 => "icmpv6",
                    };
                    let _ = writeln!(
                        script,
                        "        {match_family} daddr {client} meta l4proto {{ tcp, udp }} th sport {REVERSE_PROBE_PORT} {drop}
        {match_family} daddr {client} {echo} type echo-request {drop}"
                    );
                }
            }
            script.push_str("    }\n");
        }
        script.push_str("}\n");
        script
    }
}

impl fmt::Display for Conditions {
    /// `silent r3; rate-limited r1,r3; loss r2a:5%,r4:5%`, or `clean`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_clean() {
            return f.write_str("clean");
        }
        let names = |hosts: &BTreeSet<Host>| {
            hosts
                .iter()
                .map(|host| host.name())
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut parts = Vec::new();
        if !self.silent.is_empty() {
            parts.push(format!("silent {}", names(&self.silent)));
        }
        if !self.rate_limited.is_empty() {
            parts.push(format!("rate-limited {}", names(&self.rate_limited)));
        }
        for (word, losses) in [("loss", &self.loss), ("reverse-loss", &self.reverse_loss)] {
            if !losses.is_empty() {
                let losses: Vec<String> = losses
                    .iter()
                    .map(|(host, percent)| format!("{}:{percent}%", host.name()))
                    .collect();
                parts.push(format!("{word} {}", losses.join(",")));
            }
        }
        f.write_str(&parts.join("; "))
    }
}

/// A router named as the lab names it (`r1`, `r2a`, …), for command lines.
pub fn router(name: &str) -> Result<Host, String> {
    Host::ALL
        .into_iter()
        .find(|host| host.is_router() && host.name() == name)
        .ok_or_else(|| {
            let routers: Vec<&str> = Host::ALL
                .into_iter()
                .filter(|host| host.is_router())
                .map(Host::name)
                .collect();
            format!("`{name}` is not a router (one of {})", routers.join(", "))
        })
}

/// `ROUTER:PERCENT` on a command line: the router drops that share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loss {
    pub router: Host,
    pub percent: u8,
}

impl FromStr for Loss {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (name, percent) = text
            .split_once(':')
            .ok_or_else(|| format!("`{text}`: write ROUTER:PERCENT, e.g. r2a:5"))?;
        let percent = percent
            .trim_end_matches('%')
            .parse::<u8>()
            .ok()
            .filter(|percent| (1..=100).contains(percent))
            .ok_or_else(|| format!("`{text}`: the percentage must be 1 to 100"))?;
        Ok(Loss {
            router: router(name)?,
            percent,
        })
    }
}

impl Lab {
    /// Replaces the routers' conditions with `conditions` (the default:
    /// clean). Every router of the lab is reset, so calls do not add up.
    pub fn set_conditions(&self, conditions: &Conditions) -> Result<()> {
        let present: BTreeSet<Host> = self.hosts().collect();
        if let Some(missing) = conditions.routers().find(|host| !present.contains(host)) {
            return Err(Error::Condition(format!(
                "{} is not in this lab{}",
                missing.name(),
                if missing == Host::R5 {
                    " (r5 is in the asymmetric variant only)"
                } else {
                    ""
                }
            )));
        }
        for router in present.into_iter().filter(|host| host.is_router()) {
            run(
                self.command(router, "sysctl")
                    .args(["-q", "-w"])
                    .args(conditions.sysctls(router)),
                None,
            )?;
            run(
                self.command(router, "nft").args(["-f", "-"]),
                Some(&conditions.ruleset(router)),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Direction, Family, topology::Topology};

    #[test]
    fn a_clean_router_gets_an_empty_table_and_lifted_limits() {
        let conditions = Conditions::default().silent([Host::R3]);
        let script = conditions.ruleset(Host::R1);
        assert_eq!(
            script,
            "table inet reverse_tr_conditions {}\ndelete table inet reverse_tr_conditions\n"
        );
        assert_eq!(conditions.sysctls(Host::R1), setup::LIFTED_ICMP_LIMITS);
    }

    #[test]
    fn each_condition_has_its_rule() {
        let conditions = Conditions::default()
            .silent([Host::R3])
            .rate_limited([Host::R3])
            .loss(Host::R3, 7);
        let script = conditions.ruleset(Host::R3);
        assert!(script.contains("hook output"), "{script}");
        assert!(
            script.contains("icmpv6 type { destination-unreachable, time-exceeded"),
            "{script}"
        );
        assert!(script.contains("hook forward"), "{script}");
        assert!(
            script.contains("numgen random mod 100 < 7 counter drop"),
            "{script}"
        );
        assert_eq!(conditions.sysctls(Host::R3), LINUX_ICMP_LIMITS);
        let loss_only = Conditions::default().loss(Host::R2a, 5).ruleset(Host::R2a);
        assert!(!loss_only.contains("hook output"), "{loss_only}");
    }

    #[test]
    fn reverse_loss_drops_only_the_servers_probes_towards_the_client() {
        let script = Conditions::default()
            .reverse_loss(Host::R3, 40)
            .ruleset(Host::R3);
        let drop = "numgen random mod 100 < 40 counter drop";
        for rule in [
            format!("ip daddr 10.0.1.100 meta l4proto {{ tcp, udp }} th sport 1021 {drop}"),
            format!("ip daddr 10.0.1.100 icmp type echo-request {drop}"),
            format!("ip6 daddr fd00:0:1::100 meta l4proto {{ tcp, udp }} th sport 1021 {drop}"),
            format!("ip6 daddr fd00:0:1::100 icmpv6 type echo-request {drop}"),
        ] {
            assert!(script.contains(&rule), "{rule} in {script}");
        }
        assert!(script.contains("hook forward"), "{script}");
        assert!(!script.contains("hook output"), "{script}");
        // Every drop is for the client: no loss on the way there.
        let drops: Vec<&str> = script.lines().filter(|l| l.contains("drop")).collect();
        assert_eq!(drops.len(), 4, "{script}");
        assert!(
            drops.iter().all(|rule| rule.contains(" daddr ")),
            "{script}"
        );
        // Both kinds of loss on one router share its forward chain.
        let both = Conditions::default()
            .loss(Host::R3, 5)
            .reverse_loss(Host::R3, 40)
            .ruleset(Host::R3);
        assert_eq!(both.matches("hook forward").count(), 1, "{both}");
        assert!(
            both.contains("\n        numgen random mod 100 < 5 counter drop\n"),
            "{both}"
        );
        assert_eq!(both.matches("< 40 counter drop").count(), 4, "{both}");
        assert_eq!(
            Conditions::default()
                .reverse_loss(Host::R3, 40)
                .ruleset(Host::R1),
            Conditions::default().ruleset(Host::R1),
            "other routers stay clean"
        );
    }

    #[test]
    fn the_same_settings_are_lifted_and_restored() {
        let names = |settings: &[&str]| -> Vec<String> {
            settings
                .iter()
                .map(|setting| setting.split('=').next().unwrap_or_default().to_owned())
                .collect()
        };
        assert_eq!(names(&LINUX_ICMP_LIMITS), names(&setup::LIFTED_ICMP_LIMITS));
    }

    #[test]
    fn a_silent_router_leaves_a_star_and_its_successors() {
        let hops = Topology { asymmetric: false }.expected_hops(Direction::Forward, Family::V4);
        let silent = Conditions::default().silent([Host::R3, Host::R2a]);
        let visible = silent.visible(&hops);
        assert_eq!(
            crate::describe(&visible),
            "r1, r2b, *, r4, server",
            "r2b still answers at the diamond"
        );
        assert_eq!(Conditions::default().visible(&hops), hops);
    }

    #[test]
    fn command_line_values_are_checked() {
        assert_eq!(router("r2a"), Ok(Host::R2a));
        for bad in ["client", "server", "r9", ""] {
            assert!(router(bad).is_err(), "{bad}");
        }
        assert_eq!(
            "r4:5".parse::<Loss>(),
            Ok(Loss {
                router: Host::R4,
                percent: 5
            })
        );
        assert_eq!("r1:100%".parse::<Loss>().map(|loss| loss.percent), Ok(100));
        for bad in ["r4", "r4:0", "r4:101", "r4:x", "server:5"] {
            assert!(bad.parse::<Loss>().is_err(), "{bad}");
        }
    }

    #[test]
    fn conditions_read_as_the_command_line_writes_them() {
        assert_eq!(Conditions::default().to_string(), "clean");
        let conditions = Conditions::default()
            .loss(Host::R4, 5)
            .loss(Host::R2a, 5)
            .rate_limited([Host::R1]);
        assert_eq!(conditions.to_string(), "rate-limited r1; loss r2a:5%,r4:5%");
        let conditions = conditions.reverse_loss(Host::R3, 40);
        assert!(!conditions.is_clean());
        assert_eq!(
            conditions.to_string(),
            "rate-limited r1; loss r2a:5%,r4:5%; reverse-loss r3:40%"
        );
    }
}
