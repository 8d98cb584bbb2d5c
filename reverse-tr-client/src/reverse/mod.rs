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
    constants::{CODE_REVERSE_TRACEROUTE, REQUEST_TTL},
    error::Error as WireError,
    request::REQUEST_MESSAGE_MAX_LEN,
    response,
};

pub use self::identifier::{Identifiers, SERVER_TIMEOUT};
use crate::{
    Error, Result,
    net::{Engine, Pacer, RawSocket, Received, Reply, Wire, ip_header},
    probe::Probe,
};

/// Transmissions of the presence check (1 + 3 retries, §11.5.3).
const PRESENCE_ATTEMPTS: usize = 4;

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

    /// The request packet for `probe` (IPv4: with its IP header; IPv6: the
    /// ICMPv6 message, the kernel adds the header).
    fn request(&self, probe: Probe, identifier: u16) -> Result<Vec<u8>> {
        let header = RequestHeader {
            ttl: probe.ttl,
            protocol: self.protocol,
            flow: probe.flow,
        };
        let request = Request {
            identifier,
            sequence: 0,
            header,
        };
        match self.ip {
            IpHeader::V4(_) => {
                let mut packet = [0u8; REQUEST_MAX_LEN];
                let len = request.build(&self.ip, self.padding, &mut packet)?;
                Ok(packet.get(..len).unwrap_or_default().to_vec())
            }
            IpHeader::V6(_) => {
                let mut message = [0u8; REQUEST_MESSAGE_MAX_LEN];
                let len = request.write_message(&self.ip, self.padding, &mut message)?;
                Ok(message.get(..len).unwrap_or_default().to_vec())
            }
        }
    }
}

/// The socket requests go out on: IPv4 whole packets, IPv6 ICMPv6 messages
/// with hop limit 64.
pub fn request_socket(family: Family) -> Result<RawSocket> {
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

    async fn transmit(&self, probe: Probe, identifier: u16) -> Result<()> {
        let packet = self.request(probe, identifier)?;
        self.socket.send_to(&packet, self.target).await
    }

    fn recognise(&self, packet: &Received<'_>) -> Option<(u16, Reply)> {
        if packet.source != self.target {
            return None;
        }
        let (identifier, reply) = recognise_response(self.ip.family(), packet.payload)?;
        // A reply proves the session gone (§11.5.2); one for an identifier
        // we have not handed out is a stranger's, or a previous run's.
        self.identifiers()
            .reclaim(identifier)
            .then_some((identifier, reply))
    }
}

/// The identifier and meaning of an ICMP message from the server, if it is
/// a response or the echo of a request (§11.5.4, §12.1 item 9).
pub fn recognise_response(family: Family, icmp: &[u8]) -> Option<(u16, Reply)> {
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
        }) => Reply::Refused { state: state as u8 },
        Err(WireError::UnknownState(state)) => Reply::Refused { state },
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

/// The reverse prober: requests out, responses in, on raw ICMP sockets.
pub type ReverseProber = Engine<ReverseWire>;

/// A prober tracing from the server on `target` back to `local`, asking
/// for probes of IP `protocol`.
pub fn prober(
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
/// must be refused with state 1 (or answered) by a server.
pub async fn check_presence(prober: &ReverseProber) -> Result<()> {
    let target = prober.wire().target;
    for attempt in 1..=PRESENCE_ATTEMPTS {
        log::debug!("presence check {attempt} of {PRESENCE_ATTEMPTS}");
        if let Some((reply, _)) = prober.exchange(Probe { ttl: 0, flow: 0 }).await? {
            return presence(reply, target);
        }
    }
    Err(Error::NoAnswer { target })
}

/// What the reply to the presence check says about `target`.
pub fn presence(reply: Reply, target: IpAddr) -> Result<()> {
    match reply {
        Reply::Refused { state: 1 } | Reply::Hop { .. } => Ok(()),
        Reply::Refused { state } => Err(Error::Refused { state }),
        Reply::NotServer => Err(Error::NoServer { target }),
    }
}
