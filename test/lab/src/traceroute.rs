//! Classic `traceroute` (UDP or ICMP) run inside the lab, its
//! output read back as hop sets.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::{Direction, Family, Hops, Host, Lab};
use crate::Result;
use crate::command::run;

/// What `traceroute` probes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// UDP to rising destination ports: each probe is a flow of its own.
    Udp,
    /// ICMP echo with rising sequence numbers, so alternating checksum parity.
    Icmp,
}

impl Protocol {
    /// Both protocols.
    pub const ALL: [Protocol; 2] = [Protocol::Udp, Protocol::Icmp];

    /// "UDP" or "ICMP".
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Udp => "UDP",
            Protocol::Icmp => "ICMP",
        }
    }
}

/// How to run one `traceroute`.
#[derive(Clone, Copy, Debug)]
pub struct TraceOptions {
    pub protocol: Protocol,
    pub first_ttl: u8,
    pub max_ttl: u8,
    /// Probes per TTL (at most 10); each goes to the next destination port,
    /// so each is a different flow.
    pub queries: u8,
    /// Destination port (UDP) or sequence number (ICMP) of the first probe.
    pub port: u16,
}

impl Default for TraceOptions {
    fn default() -> Self {
        Self {
            protocol: Protocol::Udp,
            first_ttl: 1,
            max_ttl: 16,
            queries: 3,
            port: 33434,
        }
    }
}

impl Lab {
    /// Traces from `direction`'s source to its destination, three probes
    /// (flows) per TTL.
    pub fn trace(&self, direction: Direction, family: Family) -> Result<Hops> {
        let destination = self.addr(direction.destination(), family);
        self.traceroute(direction.source(), destination, TraceOptions::default())
    }

    /// Traces from `from` to `destination`; a TTL nobody answered maps to
    /// an empty set.
    pub fn traceroute(
        &self,
        from: Host,
        destination: IpAddr,
        options: TraceOptions,
    ) -> Result<Hops> {
        let mut command = self.command(from, "traceroute");
        if options.protocol == Protocol::Icmp {
            command.arg("-I");
        }
        let output = run(
            command.args([
                "-n".to_owned(),
                format!("-f{}", options.first_ttl),
                format!("-m{}", options.max_ttl),
                format!("-q{}", options.queries),
                format!("-p{}", options.port),
                // Everything answers within microseconds here; waiting
                // longer only slows a failing check.
                "-w1".to_owned(),
                destination.to_string(),
            ]),
            None,
        )?;
        Ok(parse(&output))
    }
}

/// Reads `traceroute -n` output: ` 2  10.255.0.21  0.05 ms 10.255.0.22  0.04 ms`.
fn parse(output: &str) -> Hops {
    let mut hops = Hops::new();
    for line in output.lines() {
        let mut words = line.split_whitespace();
        let Some(Ok(ttl)) = words.next().map(str::parse::<u8>) else {
            continue; // the header, or nothing
        };
        let addrs: BTreeSet<IpAddr> = words.filter_map(|word| word.parse().ok()).collect();
        hops.entry(ttl).or_default().extend(addrs);
    }
    hops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hops_answers_and_silence() {
        let output = "traceroute to fd00:0:7::200 (fd00:0:7::200), 16 hops max, 80 byte packets
 1  fd00:255::1  0.043 ms  0.011 ms  0.010 ms
 2  fd00:255::22  0.030 ms fd00:255::21  0.021 ms  0.019 ms
 3  * * *
 4  10.0.7.200  0.060 ms !X  0.031 ms !X  0.030 ms !X
";
        let hops = parse(output);
        let addr = |s: &str| s.parse::<IpAddr>().expect("address");
        assert_eq!(hops.len(), 4);
        assert_eq!(hops[&1], BTreeSet::from([addr("fd00:255::1")]));
        assert_eq!(
            hops[&2],
            BTreeSet::from([addr("fd00:255::21"), addr("fd00:255::22")])
        );
        assert!(hops[&3].is_empty());
        assert_eq!(hops[&4], BTreeSet::from([addr("10.0.7.200")]));
    }
}
