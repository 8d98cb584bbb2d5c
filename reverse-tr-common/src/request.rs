//! The request (§3): an Echo Request with code 1 carrying TTL, Protocol and
//! Flow; decoded and validated by the server (§4.3), encoded by the client
//! (§11.5.1).

use crate::address::Family;
use crate::checksum::Writer;
use crate::constants::{CODE_REVERSE_TRACEROUTE, ECHO_HEADER_LEN, REQUEST_LEN, REQUEST_TTL};
use crate::error::{Error, Result, read, read_u16};
use crate::ip::{IP_HEADER_MAX_LEN, IpHeader};
use crate::probe::{Probe, ProbeProtocol};
use crate::response::State;

/// Most zero padding a request may carry (its ICMP message stays within
/// [`crate::checksum::MAX_SUMMED`] octets).
pub const REQUEST_MAX_PADDING: usize = REQUEST_MESSAGE_MAX_LEN - REQUEST_LEN;
/// Largest request ICMP message.
pub const REQUEST_MESSAGE_MAX_LEN: usize = crate::checksum::MAX_SUMMED;
/// Largest request packet.
pub const REQUEST_MAX_LEN: usize = IP_HEADER_MAX_LEN + REQUEST_MESSAGE_MAX_LEN;
/// Padding that makes a request as large as a success response (§3.7).
pub const REQUEST_DEFAULT_PADDING: usize = 24;

/// The request header at ICMP offset 8 (§3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    /// TTL / hop limit of the probe; 0 is invalid.
    pub ttl: u8,
    /// Probe protocol: 0, the family's ICMP, 17 or 6.
    pub protocol: u8,
    /// Flow, copied verbatim into the probe; 0 lets the server choose.
    pub flow: u16,
}

/// A request: the echo identifier and sequence plus the request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Echo identifier (wire octets `identifier.to_be_bytes()`).
    pub identifier: u16,
    /// Echo sequence; ignored by servers, 0 from clients.
    pub sequence: u16,
    pub header: RequestHeader,
}

impl Request {
    /// Decodes a request from an ICMP(v6) message: Echo Request with code 1
    /// and at least 12 octets. Octets after offset 12 are ignored (§3.5).
    #[inline(always)]
    pub fn decode(family: Family, icmp: &[u8]) -> Result<Self> {
        let [icmp_type, code] = read::<2>(icmp, 0)?;
        if icmp_type != family.echo_request() || code != CODE_REVERSE_TRACEROUTE {
            return Err(Error::NotRequest { icmp_type, code });
        }
        let [ttl, protocol] = read::<2>(icmp, ECHO_HEADER_LEN)?;
        Ok(Self {
            identifier: read_u16(icmp, 4)?,
            sequence: read_u16(icmp, 6)?,
            header: RequestHeader {
                ttl,
                protocol,
                flow: read_u16(icmp, ECHO_HEADER_LEN + 2)?,
            },
        })
    }

    /// Validates the request as the server does (§4.3): TTL 0 → state 1,
    /// unsupported protocol → state 2; otherwise the probe protocol.
    #[inline(always)]
    pub fn validate(&self, family: Family) -> Result<ProbeProtocol, State> {
        if self.header.ttl == 0 {
            return Err(State::InvalidTtl);
        }
        ProbeProtocol::from_request(family, self.header.protocol).ok_or(State::InvalidProtocol)
    }

    /// The probe this request asks for, carrying its own identifier (REF-1)
    /// and the given random octets, or the error state to respond with.
    #[inline(always)]
    pub fn probe(&self, family: Family, random: [u8; 6]) -> Result<Probe, State> {
        let protocol = self.validate(family)?;
        Ok(Probe {
            protocol,
            ttl: self.header.ttl,
            flow: self.header.flow,
            identifier: self.identifier,
            random,
        })
    }

    /// Writes the ICMP message with `padding` zero octets (§3.7) and a valid
    /// checksum (IPv6: over the pseudo-header of `ip`); returns its length.
    pub fn write_message(
        &self,
        ip: &IpHeader,
        padding: usize,
        out: &mut [u8; REQUEST_MESSAGE_MAX_LEN],
    ) -> Result<usize> {
        if padding > REQUEST_MAX_PADDING {
            return Err(Error::PaddingTooLong(padding));
        }
        let family = ip.family();
        let len = REQUEST_LEN + padding;
        // len <= MAX_SUMMED, checked above.
        let pseudo = ip.pseudo_header_sum(family.icmp_protocol(), len as u16);
        // The padding is the zeros the writer starts with.
        let mut message = Writer::new(out, pseudo);
        message.octets(0, family.echo_request(), CODE_REVERSE_TRACEROUTE);
        message.u16(4, self.identifier);
        message.u16(6, self.sequence);
        message.octets(8, self.header.ttl, self.header.protocol);
        message.u16(10, self.header.flow);
        message.seal(2);
        Ok(len)
    }

    /// Writes the whole request packet (IP header from `ip`, TTL 64) and
    /// returns its length.
    pub fn build(
        &self,
        ip: &IpHeader,
        padding: usize,
        out: &mut [u8; REQUEST_MAX_LEN],
    ) -> Result<usize> {
        let message = ip.message_area(out).ok_or(Error::BufferTooSmall {
            need: ip.header_len() + REQUEST_MESSAGE_MAX_LEN,
            have: REQUEST_MAX_LEN,
        })?;
        let len = self.write_message(ip, padding, message)?;
        Ok(ip.finish(out, ip.family().icmp_protocol(), REQUEST_TTL, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(ttl: u8, protocol: u8) -> Request {
        Request {
            identifier: 7,
            sequence: 0,
            header: RequestHeader {
                ttl,
                protocol,
                flow: 0,
            },
        }
    }

    #[test]
    fn validation_outcomes() {
        use ProbeProtocol::{Icmp, Tcp, Udp};
        // (family, ttl, protocol, outcome) — §4.3 steps 4–6.
        let cases = [
            (Family::V4, 0, 17, Err(State::InvalidTtl)),
            (Family::V4, 0, 99, Err(State::InvalidTtl)),
            (Family::V4, 1, 0, Ok(Icmp)),
            (Family::V4, 1, 1, Ok(Icmp)),
            (Family::V4, 1, 58, Err(State::InvalidProtocol)),
            (Family::V4, 1, 17, Ok(Udp)),
            (Family::V4, 255, 6, Ok(Tcp)),
            (Family::V4, 1, 99, Err(State::InvalidProtocol)),
            (Family::V6, 1, 0, Ok(Icmp)),
            (Family::V6, 1, 58, Ok(Icmp)),
            (Family::V6, 1, 1, Err(State::InvalidProtocol)),
            (Family::V6, 1, 17, Ok(Udp)),
            (Family::V6, 1, 6, Ok(Tcp)),
        ];
        for (family, ttl, protocol, outcome) in cases {
            assert_eq!(
                request(ttl, protocol).validate(family),
                outcome,
                "{family:?} ttl {ttl} protocol {protocol}"
            );
        }
    }

    #[test]
    fn probe_takes_request_fields() {
        let request = Request {
            identifier: 0x0102,
            sequence: 9,
            header: RequestHeader {
                ttl: 5,
                protocol: 0,
                flow: 0x3039,
            },
        };
        let probe = request
            .probe(Family::V6, [1, 2, 3, 4, 5, 6])
            .expect("valid");
        assert_eq!(
            probe,
            Probe {
                protocol: ProbeProtocol::Icmp,
                ttl: 5,
                flow: 0x3039,
                identifier: 0x0102,
                random: [1, 2, 3, 4, 5, 6]
            }
        );
    }

    #[test]
    fn decode_refuses_non_requests() {
        let ping = [8, 0, 0, 0, 0, 1, 0, 0, 5, 17, 0, 0];
        assert_eq!(
            Request::decode(Family::V4, &ping),
            Err(Error::NotRequest {
                icmp_type: 8,
                code: 0
            })
        );
        let v6_request_on_v4 = [128, 1, 0, 0, 0, 1, 0, 0, 5, 17, 0, 0];
        assert_eq!(
            Request::decode(Family::V4, &v6_request_on_v4),
            Err(Error::NotRequest {
                icmp_type: 128,
                code: 1
            })
        );
        // §3.5: fewer than 4 octets after the echo header.
        let short = [8, 1, 0, 0, 0, 1, 0, 0, 5, 17];
        assert_eq!(
            Request::decode(Family::V4, &short),
            Err(Error::Truncated { need: 12, have: 10 })
        );
    }

    #[test]
    fn padding_is_bounded() {
        let ip = IpHeader::V4(crate::ip::Ipv4Header {
            source: core::net::Ipv4Addr::LOCALHOST,
            destination: core::net::Ipv4Addr::LOCALHOST,
            tos: 0,
            identification: 1,
            flags_fragment: 0,
        });
        let mut out = [0; REQUEST_MESSAGE_MAX_LEN];
        let request = request(1, 17);
        assert_eq!(
            request.write_message(&ip, REQUEST_MAX_PADDING, &mut out),
            Ok(REQUEST_MESSAGE_MAX_LEN)
        );
        assert_eq!(
            request.write_message(&ip, REQUEST_MAX_PADDING + 1, &mut out),
            Err(Error::PaddingTooLong(REQUEST_MAX_PADDING + 1))
        );
    }
}
