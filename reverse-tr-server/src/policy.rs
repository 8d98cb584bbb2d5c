//! The operator's policy (§10.3, §10.4) as the loader holds it: rate
//! limits, the shortest request, the probe protocols offered, and allow and
//! deny lists of source prefixes from flags and a policy file.
//! [`crate::Server::apply`] writes it into the program's maps without
//! detaching it, so SIGHUP can re-read the file.

use std::{
    collections::BTreeSet,
    fmt,
    net::IpAddr,
    path::{Path, PathBuf},
    str::FromStr,
};

use aya::maps::lpm_trie::Key;
use reverse_tr_common::{
    Family, ProbeProtocol,
    policy::{Policy, Rate, list_prefix_len, protocol_bit},
    to_mapped,
};

use crate::error::{Error, Result};

/// A source prefix: an address with zero host bits and a length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    pub address: IpAddr,
    pub len: u8,
}

impl FromStr for Prefix {
    type Err = String;

    /// `ADDRESS/LEN` or a bare address (a host); host bits must be zero.
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let (address, len) = match text.split_once('/') {
            Some((address, len)) => (address, Some(len)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("invalid prefix {text:?}: not an IP address"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(len) => len
                .parse::<u8>()
                .ok()
                .filter(|len| *len <= max)
                .ok_or_else(|| format!("invalid prefix {text:?}: length must be 0 to {max}"))?,
            None => max,
        };
        if let IpAddr::V6(v6) = address
            && v6.to_ipv4_mapped().is_some()
            && len >= 96
        {
            // They would share keys with IPv4 prefixes.
            return Err(format!(
                "invalid prefix {text:?}: write IPv4-mapped prefixes as IPv4"
            ));
        }
        let prefix = Self { address, len };
        if prefix.masked() != prefix.bits() {
            return Err(format!("invalid prefix {text:?}: host bits are set"));
        }
        Ok(prefix)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.len)
    }
}

impl Prefix {
    /// The address as 128 bits, IPv4 mapped.
    fn bits(&self) -> u128 {
        u128::from_be_bytes(to_mapped(self.address))
    }

    /// The address with its host bits cleared.
    fn masked(&self) -> u128 {
        let len = list_prefix_len(Family::of(self.address), self.len);
        let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
        self.bits() & mask
    }

    /// The list key in the program's tries.
    pub(crate) fn key(&self) -> Key<[u8; 16]> {
        Key::new(
            list_prefix_len(Family::of(self.address), self.len),
            to_mapped(self.address),
        )
    }

    /// The prefix of a list key (the inverse of [`Self::key`]).
    pub(crate) fn of_key(key: &Key<[u8; 16]>) -> Self {
        let octets = key.data();
        let mapped = std::net::Ipv6Addr::from(octets);
        match mapped.to_ipv4_mapped() {
            Some(v4) if key.prefix_len() >= 96 => Self {
                address: IpAddr::V4(v4),
                len: (key.prefix_len() - 96) as u8,
            },
            _ => Self {
                address: IpAddr::V6(mapped),
                len: key.prefix_len() as u8,
            },
        }
    }
}

/// Which of the two prefix lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum List {
    Allow,
    Deny,
}

impl fmt::Display for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        })
    }
}

/// Allowed and denied source prefixes. Deny wins; an empty allow list
/// allows every source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lists {
    pub allow: BTreeSet<Prefix>,
    pub deny: BTreeSet<Prefix>,
}

impl Lists {
    /// One of the two lists.
    pub fn get(&self, list: List) -> &BTreeSet<Prefix> {
        match list {
            List::Allow => &self.allow,
            List::Deny => &self.deny,
        }
    }

    /// Parses a policy file: one `allow PREFIX` or `deny PREFIX` per line,
    /// `#` starts a comment, blank lines are ignored.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut lists = Self::default();
        for (number, line) in (1..).zip(text.lines()) {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let fail = |message: String| format!("line {number}: {message}");
            let mut words = line.split_whitespace();
            let (Some(keyword), Some(prefix), None) = (words.next(), words.next(), words.next())
            else {
                return Err(fail(format!(
                    "expected \"allow PREFIX\" or \"deny PREFIX\", found {line:?}"
                )));
            };
            let prefix: Prefix = prefix.parse().map_err(fail)?;
            match keyword {
                "allow" => lists.allow.insert(prefix),
                "deny" => lists.deny.insert(prefix),
                other => {
                    return Err(fail(format!(
                        "unknown keyword {other:?} (use allow or deny)"
                    )));
                }
            };
        }
        Ok(lists)
    }

    /// Both lists with `other`'s entries added.
    pub fn union(&self, other: &Self) -> Self {
        Self {
            allow: self.allow.union(&other.allow).copied().collect(),
            deny: self.deny.union(&other.deny).copied().collect(),
        }
    }
}

/// Where the operator's policy comes from: flags, and a file re-read on
/// every [`Self::read`] (start-up and SIGHUP).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Limits, minimum request size and protocols (from flags).
    pub policy: Policy,
    /// Prefixes from `--allow` and `--deny`.
    pub lists: Lists,
    /// The `--policy` file.
    pub file: Option<PathBuf>,
}

impl Sources {
    /// The policy with the file's lists as they are now.
    pub fn read(&self) -> Result<(Policy, Lists)> {
        let lists = match &self.file {
            Some(path) => self.lists.union(&read_file(path)?),
            None => self.lists.clone(),
        };
        Ok((self.policy, lists))
    }
}

fn read_file(path: &Path) -> Result<Lists> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| Error::Config(format!("policy file {}: {error}", path.display())))?;
    Lists::parse(&text)
        .map_err(|message| Error::Config(format!("policy file {}: {message}", path.display())))
}

/// The policy in words, for the log line at start-up.
pub fn describe(policy: &Policy) -> String {
    let limit = |rate: &Rate, per: &str| match rate.is_on() {
        true => format!("{}/s (burst {}) {per}", rate.per_second, rate.burst),
        false => format!("no limit {per}"),
    };
    let cap = |most: u32, per: &str| match most {
        0 => format!("no cap on sessions per {per}"),
        most => format!("at most {most} sessions per {per}"),
    };
    let offered: Vec<&str> = [
        (ProbeProtocol::Icmp, "icmp"),
        (ProbeProtocol::Udp, "udp"),
        (ProbeProtocol::Tcp, "tcp"),
    ]
    .into_iter()
    .filter(|(protocol, _)| policy.offers(*protocol))
    .map(|(_, name)| name)
    .collect();
    let mut parts = vec![
        limit(&policy.source, "per source"),
        limit(&policy.prefix, "per /24 or /48"),
        cap(policy.source_sessions, "source"),
        cap(policy.prefix_sessions, "/24 or /48"),
        limit(&policy.sessions, "on sessions created"),
        limit(&policy.new_sources, "on new sources"),
    ];
    if policy.refuse_unpadded != 0 {
        parts.push("unpadded requests refused".to_owned());
    } else {
        parts.push(limit(&policy.unpadded, "on unpadded requests"));
        parts.push(limit(
            &policy.unpadded_source,
            "on unpadded requests per source",
        ));
    }
    parts.push(match offered.is_empty() {
        true => "probes none".to_owned(),
        false => format!("probes {}", offered.join(",")),
    });
    let [v4, v6] = policy.min_request_len;
    if (v4, v6) != (0, 0) {
        parts.push(format!(
            "requests of at least {v4} (IPv4) / {v6} (IPv6) octets"
        ));
    }
    for (flag, words) in [
        (policy.refuse_private, "private sources refused"),
        (policy.allow_listed_only, "allow-listed sources only"),
        (
            policy.local_only,
            "requests to the interfaces' addresses only",
        ),
    ] {
        if flag != 0 {
            parts.push(words.to_owned());
        }
    }
    parts.join(", ")
}

/// The protocols bitmask refusing every protocol not in `offered`.
pub fn refused_protocols(offered: &[ProbeProtocol]) -> u8 {
    [ProbeProtocol::Icmp, ProbeProtocol::Udp, ProbeProtocol::Tcp]
        .into_iter()
        .filter(|protocol| !offered.contains(protocol))
        .map(protocol_bit)
        .fold(0, |bits, bit| bits | bit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_strictly() {
        let cases = [
            ("192.0.2.0/24", Some("192.0.2.0/24")),
            ("192.0.2.7", Some("192.0.2.7/32")),
            ("0.0.0.0/0", Some("0.0.0.0/0")),
            ("2001:db8::/32", Some("2001:db8::/32")),
            ("2001:db8::1", Some("2001:db8::1/128")),
            ("192.0.2.1/24", None),
            ("2001:db8::1/32", None),
            ("192.0.2.0/33", None),
            ("2001:db8::/129", None),
            ("::ffff:192.0.2.0/120", None),
            ("192.0.2.0/", None),
            ("example.org/24", None),
        ];
        for (text, expected) in cases {
            let parsed = text.parse::<Prefix>().ok().map(|p| p.to_string());
            assert_eq!(parsed.as_deref(), expected, "{text}");
        }
    }

    #[test]
    fn list_keys_round_trip() {
        for text in ["192.0.2.0/24", "0.0.0.0/0", "2001:db8::/48", "::/0"] {
            let prefix: Prefix = text.parse().expect("valid prefix");
            assert_eq!(Prefix::of_key(&prefix.key()), prefix, "{text}");
        }
    }

    #[test]
    fn policy_files_parse_with_comments() {
        let lists = Lists::parse(
            "# operators\nallow 192.0.2.0/24\n\n  deny 192.0.2.128/25  # a bad half\nallow 2001:db8::/32\n",
        )
        .expect("valid file");
        let set = |items: &[&str]| items.iter().map(|p| p.parse().expect("prefix")).collect();
        assert_eq!(lists.allow, set(&["192.0.2.0/24", "2001:db8::/32"]));
        assert_eq!(lists.deny, set(&["192.0.2.128/25"]));
    }

    #[test]
    fn policy_file_errors_name_the_line() {
        let cases = [
            (
                "allow 192.0.2.0/24\npermit 10.0.0.0/8\n",
                "line 2: unknown keyword \"permit\"",
            ),
            (
                "\n\ndeny 10.0.0.1/8\n",
                "line 3: invalid prefix \"10.0.0.1/8\": host bits are set",
            ),
            ("allow\n", "line 1: expected"),
            ("deny 10.0.0.0/8 10.1.0.0/16\n", "line 1: expected"),
        ];
        for (text, expected) in cases {
            let error = Lists::parse(text).expect_err(text);
            assert!(error.starts_with(expected), "{error}");
        }
    }

    #[test]
    fn protocol_masks_refuse_what_is_not_offered() {
        assert_eq!(
            refused_protocols(&[ProbeProtocol::Icmp, ProbeProtocol::Udp, ProbeProtocol::Tcp]),
            0
        );
        let refused = refused_protocols(&[ProbeProtocol::Udp]);
        let policy = Policy {
            refused_protocols: refused,
            ..Policy::default()
        };
        assert!(policy.offers(ProbeProtocol::Udp));
        assert!(!policy.offers(ProbeProtocol::Icmp));
        assert!(!policy.offers(ProbeProtocol::Tcp));
    }
}
