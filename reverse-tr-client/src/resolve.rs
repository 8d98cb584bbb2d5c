//! Target resolution (§11.2): the system resolver, IPv4 preferred unless
//! `-4`/`-6` says otherwise, the first address taken; and the local address
//! the routing table picks towards it.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};

use reverse_tr_common::address::Family;

use crate::{Error, Result};

/// The address of `target` (a host name or an IP literal) in `family`, or
/// IPv4 first and IPv6 if there is no IPv4 address. Blocks on the resolver.
pub fn resolve_target(target: &str, family: Option<Family>) -> Result<IpAddr> {
    let failed = |reason: String| Error::Resolve {
        target: target.to_owned(),
        reason,
    };
    let candidates: Vec<IpAddr> = match target.parse::<IpAddr>() {
        Ok(literal) => vec![literal],
        Err(_) => (target, 0)
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
pub fn local_address(target: IpAddr) -> Result<IpAddr> {
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
    fn loopback_routes_from_loopback() {
        assert_eq!(local_address(ip("127.0.0.1")).ok(), Some(ip("127.0.0.1")));
    }
}
