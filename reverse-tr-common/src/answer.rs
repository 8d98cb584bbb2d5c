//! Matching answers to probes (§6): recover the session address and the
//! identifier from an ICMP error quoting a probe or from a direct answer.
//!
//! Besides the session key the match reports what the answer says about the
//! probe — its flow field and, for quoted answers, its source — so that a
//! server can check them.

use core::net::IpAddr;

use crate::address::{Family, address_at};
use crate::constants::{
    CODE_TTL_EXCEEDED, IPV6_HEADER_LEN, PROBE_ICMP_SEQUENCE, PROBE_RANDOM_LEN, PROBE_SOURCE_PORT,
    PROTOCOL_TCP, PROTOCOL_UDP,
};
use crate::error::{read, read_u8, read_u16, read_u32};
use crate::packet::{icmp, ipv4, ipv6, tcp, udp};
use crate::probe::{ProbeProtocol, answers_syn, identifier_from_sequence};

/// A probe recognised in an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeMatch {
    /// Address the probe was sent to: the session address.
    pub session: IpAddr,
    /// Identifier the probe carried.
    pub identifier: u16,
    pub protocol: ProbeProtocol,
    /// The probe's flow field (ICMP checksum field, UDP/TCP destination
    /// port), where the answer shows it.
    pub flow: Option<u16>,
    /// The probe's source address, where the answer quotes it.
    pub source: Option<IpAddr>,
    /// What the answer shows of the probe's random octets.
    pub proof: Proof,
}

/// What an answer shows of the random octets the server put into its
/// probe (§5.5) and kept in the session: only an answer that echoes them
/// can have seen the probe, so a server matches nothing else.
///
/// Every answer shows them except an ICMP error whose quote ends within
/// the first 8 transport octets of an ICMP or UDP probe (RFC 792 lets
/// IPv4 routers quote no more; RFC 4443 routers and Linux quote the whole
/// probe): such an answer is [`Proof::Absent`] and can only be checked by
/// its session key, flow and quoted source, which an off-path forger who
/// guesses the identifier (16 bits) can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// The six payload octets of an ICMP or UDP probe, echoed by an Echo
    /// Reply or quoted by an ICMP error.
    Payload([u8; 6]),
    /// The high half of a TCP probe's sequence number, which holds the
    /// first two random octets ([`crate::probe::tcp_sequence`]): quoted,
    /// or acknowledged (`ack − 1`).
    Sequence([u8; 2]),
    /// Nothing: a quote too short.
    Absent,
}

impl Proof {
    /// Whether the proof shows `random`; an absent one shows nothing false.
    #[inline(always)]
    pub fn holds(&self, random: &[u8; 6]) -> bool {
        match self {
            Self::Payload(payload) => payload == random,
            Self::Sequence([high, low]) => *high == random[0] && *low == random[1],
            Self::Absent => true,
        }
    }
}

/// Offset of the random octets in an ICMP or UDP probe's transport part
/// (§5.2, §5.3): right after either 8-octet header.
const RANDOM_AT: usize = icmp::field::BODY;
const _: () = assert!(RANDOM_AT == udp::field::PAYLOAD);

/// True for the ICMP errors whose quote is matched (§6.2): Time Exceeded
/// code 0 and Destination Unreachable with any code.
#[inline(always)]
pub fn is_quoting_error(family: Family, icmp_type: u8, code: u8) -> bool {
    (icmp_type == family.time_exceeded() && code == CODE_TTL_EXCEEDED)
        || icmp_type == family.destination_unreachable()
}

/// True for an ICMP type and code that can answer a probe: a quoting error
/// (§6.2) or an Echo Reply with code 0 (§6.3). A server can pass anything
/// else after looking at two octets.
#[inline(always)]
pub fn is_icmp_answer(family: Family, icmp_type: u8, code: u8) -> bool {
    is_quoting_error(family, icmp_type, code) || (icmp_type == family.echo_reply() && code == 0)
}

/// True for a TCP segment that can answer a probe (§6.3, REF-1 rule): to
/// the probe source port, with RST or with SYN and ACK.
#[inline(always)]
pub fn is_tcp_answer(destination_port: u16, flags: u8) -> bool {
    destination_port == PROBE_SOURCE_PORT && answers_syn(flags)
}

/// The packet an ICMP error quotes: its addresses, protocol and transport octets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quote<'a> {
    pub(crate) source: IpAddr,
    pub(crate) destination: IpAddr,
    pub(crate) protocol: u8,
    pub(crate) transport: &'a [u8],
}

impl<'a> Quote<'a> {
    /// Parses the quoted IP header (v4: length from IHL; v6: 40 octets).
    #[inline(always)]
    pub(crate) fn parse(family: Family, quote: &'a [u8]) -> Option<Self> {
        let first = read_u8(quote, 0).ok()?;
        let (header_len, protocol_at, source_at, destination_at) = match family {
            Family::V4 if first >> 4 == 4 && first & 0x0F >= 5 => (
                usize::from(first & 0x0F) * 4,
                ipv4::field::PROTOCOL,
                ipv4::field::SOURCE.start,
                ipv4::field::DESTINATION.start,
            ),
            Family::V6 if first >> 4 == 6 => (
                IPV6_HEADER_LEN,
                ipv6::field::NEXT_HEADER,
                ipv6::field::SOURCE.start,
                ipv6::field::DESTINATION.start,
            ),
            _ => return None,
        };
        Some(Self {
            source: address_at(family, quote, source_at).ok()?,
            destination: address_at(family, quote, destination_at).ok()?,
            protocol: read_u8(quote, protocol_at).ok()?,
            transport: quote.get(header_len..)?,
        })
    }

    /// For a quoted Echo Request with code 0: (checksum field, identifier, sequence).
    #[inline(always)]
    pub(crate) fn echo_request(&self, family: Family) -> Option<(u16, u16, u16)> {
        let [icmp_type, code] = read::<2>(self.transport, icmp::field::TYPE).ok()?;
        if self.protocol != family.icmp_protocol()
            || icmp_type != family.echo_request()
            || code != 0
        {
            return None;
        }
        Some((
            read_u16(self.transport, icmp::field::CHECKSUM.start).ok()?,
            read_u16(self.transport, icmp::field::IDENTIFIER.start).ok()?,
            read_u16(self.transport, icmp::field::SEQUENCE.start).ok()?,
        ))
    }
}

/// Matches the packet an ICMP error quotes (the octets after its 8-octet
/// header: the probe's IP header and at least 8 transport octets, §6.2).
#[inline(always)]
pub fn match_quoted(family: Family, quote: &[u8]) -> Option<ProbeMatch> {
    let quote = Quote::parse(family, quote)?;
    let transport = quote.transport;
    let payload = match read::<PROBE_RANDOM_LEN>(transport, RANDOM_AT) {
        Ok(random) => Proof::Payload(random),
        Err(_) => Proof::Absent,
    };
    let (protocol, identifier, flow, proof) = match quote.protocol {
        PROTOCOL_UDP => {
            probe_ports(transport)?;
            (
                ProbeProtocol::Udp,
                // The UDP probe's checksum field carries its identifier (§5.3).
                read_u16(transport, udp::field::CHECKSUM.start).ok()?,
                read_u16(transport, udp::field::DESTINATION_PORT.start).ok()?,
                payload,
            )
        }
        PROTOCOL_TCP => {
            probe_ports(transport)?;
            let sequence = read_u32(transport, tcp::field::SEQUENCE.start).ok()?;
            (
                ProbeProtocol::Tcp,
                identifier_from_sequence(sequence),
                read_u16(transport, tcp::field::DESTINATION_PORT.start).ok()?,
                sequence_proof(sequence),
            )
        }
        _ => {
            let (flow, identifier, sequence) = quote.echo_request(family)?;
            if sequence != PROBE_ICMP_SEQUENCE {
                return None;
            }
            (ProbeProtocol::Icmp, identifier, flow, payload)
        }
    };
    Some(ProbeMatch {
        session: quote.destination,
        identifier,
        protocol,
        flow: Some(flow),
        source: Some(quote.source),
        proof,
    })
}

/// The proof a TCP probe's sequence number carries.
#[inline(always)]
fn sequence_proof(sequence: u32) -> Proof {
    let [high, low, ..] = sequence.to_be_bytes();
    Proof::Sequence([high, low])
}

/// `Some` if the UDP/TCP header starts with the probe source port.
#[inline(always)]
fn probe_ports(transport: &[u8]) -> Option<()> {
    // UDP and TCP both begin with the source port.
    const _: () = assert!(udp::field::SOURCE_PORT.start == tcp::field::SOURCE_PORT.start);
    (read_u16(transport, udp::field::SOURCE_PORT.start).ok()? == PROBE_SOURCE_PORT).then_some(())
}

/// Matches a direct ICMP answer (§6.3): an Echo Reply with code 0 and
/// sequence 0xFFFF from `source`, the session address, echoing the probe's
/// payload (a reply without it echoes nothing of ours); `message` starts at
/// its ICMP header.
#[inline(always)]
pub fn match_echo_reply(family: Family, source: IpAddr, message: &[u8]) -> Option<ProbeMatch> {
    let [icmp_type, code] = read::<2>(message, icmp::field::TYPE).ok()?;
    let sequence = read_u16(message, icmp::field::SEQUENCE.start).ok()?;
    if icmp_type != family.echo_reply() || code != 0 || sequence != PROBE_ICMP_SEQUENCE {
        return None;
    }
    Some(ProbeMatch {
        session: source,
        identifier: read_u16(message, icmp::field::IDENTIFIER.start).ok()?,
        protocol: ProbeProtocol::Icmp,
        flow: None,
        source: None,
        proof: Proof::Payload(read(message, RANDOM_AT).ok()?),
    })
}

/// Matches a direct TCP answer (§6.3, REF-1 rule): to port 1021 with RST,
/// or with SYN and ACK; the probe's whole sequence number is `ack − 1`
/// (its identifier in the low half, its proof in the high half); `segment`
/// starts at its TCP header.
#[inline(always)]
pub fn match_tcp(source: IpAddr, segment: &[u8]) -> Option<ProbeMatch> {
    if !is_tcp_answer(
        read_u16(segment, tcp::field::DESTINATION_PORT.start).ok()?,
        read_u8(segment, tcp::field::FLAGS).ok()?,
    ) {
        return None;
    }
    let sequence = read_u32(segment, tcp::field::ACKNOWLEDGEMENT.start)
        .ok()?
        .wrapping_sub(1);
    Some(ProbeMatch {
        session: source,
        identifier: identifier_from_sequence(sequence),
        protocol: ProbeProtocol::Tcp,
        flow: Some(read_u16(segment, tcp::field::SOURCE_PORT.start).ok()?),
        source: None,
        proof: sequence_proof(sequence),
    })
}

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;

    use super::*;

    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 1, 100));

    /// A quoted IPv4 probe header from 10.0.7.200 to the client, then `transport`.
    fn quote(protocol: u8, transport: [u8; 8]) -> [u8; 28] {
        let mut quote = [0u8; 28];
        quote[..20].copy_from_slice(&[
            0x45, 0, 0, 36, 0, 1, 0, 0, 1, protocol, 0, 0, 10, 0, 7, 200, 10, 0, 1, 100,
        ]);
        quote[20..].copy_from_slice(&transport);
        quote
    }

    #[test]
    fn quoted_patterns() {
        // (protocol, quoted transport, identifier if matched) — §6.2.
        let cases = [
            (
                17,
                [0x03, 0xfd, 0x04, 0xd2, 0, 16, 0x01, 0x02],
                Some(0x0102),
            ),
            (17, [0x03, 0xfe, 0x04, 0xd2, 0, 16, 0x01, 0x02], None),
            (6, [0x03, 0xfd, 0, 80, 0, 0, 0x02, 0x01], Some(0x0102)),
            (6, [0x82, 0x9a, 0, 80, 0, 0, 0x02, 0x01], None),
            (1, [8, 0, 0xbe, 0xaf, 0x01, 0x02, 0xff, 0xff], Some(0x0102)),
            (1, [8, 0, 0xbe, 0xaf, 0x01, 0x02, 0x00, 0x01], None),
            (1, [8, 1, 0xbe, 0xaf, 0x01, 0x02, 0xff, 0xff], None),
            (58, [128, 0, 0xbe, 0xaf, 0x01, 0x02, 0xff, 0xff], None),
            (132, [0x03, 0xfd, 0, 80, 0, 0, 0x02, 0x01], None),
        ];
        for (protocol, transport, identifier) in cases {
            let matched = match_quoted(Family::V4, &quote(protocol, transport));
            assert_eq!(
                matched.map(|m| m.identifier),
                identifier,
                "protocol {protocol} {transport:02x?}"
            );
            if let Some(m) = matched {
                assert_eq!(m.session, CLIENT);
                assert_eq!(m.source, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 7, 200))));
            }
        }
        // Cut short of the 8 transport octets: no match, no panic.
        assert_eq!(
            match_quoted(
                Family::V4,
                &quote(17, [0x03, 0xfd, 0, 53, 0, 16, 1, 2])[..27]
            ),
            None
        );
    }

    #[test]
    fn icmp_types_that_quote_or_answer() {
        // (family, type, code, quoting error §6.2, can answer §6.2/§6.3).
        let cases = [
            (Family::V4, 11, 0, true, true),
            (Family::V4, 11, 1, false, false),
            (Family::V4, 3, 3, true, true),
            (Family::V4, 3, 13, true, true),
            (Family::V4, 12, 0, false, false),
            (Family::V4, 0, 0, false, true),
            (Family::V4, 0, 1, false, false),
            (Family::V4, 8, 0, false, false),
            (Family::V4, 5, 0, false, false),
            (Family::V6, 3, 0, true, true),
            (Family::V6, 3, 1, false, false),
            (Family::V6, 1, 4, true, true),
            (Family::V6, 2, 0, false, false),
            (Family::V6, 129, 0, false, true),
            (Family::V6, 129, 1, false, false),
            (Family::V6, 128, 0, false, false),
            (Family::V6, 135, 0, false, false),
        ];
        for (family, icmp_type, code, quoting, answers) in cases {
            assert_eq!(
                (
                    is_quoting_error(family, icmp_type, code),
                    is_icmp_answer(family, icmp_type, code)
                ),
                (quoting, answers),
                "{family:?} type {icmp_type} code {code}"
            );
        }
    }

    #[test]
    fn tcp_direct_answers() {
        // (flags, destination port, identifier if matched) — §6.3, REF-1.
        let cases = [
            (0x14, 1021, Some(0x0102)), // RST+ACK
            (0x04, 1021, Some(0x0102)), // RST
            (0x12, 1021, Some(0x0102)), // SYN+ACK
            (0x02, 1021, None),         // SYN alone
            (0x10, 1021, None),         // ACK alone
            (0x14, 1022, None),
        ];
        for (flags, port, identifier) in cases {
            let mut tcp = [0u8; 20];
            tcp[..2].copy_from_slice(&80u16.to_be_bytes());
            tcp[2..4].copy_from_slice(&u16::to_be_bytes(port));
            // ack = sequence + 1 = 0xaabb_0201 + 1
            tcp[8..12].copy_from_slice(&0xaabb_0202u32.to_be_bytes());
            tcp[12] = 0x50;
            tcp[13] = flags;
            let matched = match_tcp(CLIENT, &tcp);
            assert_eq!(
                matched.map(|m| (m.identifier, m.flow, m.proof)),
                identifier.map(|id| (id, Some(80), Proof::Sequence([0xaa, 0xbb]))),
                "flags {flags:#x}"
            );
        }
    }

    #[test]
    fn echo_reply_needs_probe_sequence_and_payload() {
        let reply = [0, 0, 0, 0, 0x01, 0x02, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 0, 0];
        assert_eq!(
            match_echo_reply(Family::V4, CLIENT, &reply).map(|m| (m.identifier, m.proof)),
            Some((0x0102, Proof::Payload([1, 2, 3, 4, 5, 6])))
        );
        // Without the payload there is nothing to check: no match.
        assert_eq!(match_echo_reply(Family::V4, CLIENT, &reply[..13]), None);
        let mut ping = reply;
        ping[6..8].copy_from_slice(&[0x00, 0x07]);
        assert_eq!(match_echo_reply(Family::V4, CLIENT, &ping), None);
        let mut response = reply;
        response[1] = 1;
        assert_eq!(match_echo_reply(Family::V4, CLIENT, &response), None);
    }

    #[test]
    fn proofs_hold_only_for_the_probes_random_octets() {
        let random = [1, 2, 3, 4, 5, 6];
        assert!(Proof::Payload(random).holds(&random));
        assert!(!Proof::Payload([1, 2, 3, 4, 5, 7]).holds(&random));
        assert!(Proof::Sequence([1, 2]).holds(&random));
        assert!(!Proof::Sequence([1, 3]).holds(&random));
        assert!(Proof::Absent.holds(&random));
        // A quote of a UDP probe with its payload shows it; of 8 octets, nothing.
        let long = [
            &quote(17, [0x03, 0xfd, 0, 53, 0, 16, 1, 2])[..],
            &random[..],
        ]
        .concat();
        assert_eq!(
            match_quoted(Family::V4, &long).map(|m| m.proof),
            Some(Proof::Payload(random))
        );
        let short = quote(17, [0x03, 0xfd, 0, 53, 0, 16, 1, 2]);
        assert_eq!(
            match_quoted(Family::V4, &short).map(|m| m.proof),
            Some(Proof::Absent)
        );
        // A quoted TCP probe always shows its sequence number's high half.
        let tcp = quote(6, [0x03, 0xfd, 0, 80, 0xaa, 0xbb, 0x02, 0x01]);
        assert_eq!(
            match_quoted(Family::V4, &tcp).map(|m| (m.identifier, m.proof)),
            Some((0x0102, Proof::Sequence([0xaa, 0xbb])))
        );
    }
}
