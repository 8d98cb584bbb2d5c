//! The response (§7): an Echo Reply with code 1 carrying a state and, on
//! success, the hop address and the server-measured time span.

use core::net::IpAddr;

use crate::address::{Family, from_mapped, to_mapped};
use crate::checksum::Writer;
use crate::constants::{
    CODE_REVERSE_TRACEROUTE, ECHO_HEADER_LEN, RESPONSE_ERROR_LEN, RESPONSE_HEADER_LEN,
    RESPONSE_SUCCESS_LEN, RESPONSE_TTL,
};
use crate::error::{Error, Result, read, read_u16};
use crate::ip::{IP_HEADER_MAX_LEN, IpHeader};

/// Largest response packet (IPv6 success, §7.7).
pub const RESPONSE_MAX_LEN: usize = IP_HEADER_MAX_LEN + RESPONSE_SUCCESS_LEN;

/// Offset of the hop address in a success response.
const HOP_AT: usize = ECHO_HEADER_LEN + RESPONSE_HEADER_LEN;
/// Offset of the time span field.
const SPAN_AT: usize = HOP_AT + 16;

/// Response state codes with the server meanings of §7.3 (normative; the
/// reference client mislabels 2 and 3, Q-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum State {
    /// Success; hop address and time span follow.
    Success = 0,
    /// The request's TTL was 0.
    InvalidTtl = 1,
    /// The request's protocol is not supported.
    InvalidProtocol = 2,
    /// Invalid flow; defined, never sent.
    InvalidFlow = 3,
    /// Extension not supported or not permitted (REF-2).
    ExtensionRefused = 4,
}

impl TryFrom<u8> for State {
    type Error = Error;

    #[inline(always)]
    fn try_from(code: u8) -> Result<Self> {
        match code {
            0 => Ok(Self::Success),
            1 => Ok(Self::InvalidTtl),
            2 => Ok(Self::InvalidProtocol),
            3 => Ok(Self::InvalidFlow),
            4 => Ok(Self::ExtensionRefused),
            other => Err(Error::UnknownState(other)),
        }
    }
}

#[cfg(feature = "std")]
impl core::fmt::Display for State {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Success => "success",
            Self::InvalidTtl => "invalid TTL",
            Self::InvalidProtocol => "invalid protocol",
            Self::InvalidFlow => "invalid flow",
            Self::ExtensionRefused => "extension not supported",
        })
    }
}

/// What a response reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// State 0: the hop that answered the probe and the server→hop→server
    /// time in nanoseconds (sent modulo 2^32, §7.5).
    Hop { address: IpAddr, span_ns: u64 },
    /// A non-zero state; `reserved` is octets 10–11 (REF-2 state 4: class, c-type).
    Refused { state: State, reserved: [u8; 2] },
}

/// A response message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// The request's identifier.
    pub identifier: u16,
    /// Echo sequence; servers send 0.
    pub sequence: u16,
    pub outcome: Outcome,
}

impl Response {
    /// Writes the ICMP message (36 octets for a hop, 12 for a refusal) with
    /// a valid checksum (IPv6: over the pseudo-header of `ip`); returns its length.
    #[inline(always)]
    pub fn write_message(&self, ip: &IpHeader, out: &mut [u8; RESPONSE_SUCCESS_LEN]) -> usize {
        let family = ip.family();
        let len = match self.outcome {
            Outcome::Hop { .. } => RESPONSE_SUCCESS_LEN,
            Outcome::Refused { .. } => RESPONSE_ERROR_LEN,
        };
        // Both lengths are small constants.
        let pseudo = ip.pseudo_header_sum(family.icmp_protocol(), len as u16);
        let mut message = Writer::new(out, pseudo);
        message.octets(0, family.echo_reply(), CODE_REVERSE_TRACEROUTE);
        message.u16(4, self.identifier);
        message.u16(6, self.sequence);
        match self.outcome {
            Outcome::Hop { address, span_ns } => {
                message.u128(HOP_AT, u128::from_be_bytes(to_mapped(address)));
                // §7.5 quirk: low 32 bits big-endian, then four zero octets.
                message.u32(SPAN_AT, (span_ns & 0xFFFF_FFFF) as u32);
            }
            Outcome::Refused {
                state,
                reserved: [class, c_type],
            } => {
                message.octets(8, state as u8, 0);
                message.octets(10, class, c_type);
            }
        }
        message.seal(2);
        len
    }

    /// Writes the whole response packet (§7.6: IP header from `ip`, TTL 64)
    /// and returns its length (§7.7).
    #[inline(always)]
    pub fn build(&self, ip: &IpHeader, out: &mut [u8; RESPONSE_MAX_LEN]) -> usize {
        let Some(message) = ip.message_area(out) else {
            return 0;
        };
        let len = self.write_message(ip, message);
        ip.finish(out, ip.family().icmp_protocol(), RESPONSE_TTL, len)
    }

    /// Decodes a response from an ICMP(v6) message (client rules §7.5,
    /// §11.5.3–§11.5.4): Echo Reply code 1 only; a success shorter than 36
    /// octets is a host echoing the request ([`Error::NotServer`]); unknown
    /// states are errors.
    pub fn decode(family: Family, icmp: &[u8]) -> Result<Self> {
        let [icmp_type, code] = read::<2>(icmp, 0)?;
        if icmp_type != family.echo_reply() || code != CODE_REVERSE_TRACEROUTE {
            return Err(Error::NotResponse { icmp_type, code });
        }
        let [state, _message_len, reserved @ ..] =
            read::<RESPONSE_HEADER_LEN>(icmp, ECHO_HEADER_LEN)?;
        let outcome = match State::try_from(state)? {
            State::Success => {
                if icmp.len() < RESPONSE_SUCCESS_LEN {
                    return Err(Error::NotServer { length: icmp.len() });
                }
                Outcome::Hop {
                    address: from_mapped(family, read::<16>(icmp, HOP_AT)?)?,
                    span_ns: decode_span(read::<8>(icmp, SPAN_AT)?),
                }
            }
            state => Outcome::Refused { state, reserved },
        };
        Ok(Self {
            identifier: read_u16(icmp, 4)?,
            sequence: read_u16(icmp, 6)?,
            outcome,
        })
    }
}

/// The optional error text of a response (ErrMsgLen octets after octet 12,
/// cut to what is present); empty when there is none.
pub fn error_message(icmp: &[u8]) -> &[u8] {
    let len = icmp.get(9).map_or(0, |len| usize::from(*len));
    let end = icmp.len().min(RESPONSE_ERROR_LEN + len);
    icmp.get(RESPONSE_ERROR_LEN..end).unwrap_or_default()
}

/// Robust time-span decoding (§7.5): a corrected server's 64-bit value if
/// octets 0..4 are zero and 4..8 are not, else the reference's 32 bits.
#[inline(always)]
fn decode_span(field: [u8; 8]) -> u64 {
    let [a, b, c, d, rest @ ..] = field;
    let high = u32::from_be_bytes([a, b, c, d]);
    if high == 0 && rest != [0; 4] {
        u64::from_be_bytes(field)
    } else {
        u64::from(high)
    }
}

#[cfg(test)]
mod tests {
    use core::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    /// A v4 success response message with the given span field.
    fn success(span: [u8; 8]) -> [u8; 36] {
        let mut icmp = [0u8; 36];
        icmp[1] = 1;
        icmp[4..6].copy_from_slice(&[0, 7]);
        icmp[22..24].copy_from_slice(&[0xff, 0xff]);
        icmp[24..28].copy_from_slice(&[10, 255, 0, 4]);
        icmp[28..36].copy_from_slice(&span);
        icmp
    }

    #[test]
    fn span_decoding_is_robust() {
        // (field, nanoseconds) — §7.5: reference layout, corrected 64-bit layout.
        let cases = [
            ([0, 0x12, 0xd6, 0x87, 0, 0, 0, 0], 1_234_567),
            ([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], 0xFFFF_FFFF),
            ([0, 0, 0, 0, 0, 0, 0, 0], 0),
            ([0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78], 0x1234_5678),
            ([0, 0, 0, 1, 0, 0, 0, 1], 1),
        ];
        for (field, span_ns) in cases {
            let response = Response::decode(Family::V4, &success(field)).expect("decodes");
            let hop = IpAddr::V4(Ipv4Addr::new(10, 255, 0, 4));
            assert_eq!(
                response.outcome,
                Outcome::Hop {
                    address: hop,
                    span_ns
                },
                "{field:?}"
            );
        }
    }

    #[test]
    fn decode_refusals() {
        let icmp = success([0; 8]);
        // (message, family, error)
        let code_zero = {
            let mut m = icmp;
            m[1] = 0;
            m
        };
        let unknown_state = {
            let mut m = icmp;
            m[8] = 5;
            m
        };
        let unmapped = {
            let mut m = icmp;
            m[22] = 0;
            m
        };
        let cases: [(&[u8], Family, Error); 5] = [
            (
                &code_zero,
                Family::V4,
                Error::NotResponse {
                    icmp_type: 0,
                    code: 0,
                },
            ),
            (
                &icmp,
                Family::V6,
                Error::NotResponse {
                    icmp_type: 0,
                    code: 1,
                },
            ),
            // §11.5.3: a host echoing a TTL-0 request: state 0, 4 octets.
            (&icmp[..12], Family::V4, Error::NotServer { length: 12 }),
            (&unknown_state, Family::V4, Error::UnknownState(5)),
            (&unmapped, Family::V4, Error::NotMapped),
        ];
        for (message, family, error) in cases {
            assert_eq!(Response::decode(family, message), Err(error));
        }
    }

    #[test]
    fn tolerates_error_text() {
        let message = [
            129, 1, 0, 0, 0, 7, 0, 0, 4, 5, 5, 0, b'n', b'o', b' ', b'e', b'x',
        ];
        let response = Response::decode(Family::V6, &message).expect("decodes");
        assert_eq!(
            response.outcome,
            Outcome::Refused {
                state: State::ExtensionRefused,
                reserved: [5, 0]
            }
        );
        assert_eq!(error_message(&message), b"no ex");
        // ErrMsgLen beyond the message is cut to what is present.
        assert_eq!(error_message(&message[..14]), b"no");
        assert_eq!(error_message(&message[..9]), b"");
    }

    #[test]
    fn v6_hop_is_not_unmapped() {
        let mut icmp = success([0; 8]);
        icmp[0] = 129;
        let response = Response::decode(Family::V6, &icmp).expect("decodes");
        let mapped = Ipv6Addr::from(<[u8; 16]>::try_from(&icmp[12..28]).expect("16 octets"));
        assert_eq!(
            response.outcome,
            Outcome::Hop {
                address: IpAddr::V6(mapped),
                span_ns: 0
            }
        );
    }
}
