//! Target resolution (§11.2): what TARGET names ([`host_of`]: an IP
//! literal, an endpoint's `@NAME`, or a host name), the system resolver for
//! host names, IPv4 preferred unless `-4`/`-6` says otherwise, the first
//! address taken; and the local address the routing table picks towards it.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};

use reverse_tr_common::address::Family;

use crate::{cli::Error, cli::Result, cli::endpoints};

/// What a TARGET names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    Address(IpAddr),
    Name(String),
}

/// The host `target` names: an IP literal, checked strictly (text made of
/// digits and dots, or containing `:`, is never taken for a host name, so
/// `300.1.1.1` is refused rather than looked up); `@NAME`, the public
/// endpoint of that short name; else a host name.
pub(crate) fn host_of(target: &str) -> Result<Host> {
    let bad = |reason: String| Error::Target {
        target: target.to_owned(),
        reason,
    };
    if let Some(name) = target.strip_prefix(endpoints::MARKER) {
        return endpoints::host_named(name)
            .map(Host::Name)
            .ok_or_else(|| bad("no public server of that name (see --list-endpoints)".to_owned()));
    }
    let looks_literal = target.contains(':')
        || (!target.is_empty() && target.chars().all(|c| c.is_ascii_digit() || c == '.'));
    if looks_literal {
        return target.parse().map(Host::Address).map_err(|_| {
            bad(if target.contains(':') {
                "not an IPv6 address".to_owned()
            } else {
                "not an IPv4 address (four numbers 0–255 separated by dots)".to_owned()
            })
        });
    }
    if target.is_empty() {
        return Err(bad("empty".to_owned()));
    }
    Ok(Host::Name(target.to_owned()))
}

/// The address of `target` (as [`host_of`] reads it) in `family`, or
/// IPv4 first and IPv6 if there is no IPv4 address. Blocks on the resolver.
pub(crate) fn resolve_target(target: &str, family: Option<Family>) -> Result<IpAddr> {
    let failed = |reason: String| Error::Resolve {
        target: target.to_owned(),
        reason,
    };
    let candidates: Vec<IpAddr> = match host_of(target)? {
        Host::Address(literal) => vec![literal],
        Host::Name(name) => (name.as_str(), 0)
            .to_socket_addrs()
            .map_err(|error| failed(error.to_string()))?
            .map(|socket| socket.ip())
            .collect(),
    };
    choose(&candidates, family).ok_or_else(|| {
        failed(match family {
            Some(Family::V4) => "no IPv4 address".to_owned(),
            Some(Family::V6) => "no IPv6 address".to_owned(),
            None => "no address".to_owned(),
        })
    })
}

/// §11.2's choice among resolved addresses.
fn choose(candidates: &[IpAddr], family: Option<Family>) -> Option<IpAddr> {
    let first_of = |wanted: Family| {
        candidates
            .iter()
            .copied()
            .find(|a| Family::of(*a) == wanted)
    };
    match family {
        Some(wanted) => first_of(wanted),
        None => first_of(Family::V4).or_else(|| first_of(Family::V6)),
    }
}

/// The source address the kernel selects for packets to `target`: a
/// connected UDP socket sends nothing but learns its route's source.
pub(crate) fn local_address(target: IpAddr) -> Result<IpAddr> {
    let unspecified: IpAddr = match target {
        IpAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(unspecified, 0))?;
    socket
        .connect(SocketAddr::new(target, 9))
        .map_err(|source| Error::NoRoute { target, source })?;
    Ok(socket.local_addr()?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn prefers_ipv4_unless_told() {
        let both = [ip("2001:db8::1"), ip("192.0.2.1"), ip("192.0.2.2")];
        assert_eq!(choose(&both, None), Some(ip("192.0.2.1")));
        assert_eq!(choose(&both, Some(Family::V6)), Some(ip("2001:db8::1")));
        assert_eq!(choose(&both, Some(Family::V4)), Some(ip("192.0.2.1")));
        assert_eq!(choose(&both[..1], Some(Family::V4)), None);
        assert_eq!(choose(&both[..1], None), Some(ip("2001:db8::1")));
    }

    #[test]
    fn literals_resolve_to_themselves_in_their_family_only() {
        assert_eq!(
            resolve_target("192.0.2.7", None).ok(),
            Some(ip("192.0.2.7"))
        );
        assert!(matches!(
            resolve_target("192.0.2.7", Some(Family::V6)),
            Err(Error::Resolve { .. })
        ));
    }

    #[test]
    fn what_looks_like_an_address_must_be_one() {
        let good = [
            ("192.0.2.7", Host::Address(ip("192.0.2.7"))),
            ("::1", Host::Address(ip("::1"))),
            ("2001:db8::1", Host::Address(ip("2001:db8::1"))),
            ("::ffff:192.0.2.1", Host::Address(ip("::ffff:192.0.2.1"))),
            ("example.net", Host::Name("example.net".to_owned())),
            ("bcix", Host::Name("bcix".to_owned())),
            ("1.example", Host::Name("1.example".to_owned())),
            ("@bcix", Host::Name("www.bcix.de".to_owned())),
            ("@BCIX", Host::Name("www.bcix.de".to_owned())),
        ];
        for (target, host) in good {
            assert_eq!(host_of(target).ok(), Some(host), "{target}");
        }
        let bad = [
            ("300.1.1.1", "not an IPv4 address"),
            ("1.2.3", "not an IPv4 address"),
            ("1234", "not an IPv4 address"),
            ("1.2.3.4.", "not an IPv4 address"),
            ("01.2.3.4", "not an IPv4 address"),
            ("::1::2", "not an IPv6 address"),
            ("fe80::1%eth0", "not an IPv6 address"),
            ("host:80", "not an IPv6 address"),
            ("@nosuch", "no public server of that name"),
            ("", "empty"),
        ];
        for (target, reason) in bad {
            let error = host_of(target).expect_err(target);
            assert!(
                matches!(&error, Error::Target { .. }) && error.to_string().contains(reason),
                "{target}: {error}"
            );
            assert!(matches!(
                resolve_target(target, None),
                Err(Error::Target { .. })
            ));
        }
    }

    #[test]
    fn loopback_routes_from_loopback() {
        assert_eq!(local_address(ip("127.0.0.1")).ok(), Some(ip("127.0.0.1")));
    }
}
