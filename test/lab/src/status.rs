//! The lab's self-check: reachability both ways in both families, the paths
//! traces take, and that the diamond splits flows.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use super::topology::{describe, fits, names};
use super::{Direction, Family, Lab, Protocol, TraceOptions};
use crate::command::run;
use crate::{Error, Result};

/// `traceroute` runs at the diamond: 30 UDP flows all on one branch by
/// chance has odds 2^-29.
const SPREAD_RUNS: u16 = 3;
/// Probes per `traceroute` run (its maximum).
const SPREAD_QUERIES: u8 = 10;

/// One verified property of the lab.
#[derive(Clone, Debug)]
pub struct Check {
    pub what: String,
    /// Why it failed.
    pub failure: Option<String>,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            None => write!(f, "ok    {}", self.what),
            Some(why) => write!(f, "FAIL  {}: {why}", self.what),
        }
    }
}

impl Lab {
    /// Runs every check; an error means a check could not run at all.
    pub fn status(&self) -> Result<Vec<Check>> {
        let mut checks = Vec::new();
        for family in Family::ALL {
            for direction in Direction::ALL {
                checks.push(self.check_ping(direction, family)?);
            }
        }
        for family in Family::ALL {
            for direction in Direction::ALL {
                checks.push(self.check_path(direction, family)?);
                for (ttl, expected) in self.expected_hops(direction, family) {
                    if expected.len() > 1 {
                        for protocol in Protocol::ALL {
                            checks.push(
                                self.check_spread(direction, family, ttl, &expected, protocol)?,
                            );
                        }
                    }
                }
            }
        }
        Ok(checks)
    }

    /// Which addresses answer at `ttl` over many `protocol` probes (UDP:
    /// flows; ICMP: checksums) from `direction`'s source to its destination.
    pub fn answers_at(
        &self,
        direction: Direction,
        family: Family,
        ttl: u8,
        protocol: Protocol,
    ) -> Result<BTreeSet<IpAddr>> {
        let destination = self.addr(direction.destination(), family);
        let mut seen = BTreeSet::new();
        for run in 0..SPREAD_RUNS {
            let options = TraceOptions {
                protocol,
                first_ttl: ttl,
                max_ttl: ttl,
                queries: SPREAD_QUERIES,
                port: 33434 + run * 1000,
            };
            let hops = self.traceroute(direction.source(), destination, options)?;
            seen.extend(hops.into_values().flatten());
        }
        Ok(seen)
    }

    fn check_ping(&self, direction: Direction, family: Family) -> Result<Check> {
        let (from, to) = (direction.source(), direction.destination());
        let addr = self.addr(to, family);
        let what = format!(
            "{} ping {} → {} ({addr})",
            family.name(),
            from.name(),
            to.name()
        );
        let pinged = run(
            self.command(from, "ping")
                .args(["-n", "-c1", "-W2", &addr.to_string()]),
            None,
        );
        let failure = match pinged {
            Ok(_) => None,
            Err(Error::Command { stderr, .. }) if stderr.is_empty() => Some("no reply".into()),
            Err(Error::Command { stderr, .. }) => Some(format!("no reply: {stderr}")),
            Err(error) => return Err(error),
        };
        Ok(Check { what, failure })
    }

    fn check_path(&self, direction: Direction, family: Family) -> Result<Check> {
        let expected = self.expected_hops(direction, family);
        let what = format!(
            "{} {} path {} → {}: {}",
            family.name(),
            direction.name(),
            direction.source().name(),
            direction.destination().name(),
            describe(&expected),
        );
        let traced = self.trace(direction, family)?;
        let failure = (!fits(&traced, &expected)).then(|| format!("traced {}", describe(&traced)));
        Ok(Check { what, failure })
    }

    fn check_spread(
        &self,
        direction: Direction,
        family: Family,
        ttl: u8,
        expected: &BTreeSet<IpAddr>,
        protocol: Protocol,
    ) -> Result<Check> {
        let probes = SPREAD_RUNS * u16::from(SPREAD_QUERIES);
        let what = format!(
            "{} {} diamond at TTL {ttl} splits {probes} {} probes over {}",
            family.name(),
            direction.name(),
            protocol.name(),
            names(expected),
        );
        let seen = self.answers_at(direction, family, ttl, protocol)?;
        let failure = (seen != *expected).then(|| format!("answered by {}", names(&seen)));
        Ok(Check { what, failure })
    }
}
