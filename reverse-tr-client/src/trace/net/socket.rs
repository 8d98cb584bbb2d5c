//! Raw IP sockets, asynchronous through tokio.
//!
//! A raw socket is a datagram socket to the kernel: `sendto`/`recvfrom` on
//! it are exactly what `tokio::net::UdpSocket` calls, so that type serves as
//! the async wrapper and no `unsafe` is needed (the port of an address is
//! ignored by IPv4 raw sockets and must be 0 for IPv6 ones).

use std::{
    io::ErrorKind,
    net::{IpAddr, SocketAddr},
    ops::Range,
};

use reverse_tr_common::{Family, constants::IPV4_HEADER_LEN};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::UdpSocket;

use crate::{trace::Result, trace::TraceError};

/// IANA protocol number of the IPv4 "raw" protocol: we write the IP header.
const IPPROTO_RAW: u8 = 255;

/// One raw socket of one family.
#[derive(Debug)]
pub struct RawSocket {
    socket: UdpSocket,
    family: Family,
    protocol: u8,
}

/// A received packet: who sent it, and its IP payload (the IPv4 header
/// that raw IPv4 sockets deliver is cut off; IPv6 ones never deliver it).
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub source: IpAddr,
    /// IP protocol of the socket it arrived on, hence of the payload.
    pub protocol: u8,
    pub payload: &'a [u8],
}

impl RawSocket {
    /// A socket receiving (and sending) packets of IP `protocol`.
    pub fn open(family: Family, protocol: u8) -> Result<Self> {
        Self::new(family, protocol)
    }

    /// An IPv4 socket sending whole packets, IP header included, so probes
    /// and requests carry exactly the TTL, ID and flags we choose.
    pub fn open_header_included() -> Result<Self> {
        Self::new(Family::V4, IPPROTO_RAW)
    }

    fn new(family: Family, protocol: u8) -> Result<Self> {
        let domain = match family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        let socket = Socket::new(domain, Type::RAW, Some(Protocol::from(i32::from(protocol))))
            .map_err(|error| {
                if matches!(error.kind(), ErrorKind::PermissionDenied) {
                    TraceError::NoPrivilege
                } else {
                    error.into()
                }
            })?;
        socket.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(std::net::UdpSocket::from(socket))?;
        Ok(Self {
            socket,
            family,
            protocol,
        })
    }

    /// The family of the socket.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Sets the hop limit of the packets sent next (IPv6: the kernel writes
    /// the header). Sends of one socket are serialised by its prober.
    pub fn set_hop_limit(&self, ttl: u8) -> Result<()> {
        let socket = SockRef::from(&self.socket);
        match self.family {
            Family::V4 => socket.set_ttl_v4(u32::from(ttl))?,
            Family::V6 => socket.set_unicast_hops_v6(u32::from(ttl))?,
        }
        Ok(())
    }

    /// Sends one packet to `destination`.
    pub async fn send_to(&self, packet: &[u8], destination: IpAddr) -> Result<()> {
        let sent = self
            .socket
            .send_to(packet, SocketAddr::new(destination, 0))
            .await;
        sent.map(drop).map_err(|source| TraceError::Send {
            destination,
            source,
        })
    }

    /// Waits for the next packet.
    pub async fn receive<'a>(&self, buffer: &'a mut [u8]) -> Result<Received<'a>> {
        let (source, payload) = loop {
            let (len, from) = self.socket.recv_from(buffer).await?;
            let packet = buffer.get(..len).unwrap_or_default();
            let payload = match self.family {
                Family::V6 => Some(0..len),
                Family::V4 => ipv4_payload(packet),
            };
            if let Some(payload) = payload {
                break (from.ip(), payload);
            }
        };
        Ok(Received {
            source,
            protocol: self.protocol,
            payload: buffer.get(payload).unwrap_or_default(),
        })
    }
}

/// Where the payload of an IPv4 packet lies, bounded by its header and
/// total length.
fn ipv4_payload(packet: &[u8]) -> Option<Range<usize>> {
    let header_len = usize::from(packet.first()? & 0x0F) * 4;
    let total = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
    if header_len < IPV4_HEADER_LEN || header_len > packet.len() {
        return None;
    }
    // Never trust the total length beyond what was received.
    Some(header_len..total.clamp(header_len, packet.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_payload_respects_header_and_total_length() {
        let mut packet = vec![0x46, 0, 0, 30];
        packet.resize(24, 0);
        packet.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            ipv4_payload(&packet),
            Some(24..30),
            "IHL 6, total 30, Ethernet-like padding"
        );
        assert_eq!(ipv4_payload(&[0x44, 0, 0, 20]), None, "IHL below 5");
        assert_eq!(ipv4_payload(&[0x45]), None, "truncated");
    }
}
