//! The reverse direction (§11.5, §12.1): tr-requests to the server on
//! TARGET, which probes back towards us and answers with tr-responses.
//! Only requests leave this host.

mod identifier;

use std::{
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use reverse_tr_common::{
    Family, IpHeader, REQUEST_MAX_LEN, Request, RequestHeader, Response,
    constants::{CODE_REVERSE_TRACEROUTE, ICMP_ERROR_HEADER_LEN, IPV6_HEADER_LEN, REQUEST_TTL},
    error::Error as WireError,
    is_quoting_error,
    request::REQUEST_MESSAGE_MAX_LEN,
    response::{self, State},
};

pub(crate) use self::identifier::Identifiers;
use crate::{
    trace::Result,
    trace::TraceError,
    trace::net::{Engine, Pacer, RawSocket, Received, Reply, Wire, ip_header},
    trace::probe::{ErrorState, ProbeSpec},
};

/// Transmissions of the presence check (1 + 3 retries, §11.5.3).
const PRESENCE_ATTEMPTS: usize = 4;

/// How long each presence check but the last waits for its answer: well
/// above a server's answer time, so a lost request or answer costs this
/// rather than a `--timeout`; the last waits the timeout.
const PRESENCE_PATIENCE: Duration = Duration::from_millis(500);

/// Requests of one trace and the recognition of their responses.
#[derive(Debug)]
pub struct ReverseWire {
    ip: IpHeader,
    target: IpAddr,
    /// Probe protocol number asked of the server (never 0, §11.5.1).
    protocol: u8,
    padding: usize,
    socket: Arc<RawSocket>,
    identifiers: Mutex<Identifiers>,
}

impl ReverseWire {
    /// Requests from `local` to the server on `target` asking for probes
    /// of IP `protocol` (the family's ICMP, 17 or 6), with `padding` zero
    /// octets, sent on `socket`.
    pub fn new(
        local: IpAddr,
        target: IpAddr,
        protocol: u8,
        padding: usize,
        socket: Arc<RawSocket>,
    ) -> Self {
        Self {
            ip: ip_header(local, target),
            target,
            protocol,
            padding,
            socket,
            identifiers: Mutex::new(Identifiers::random()),
        }
    }

    fn identifiers(&self) -> std::sync::MutexGuard<'_, Identifiers> {
        // Each critical section is one call on the pool, which keeps it consistent.
        self.identifiers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The request for `probe` with `identifier`, asking for IP `protocol`
/// probes, with `padding` zero octets: for IPv4 the whole packet (the socket
/// takes our header), for IPv6 the ICMPv6 message (the kernel adds it).
pub(crate) fn request_packet(
    ip: &IpHeader,
    protocol: u8,
    padding: usize,
    probe: ProbeSpec,
    identifier: u16,
) -> Result<Vec<u8>> {
    let header = RequestHeader {
        ttl: probe.ttl,
        protocol,
        flow: probe.flow,
    };
    let request = Request {
        identifier,
        sequence: 0,
        header,
    };
    match ip {
        IpHeader::V4(_) => {
            let mut packet = [0u8; REQUEST_MAX_LEN];
            let len = request.build(ip, padding, &mut packet)?;
            Ok(packet.get(..len).unwrap_or_default().to_vec())
        }
        IpHeader::V6(_) => {
            let mut message = [0u8; REQUEST_MESSAGE_MAX_LEN];
            let len = request.write_message(ip, padding, &mut message)?;
            Ok(message.get(..len).unwrap_or_default().to_vec())
        }
    }
}

/// The socket requests go out on: IPv4 whole packets, IPv6 ICMPv6 messages
/// with hop limit 64.
pub(crate) fn request_socket(family: Family) -> Result<RawSocket> {
    match family {
        Family::V4 => RawSocket::open_header_included(),
        Family::V6 => {
            let socket = RawSocket::open(family, family.icmp_protocol())?;
            socket.set_hop_limit(REQUEST_TTL)?;
            Ok(socket)
        }
    }
}

impl Wire for ReverseWire {
    type Key = u16;

    fn next_key(&self) -> Option<u16> {
        self.identifiers().take(Instant::now())
    }

    async fn transmit(&self, probe: ProbeSpec, identifier: u16) -> Result<()> {
        // The presence check (TTL 0) goes unpadded: it causes only an error
        // response no larger than itself, and a host that merely echoes it
        // is recognised by the short echo (§11.5.3).
        let padding = if probe.ttl == 0 { 0 } else { self.padding };
        let packet = request_packet(&self.ip, self.protocol, padding, probe, identifier)?;
        self.socket.send_to(&packet, self.target).await
    }

    fn recognise(&self, packet: &Received<'_>) -> Option<(u16, Reply)> {
        let family = self.ip.family();
        let (identifier, reply) = if packet.source == self.target {
            recognise_response(family, packet.payload)?
        } else {
            let identifier = quoted_request(family, self.target, packet.payload)?;
            (
                identifier,
                Reply::Unreachable {
                    from: packet.source,
                },
            )
        };
        // A reply proves the session gone or never made (§11.5.2); one for an identifier
        // we have not handed out is a stranger's, or a previous run's.
        self.identifiers()
            .reclaim(identifier)
            .then_some((identifier, reply))
    }
}

/// The identifier and meaning of an ICMP message from the server, if it is
/// a response or the echo of a request (§11.5.4, §12.1 item 9).
pub(crate) fn recognise_response(family: Family, icmp: &[u8]) -> Option<(u16, Reply)> {
    let identifier = u16::from_be_bytes([*icmp.get(4)?, *icmp.get(5)?]);
    let reply = match Response::decode(family, icmp) {
        Ok(Response {
            outcome: response::Outcome::Hop { address, span_ns },
            ..
        }) => Reply::Hop {
            hop: address,
            span: Some(Duration::from_nanos(span_ns)),
            flow: None,
        },
        Ok(Response {
            outcome: response::Outcome::Refused { state, .. },
            ..
        }) => Reply::Refused {
            state: ErrorState::Known(state),
        },
        Err(WireError::UnknownState(state)) => Reply::Refused {
            state: ErrorState::Unknown(state),
        },
        Err(WireError::NotServer { .. }) => Reply::NotServer,
        // A plain echo of a request (sequence 0, as our requests carry);
        // forward ICMP probes' replies have non-zero sequences.
        Err(WireError::NotResponse { icmp_type, code })
            if icmp_type == family.echo_reply()
                && code != CODE_REVERSE_TRACEROUTE
                && icmp.get(6..8) == Some(&[0, 0]) =>
        {
            Reply::NotServer
        }
        Err(_) => return None,
    };
    Some((identifier, reply))
}

/// The identifier of our request to `target` that an ICMP error (Time
/// Exceeded, Destination Unreachable) quotes: the request never arrived.
pub(crate) fn quoted_request(family: Family, target: IpAddr, icmp: &[u8]) -> Option<u16> {
    let (icmp_type, code) = (*icmp.first()?, *icmp.get(1)?);
    if !is_quoting_error(family, icmp_type, code) {
        return None;
    }
    let quote = icmp.get(ICMP_ERROR_HEADER_LEN..)?;
    let version = quote.first()? >> 4;
    let (header_len, protocol, destination) = match family {
        Family::V4 if version == 4 => {
            let destination: [u8; 4] = quote.get(16..20)?.try_into().ok()?;
            (
                usize::from(quote.first()? & 0x0F) * 4,
                *quote.get(9)?,
                IpAddr::from(destination),
            )
        }
        Family::V6 if version == 6 => {
            let destination: [u8; 16] = quote.get(24..40)?.try_into().ok()?;
            (IPV6_HEADER_LEN, *quote.get(6)?, IpAddr::from(destination))
        }
        _ => return None,
    };
    let echo = quote.get(header_len..)?;
    let request = protocol == family.icmp_protocol()
        && destination == target
        && echo.first() == Some(&family.echo_request())
        && echo.get(1) == Some(&CODE_REVERSE_TRACEROUTE);
    request
        .then(|| Some(u16::from_be_bytes([*echo.get(4)?, *echo.get(5)?])))
        .flatten()
}

/// The reverse prober: requests out, responses in, on raw ICMP sockets.
pub(crate) type ReverseProber = Engine<ReverseWire>;

/// A prober tracing from the server on `target` back to `local`, asking
/// for probes of IP `protocol`.
pub(crate) fn prober(
    local: IpAddr,
    target: IpAddr,
    protocol: u8,
    padding: usize,
    pacer: Arc<Pacer>,
    timeout: Duration,
) -> Result<ReverseProber> {
    let family = Family::of(target);
    let send = Arc::new(request_socket(family)?);
    let receive = Arc::new(RawSocket::open(family, family.icmp_protocol())?);
    let wire = ReverseWire::new(local, target, protocol, padding, send);
    Ok(Engine::new(wire, vec![receive], pacer, timeout))
}

/// The presence check (§11.5.3): a TTL-0 request, sent up to four times,
/// must be refused with state 1 (or answered) by a server. The first three
/// wait [`PRESENCE_PATIENCE`] each, the last `--timeout`.
pub(crate) async fn check_presence(prober: &ReverseProber) -> Result<()> {
    let target = prober.wire().target;
    for attempt in 1..=PRESENCE_ATTEMPTS {
        log::debug!("presence check {attempt} of {PRESENCE_ATTEMPTS}");
        let patience = (attempt < PRESENCE_ATTEMPTS).then_some(PRESENCE_PATIENCE);
        if let Some((reply, _)) = prober
            .exchange(ProbeSpec { ttl: 0, flow: 0 }, patience)
            .await?
        {
            return presence(reply, target);
        }
    }
    Err(TraceError::NoAnswer { target })
}

/// What the reply to the presence check says about `target`.
pub(crate) fn presence(reply: Reply, target: IpAddr) -> Result<()> {
    match reply {
        Reply::Refused {
            state: ErrorState::Known(State::InvalidTtl),
        }
        | Reply::Hop { .. } => Ok(()),
        Reply::Refused { state } => Err(TraceError::Refused { state }),
        Reply::NotServer => Err(TraceError::NoServer { target }),
        Reply::Unreachable { from } => Err(TraceError::Unreachable { target, from }),
    }
}

#[cfg(test)]
mod tests {
    use reverse_tr_common::{State, response::Outcome as WireOutcome};

    use super::*;

    fn addresses(family: Family) -> (IpAddr, IpAddr, IpAddr) {
        let parse = |text: &str| text.parse::<IpAddr>().expect("test address");
        match family {
            Family::V4 => (
                parse("10.0.1.100"),
                parse("10.0.7.200"),
                parse("10.255.0.4"),
            ),
            Family::V6 => (
                parse("fd00:0:1::100"),
                parse("fd00:0:7::200"),
                parse("fd00:255::4"),
            ),
        }
    }

    /// A response message as a server would send it to `client`.
    fn response(family: Family, identifier: u16, outcome: WireOutcome) -> Vec<u8> {
        let (client, server, _) = addresses(family);
        let mut message = [0u8; reverse_tr_common::constants::RESPONSE_SUCCESS_LEN];
        let len = Response {
            identifier,
            sequence: 0,
            outcome,
        }
        .write_message(&ip_header(server, client), &mut message);
        message[..len].to_vec()
    }

    /// What a host without a server sends back: the request echoed, with
    /// the reply type and the given code (Linux keeps code 1).
    fn echo_of_request(family: Family, identifier: u16, code: u8) -> Vec<u8> {
        let (client, server, _) = addresses(family);
        let request = Request {
            identifier,
            sequence: 0,
            header: RequestHeader {
                ttl: 0,
                protocol: 17,
                flow: 0,
            },
        };
        let mut message = [0u8; REQUEST_MESSAGE_MAX_LEN];
        let len = request
            .write_message(&ip_header(client, server), 0, &mut message)
            .expect("no padding");
        message[0] = family.echo_reply();
        message[1] = code;
        message[..len].to_vec()
    }

    /// What the presence check concluded: Ok, or the kind of its error.
    type Verdict = Result<(), &'static str>;

    fn kind(error: TraceError) -> &'static str {
        match error {
            TraceError::Refused { .. } => "refused",
            TraceError::NoServer { .. } => "no server",
            TraceError::Unreachable { .. } => "unreachable",
            _ => "other",
        }
    }

    #[test]
    fn presence_check_outcomes() {
        for family in [Family::V4, Family::V6] {
            let (_, server, hop) = addresses(family);
            let refused = |state| WireOutcome::Refused {
                state,
                reserved: [0; 2],
            };
            // (message, what it says, the presence verdict)
            let cases: [(Vec<u8>, Option<Reply>, Verdict); 5] = [
                (
                    response(family, 9, refused(State::InvalidTtl)),
                    Some(Reply::Refused {
                        state: ErrorState::Known(State::InvalidTtl),
                    }),
                    Ok(()),
                ),
                (
                    response(
                        family,
                        9,
                        WireOutcome::Hop {
                            address: hop,
                            span_ns: 1_234_567,
                        },
                    ),
                    Some(Reply::Hop {
                        hop,
                        span: Some(Duration::from_nanos(1_234_567)),
                        flow: None,
                    }),
                    Ok(()),
                ),
                (
                    response(family, 9, refused(State::InvalidProtocol)),
                    Some(Reply::Refused {
                        state: ErrorState::Known(State::InvalidProtocol),
                    }),
                    Err("refused"),
                ),
                (
                    echo_of_request(family, 9, 1),
                    Some(Reply::NotServer),
                    Err("no server"),
                ),
                (
                    echo_of_request(family, 9, 0),
                    Some(Reply::NotServer),
                    Err("no server"),
                ),
            ];
            for (message, reply, verdict) in cases {
                let recognised = recognise_response(family, &message);
                assert_eq!(
                    recognised,
                    reply.map(|reply| (9, reply)),
                    "{family:?} {message:02x?}"
                );
                let outcome = reply.map(|reply| presence(reply, server).map_err(kind));
                assert_eq!(outcome, Some(verdict), "{family:?} {message:02x?}");
            }
        }
    }

    #[test]
    fn unknown_states_are_refusals_not_success() {
        let mut message = response(
            Family::V4,
            3,
            WireOutcome::Refused {
                state: State::InvalidTtl,
                reserved: [0; 2],
            },
        );
        message[8] = 9;
        assert_eq!(
            recognise_response(Family::V4, &message),
            Some((
                3,
                Reply::Refused {
                    state: ErrorState::Unknown(9)
                }
            ))
        );
    }

    #[test]
    fn forward_pings_and_other_messages_are_not_responses() {
        let mut ping_reply = echo_of_request(Family::V4, 9, 0);
        ping_reply[7] = 5;
        let time_exceeded = [11, 0, 0, 0, 0, 0, 0, 0];
        for message in [&ping_reply[..], &time_exceeded, &[0, 1, 0]] {
            assert_eq!(
                recognise_response(Family::V4, message),
                None,
                "{message:02x?}"
            );
        }
        let v4_response = response(
            Family::V4,
            9,
            WireOutcome::Refused {
                state: State::InvalidTtl,
                reserved: [0; 2],
            },
        );
        assert_eq!(
            recognise_response(Family::V6, &v4_response),
            None,
            "ICMP type of the other family"
        );
    }

    #[test]
    fn requests_ask_for_the_probe_exactly() {
        for (family, ip_len) in [(Family::V4, 20), (Family::V6, 0)] {
            let (client, server, _) = addresses(family);
            let probe = ProbeSpec {
                ttl: 5,
                flow: 0x3039,
            };
            for padding in [0, 24] {
                let packet = request_packet(&ip_header(client, server), 17, padding, probe, 0x0102)
                    .expect("fits");
                assert_eq!(
                    packet.len(),
                    ip_len + 12 + padding,
                    "{family:?} padding {padding}"
                );
                if family == Family::V4 {
                    // TTL 64, ID 1, no DF, ICMP (§11.5.1).
                    assert_eq!(
                        (packet[8], &packet[4..8], packet[9]),
                        (64, &[0, 1, 0, 0][..], 1)
                    );
                }
                let message = &packet[ip_len..];
                assert_eq!(
                    Request::decode(family, message).map(|r| (r.identifier, r.sequence, r.header)),
                    Ok((
                        0x0102,
                        0,
                        RequestHeader {
                            ttl: 5,
                            protocol: 17,
                            flow: 0x3039
                        }
                    ))
                );
                assert!(
                    message[12..].iter().all(|&octet| octet == 0),
                    "padding is zeros (§3.7)"
                );
            }
        }
    }

    #[test]
    fn icmp_errors_quoting_a_request_mean_unreachable() {
        for family in [Family::V4, Family::V6] {
            let (client, server, router) = addresses(family);
            let ip = ip_header(client, server);
            let request =
                request_packet(&ip, 17, 0, ProbeSpec { ttl: 0, flow: 0 }, 0xABCD).expect("fits");
            // The whole request as it travelled: IPv6 messages get their header here.
            let mut quoted = [0u8; 40];
            let header_len = match family {
                Family::V4 => 0,
                Family::V6 => ip.write(&mut quoted, 58, REQUEST_TTL, request.len() as u16),
            };
            let quoted = [&quoted[..header_len], &request].concat();
            let error = |icmp_type: u8, code: u8| {
                [&[icmp_type, code, 0, 0, 0, 0, 0, 0][..], &quoted].concat()
            };
            let unreachable = error(family.destination_unreachable(), 0);
            assert_eq!(
                quoted_request(family, server, &unreachable),
                Some(0xABCD),
                "{family:?}"
            );
            assert_eq!(
                quoted_request(family, router, &unreachable),
                None,
                "{family:?}: a request to another target"
            );
            let echo = error(family.echo_reply(), 0);
            assert_eq!(
                quoted_request(family, server, &echo),
                None,
                "{family:?}: not an error"
            );
            let verdict = presence(Reply::Unreachable { from: router }, server).map_err(kind);
            assert_eq!(verdict, Err("unreachable"));
        }
    }
}
