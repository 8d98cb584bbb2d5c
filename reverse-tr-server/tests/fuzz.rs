//! Fuzzing the program through BPF_PROG_TEST_RUN: valid requests, probes
//! and answers of both families and all protocols, mutated (bit flips,
//! header octets, truncation, IHL and lengths, IPv4 options and fragments,
//! IPv6 extension headers, EtherTypes, link-level destinations) and plain
//! garbage. Each verdict is checked against an oracle written here:
//!
//! * a frame that is not a request is passed byte for byte, or — only if
//!   it answered a pending session — turned into that session's response;
//! * a request becomes its probe or error response, or is dropped only
//!   when the program counts a duplicate, a full table or a source that
//!   cannot be a requester (mutated addresses);
//! * nothing grows except where the protocol makes it (request → probe,
//!   direct answer → response); the growth is printed;
//! * in the second half unpadded requests are refused (§10.1,
//!   `--no-amplification`): requests shorter than what they can cause are
//!   dropped, and no probe or response is larger than the request that
//!   caused it;
//! * afterwards every session is live (deadline = arrival + timeout) and
//!   all of them time out: timed out = created − answered.
//!
//! The seed is printed; `REVERSE_TR_FUZZ_SEED=<seed>` replays a run.
#![cfg(feature = "root-tests")]

mod support;

use std::{
    collections::{HashMap, VecDeque},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};

use aya::maps::{MapData, RingBuf};
use reverse_tr_common::{
    Family, Outcome, Response, State,
    counter::Counter,
    event::{Event, EventKind},
    policy::{Policy, padded_len},
    session::SessionKey,
};
use reverse_tr_server::{Config, Server, event};
use support::*;

const PACKETS: usize = 120_000;
const MAX_SESSIONS: u32 = 256;
const TIMEOUT: Duration = Duration::from_secs(1);
/// Probes kept to build answers from.
const PROBE_POOL: usize = 256;

/// SplitMix64: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn octet(&mut self) -> u8 {
        self.next() as u8
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn octets(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.octet()).collect()
    }
}

fn seed() -> u64 {
    match std::env::var("REVERSE_TR_FUZZ_SEED") {
        Ok(text) => text.parse().expect("REVERSE_TR_FUZZ_SEED is a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos() as u64,
    }
}

fn client(rng: &mut Rng, v4: bool) -> IpAddr {
    let host = 1 + rng.below(8) as u8;
    if v4 {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, host))
    } else {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(host)))
    }
}

fn server_of(v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(SERVER_V4)
    } else {
        IpAddr::V6(SERVER_V6)
    }
}

/// A request with random fields, sometimes invalid, sometimes padded (§3.7).
fn valid_request(rng: &mut Rng) -> Vec<u8> {
    let v4 = rng.one_in(2);
    let client = client(rng, v4);
    let server = server_of(v4);
    let identifier = 1 + rng.below(32) as u16;
    let ttl = if rng.one_in(16) {
        0
    } else {
        rng.octet().max(1)
    };
    let any = rng.octet();
    let protocol = rng.pick(&[0, 1, 58, 17, 6, any]);
    let flow = if rng.one_in(4) { 0 } else { rng.next() as u16 };
    let mut rest = identifier.to_be_bytes().to_vec();
    rest.extend([0, 0, ttl, protocol]);
    rest.extend(flow.to_be_bytes());
    // Up to the longest unpadded request and beyond (§10.1).
    rest.resize(rest.len() + rng.pick(&[0, 0, 4, 24, 80, 148]), 0);
    let echo_request = if v4 { 8 } else { 128 };
    frame(&icmp_packet(client, server, 64, echo_request, 1, &rest))
}

/// An answer to `probe` (a probe frame the program built): an ICMP error
/// quoting it from a router, or a direct answer from the client.
fn answer(rng: &mut Rng, probe: &[u8]) -> Vec<u8> {
    let packet = &probe[14..];
    let v4 = packet[0] >> 4 == 4;
    let (header, protocol_at) = if v4 { (20, 9) } else { (40, 6) };
    let (server, client) = addresses(packet);
    let router = if v4 {
        IpAddr::V4(ROUTER_V4)
    } else {
        IpAddr::V6(ROUTER_V6)
    };
    let transport = &packet[header..];
    let protocol = packet[protocol_at];
    let quoting = |rng: &mut Rng| {
        let (icmp_type, code) = match (v4, rng.one_in(2)) {
            (true, true) => (11, 0),
            (true, false) => (3, rng.octet() % 16),
            (false, true) => (3, 0),
            (false, false) => (1, rng.octet() % 8),
        };
        // Routers quote at least 8 transport octets, often all of them.
        let quoted = if rng.one_in(2) {
            header + 8
        } else {
            packet.len()
        };
        let rest = [&[0u8; 4][..], &packet[..quoted]].concat();
        frame(&icmp_packet(router, server, 60, icmp_type, code, &rest))
    };
    match protocol {
        1 | 58 if rng.one_in(2) => {
            let echo_reply = if v4 { 0 } else { 129 };
            frame(&icmp_packet(
                client,
                server,
                64,
                echo_reply,
                0,
                &transport[4..],
            ))
        }
        6 if rng.one_in(2) => {
            let destination_port = u16::from_be_bytes([transport[2], transport[3]]);
            let sequence = u32::from_be_bytes(transport[4..8].try_into().expect("4 octets"));
            let flags = rng.pick(&[0x04, 0x14, 0x12]);
            let segment = tcp(
                client,
                server,
                (destination_port, 1021),
                rng.next() as u32,
                sequence.wrapping_add(1),
                flags,
            );
            frame(&ip(client, server, 6, 64, 1, &segment))
        }
        _ => quoting(rng),
    }
}

/// Source and destination of an IPv4 or IPv6 packet (by its version).
fn addresses(packet: &[u8]) -> (IpAddr, IpAddr) {
    if packet[0] >> 4 == 4 {
        (address(&packet[12..16]), address(&packet[16..20]))
    } else {
        (address(&packet[8..24]), address(&packet[24..40]))
    }
}

fn address(octets: &[u8]) -> IpAddr {
    match octets.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(octets).expect("4 octets")),
        _ => IpAddr::from(<[u8; 16]>::try_from(octets).expect("16 octets")),
    }
}

/// Offset of the IP header's version octet.
const IP: usize = 14;

fn is_v4(frame: &[u8]) -> bool {
    frame.len() >= IP + 20 && frame[12..14] == [0x08, 0x00] && frame[IP] >> 4 == 4
}

fn is_v6(frame: &[u8]) -> bool {
    frame.len() >= IP + 40 && frame[12..14] == [0x86, 0xdd] && frame[IP] >> 4 == 6
}

/// Recomputes an IPv4 header checksum, if the header is there.
fn reseal_v4(frame: &mut [u8]) {
    let ihl = usize::from(frame[IP] & 0x0f) * 4;
    if ihl >= 20 && frame.len() >= IP + ihl {
        frame[IP + 10..IP + 12].copy_from_slice(&[0, 0]);
        let sum = checksum(&[&frame[IP..IP + ihl]]);
        frame[IP + 10..IP + 12].copy_from_slice(&sum.to_be_bytes());
    }
}

/// One random mutation of `frame` (at least 14 octets stay).
fn mutate(rng: &mut Rng, frame: &mut Vec<u8>) {
    let len = frame.len();
    match rng.below(13) {
        0 => {
            let at = rng.below(len);
            frame[at] ^= 1 << rng.below(8);
        }
        1 => {
            let at = IP + rng.below((len - IP).clamp(1, 96));
            if at < len {
                frame[at] = rng.octet();
            }
        }
        2 => frame.truncate(14 + rng.below(len - 13)),
        3 if is_v4(frame) => {
            frame[IP] = 0x40 | rng.below(16) as u8;
            reseal_v4(frame);
        }
        4 if is_v4(frame) && len >= IP + 4 => {
            let any = rng.next() as u16;
            let total = rng.pick(&[0, 19, 20, 27, 31, 32, any]);
            frame[IP + 2..IP + 4].copy_from_slice(&total.to_be_bytes());
            reseal_v4(frame);
        }
        4 if is_v6(frame) => {
            let any = rng.next() as u16;
            let payload = rng.pick(&[0, 8, 11, 12, 16, any]);
            frame[IP + 4..IP + 6].copy_from_slice(&payload.to_be_bytes());
        }
        5 if is_v4(frame) && frame[IP] == 0x45 && len >= IP + 20 => {
            // IPv4 options (NOP, EOL, record route or random), lengths fixed up.
            let words = 1 + rng.below(10);
            let options: Vec<u8> = (0..words * 4)
                .map(|_| {
                    let any = rng.octet();
                    rng.pick(&[1, 0, 7, any])
                })
                .collect();
            frame.splice(IP + 20..IP + 20, options);
            frame[IP] = 0x40 | (5 + words) as u8;
            let total = u16::from_be_bytes([frame[IP + 2], frame[IP + 3]]);
            let total = total.wrapping_add((words * 4) as u16);
            frame[IP + 2..IP + 4].copy_from_slice(&total.to_be_bytes());
            reseal_v4(frame);
        }
        6 if is_v6(frame) => {
            // An extension header (hop-by-hop, routing, fragment,
            // destination options, AH, mobility) before the transport.
            let kind = rng.pick(&[0, 43, 44, 60, 51, 135]);
            let mut extension = vec![frame[IP + 6], 0];
            if kind == 44 {
                extension.extend(rng.octets(2));
                extension.extend(rng.octets(4));
            } else {
                extension.extend([0; 6]);
            }
            frame.splice(IP + 40..IP + 40, extension);
            frame[IP + 6] = kind;
            let payload = u16::from_be_bytes([frame[IP + 4], frame[IP + 5]]).wrapping_add(8);
            frame[IP + 4..IP + 6].copy_from_slice(&payload.to_be_bytes());
        }
        7 if is_v4(frame) && len >= IP + 20 => {
            // A fragment: more-fragments and/or an offset.
            let any = 0x4000 | rng.next() as u16;
            let flags = rng.pick(&[0x2000, 0x0001, 0x2010, any]);
            frame[IP + 6..IP + 8].copy_from_slice(&flags.to_be_bytes());
            reseal_v4(frame);
        }
        8 => {
            let ethertype = rng.pick(&[[0x08, 0x00], [0x86, 0xdd], [0x08, 0x06], [0x81, 0x00]]);
            let ethertype = if rng.one_in(4) {
                [rng.octet(), rng.octet()]
            } else {
                ethertype
            };
            frame[12..14].copy_from_slice(&ethertype);
        }
        9 => {
            // Broadcast, multicast or another host's MAC.
            let destination = rng.pick(&[[0xff; 6], [0x01, 0, 0x5e, 0, 0, 1], [2, 0, 0, 0, 0, 9]]);
            frame[..6].copy_from_slice(&destination);
        }
        10 => {
            // Ethernet padding or trailing octets beyond the IP length.
            let extra = rng.below(48);
            let any = rng.octet();
            let filler = rng.pick(&[0, 0xee, any]);
            frame.resize(len + extra, filler);
        }
        11 => {
            // A different ICMP type and code where the transport starts.
            let at = if is_v4(frame) {
                IP + usize::from(frame[IP] & 0x0f) * 4
            } else {
                IP + 40
            };
            if at + 2 <= len {
                let [t, c] = rng.pick(&[
                    [8, 1],
                    [8, 0],
                    [0, 0],
                    [0, 1],
                    [11, 0],
                    [3, 3],
                    [128, 1],
                    [129, 0],
                    [3, 0],
                    [1, 4],
                ]);
                frame[at] = t;
                frame[at + 1] = c;
            }
        }
        _ => {
            // Swap the family's version nibble.
            frame[IP.min(len - 1)] ^= 0x20;
        }
    }
}

fn garbage(rng: &mut Rng) -> Vec<u8> {
    let len = 14 + rng.below(180);
    let mut frame = rng.octets(len);
    frame[..6].fill(0);
    if rng.one_in(2) {
        frame[12..14].copy_from_slice(&rng.pick(&[[0x08, 0x00], [0x86, 0xdd]]));
    }
    frame
}

/// An IPv4 or IPv6 EtherType with fewer octets than the minimal IP header.
fn below_ip_header(frame: &[u8]) -> bool {
    match frame[12..14] {
        [0x08, 0x00] => frame.len() < IP + 20,
        [0x86, 0xdd] => frame.len() < IP + 40,
        _ => false,
    }
}

/// What the oracle reads from a frame the program must treat as a request
/// (§3, §4.1): for this host, unfragmented, lying wholly in the frame
/// (IP lengths, not frame length), Echo Request code 1 of ≥ 12 octets.
#[derive(Debug)]
struct Request {
    family: Family,
    client: IpAddr,
    server: IpAddr,
    identifier: u16,
    ttl: u8,
    protocol: u8,
    /// IP length (header and payload, padding included).
    len: usize,
}

fn request_in(frame: &[u8]) -> Option<Request> {
    if frame[..6] != [0; 6] {
        return None;
    }
    let (family, header, transport_len, protocol) = if is_v4(frame) {
        let ihl = usize::from(frame[IP] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([frame[IP + 2], frame[IP + 3]]));
        let fragment = u16::from_be_bytes([frame[IP + 6], frame[IP + 7]]) & 0x3fff;
        if ihl < 20 || total < ihl || IP + total > frame.len() || fragment != 0 {
            return None;
        }
        (Family::V4, ihl, total - ihl, frame[IP + 9])
    } else if is_v6(frame) {
        let payload = usize::from(u16::from_be_bytes([frame[IP + 4], frame[IP + 5]]));
        if IP + 40 + payload > frame.len() {
            return None;
        }
        (Family::V6, 40, payload, frame[IP + 6])
    } else {
        return None;
    };
    let icmp = &frame[IP + header..];
    if protocol != family.icmp_protocol()
        || transport_len < 12
        || icmp[..2] != [family.echo_request(), 1]
    {
        return None;
    }
    let (client, server) = addresses(&frame[IP..]);
    Some(Request {
        family,
        client,
        server,
        identifier: u16::from_be_bytes([icmp[4], icmp[5]]),
        ttl: icmp[8],
        protocol: icmp[9],
        len: header + transport_len,
    })
}

/// The probe's IP protocol a request asks for, or the error state.
fn probe_protocol(request: &Request) -> Result<u8, State> {
    let v4 = request.family == Family::V4;
    match request.protocol {
        _ if request.ttl == 0 => Err(State::InvalidTtl),
        0 => Ok(request.family.icmp_protocol()),
        1 if v4 => Ok(1),
        58 if !v4 => Ok(58),
        17 | 6 => Ok(request.protocol),
        _ => Err(State::InvalidProtocol),
    }
}

/// An output packet's family, addresses, protocol and transport.
struct Sent<'a> {
    source: IpAddr,
    destination: IpAddr,
    protocol: u8,
    ttl: u8,
    transport: &'a [u8],
}

fn sent(frame: &[u8]) -> Sent<'_> {
    assert_checksums(frame);
    let packet = &frame[IP..];
    let (source, destination) = addresses(packet);
    let length = |at: usize| usize::from(u16::from_be_bytes([packet[at], packet[at + 1]]));
    let (header, len, protocol, ttl) = if packet[0] >> 4 == 4 {
        assert_eq!(packet[0], 0x45, "sent IPv4 packets carry no options");
        (20, length(2), packet[9], packet[8])
    } else {
        (40, 40 + length(4), packet[6], packet[7])
    };
    assert_eq!(len, packet.len(), "IP length of a sent packet");
    Sent {
        source,
        destination,
        protocol,
        ttl,
        transport: &packet[header..],
    }
}

fn key(client: IpAddr, identifier: u16) -> SessionKey {
    let address = match client {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    SessionKey::new(address, identifier.to_be_bytes())
}

/// The sum of some counters.
fn total(server: &Server, counters: &[Counter]) -> u64 {
    counters
        .iter()
        .map(|counter| server.counter(*counter).expect("counter"))
        .sum()
}

/// Events read from the ring buffer, by kind.
#[derive(Default, Debug)]
struct Events {
    created: u64,
    answered: u64,
    timed_out: u64,
}

impl Events {
    fn drain(&mut self, ring: &mut RingBuf<MapData>) {
        while let Some(record) = ring.next() {
            let event: Event = event::decode(&record).expect("an event record");
            match EventKind::from_raw(event.kind).expect("a known event kind") {
                EventKind::Created => self.created += 1,
                EventKind::Answered => self.answered += 1,
                EventKind::TimedOut => self.timed_out += 1,
            }
        }
    }
}

/// What the run saw, for the summary and the end-of-run checks.
#[derive(Default, Debug)]
struct Tally {
    requests: usize,
    probes: usize,
    error_responses: usize,
    refused: u64,
    responses: u64,
    passed: usize,
    /// IP frames shorter than their IP header, which the kernel does not run.
    short: usize,
    /// Largest growth (output − input frame octets) of request → probe.
    probe_growth: isize,
    /// Largest growth of answer → response.
    response_growth: isize,
    /// Unpadded requests dropped.
    unpadded: u64,
    /// Requests from sources that cannot be requesters.
    refused_sources: u64,
}

/// The packets a pending session may still cause are bounded by the
/// length of its request if it was admitted under the no-amplification
/// minimum (§10.1).
type Pending = HashMap<SessionKey, Option<usize>>;

/// IP length of a frame the program sent.
fn ip_len(frame: &[u8]) -> usize {
    frame.len() - IP
}

/// Checks the program's handling of a request against the oracle, with or
/// without the no-amplification minimum; true if it created a session.
fn check_request(
    server: &Server,
    request: &Request,
    minimum: bool,
    (input, verdict, output): (&[u8], i32, &[u8]),
    tally: &mut Tally,
) -> bool {
    tally.requests += 1;
    let growth = output.len() as isize - input.len() as isize;
    if verdict == DROP && refused_source(server, tally) {
        return false;
    }
    if minimum && request.len < padded_len(request.family, request.protocol) {
        assert_eq!(verdict, DROP, "an unpadded request: {request:?}");
        let unpadded = server.counter(Counter::UnpaddedLimited).expect("counter");
        assert_eq!(unpadded, tally.unpadded + 1, "dropped as unpadded");
        tally.unpadded = unpadded;
        return false;
    }
    match (verdict, probe_protocol(request)) {
        (REDIRECT, Ok(protocol)) => {
            let probe = sent(output);
            assert_eq!(
                (probe.source, probe.destination),
                (request.server, request.client),
                "probe addresses"
            );
            assert_eq!(
                (probe.protocol, probe.ttl),
                (protocol, request.ttl),
                "probe protocol and TTL"
            );
            let transport_len = if protocol == 6 { 24 } else { 16 };
            assert_eq!(probe.transport.len(), transport_len, "probe length");
            assert!(
                !minimum || ip_len(output) <= request.len,
                "a probe larger than its request under the minimum"
            );
            tally.probes += 1;
            tally.probe_growth = tally.probe_growth.max(growth);
            true
        }
        (REDIRECT, Err(state)) => {
            let response = sent(output);
            assert_eq!(
                (response.source, response.destination),
                (request.server, request.client),
                "error response addresses"
            );
            assert!(
                growth <= 0,
                "an error response is never larger than its request"
            );
            let decoded =
                Response::decode(request.family, response.transport).expect("an error response");
            assert_eq!(decoded.identifier, request.identifier);
            assert!(
                matches!(decoded.outcome, Outcome::Refused { state: s, .. } if s == state),
                "{decoded:?}, expected {state:?}"
            );
            tally.error_responses += 1;
            false
        }
        (DROP, Ok(_)) => {
            // Only a duplicate or a full table drops a request (§8.3).
            let refused = total(server, &[Counter::Exists, Counter::TableFull]);
            assert_eq!(
                refused,
                tally.refused + 1,
                "dropped without a refusal counted"
            );
            tally.refused = refused;
            false
        }
        (verdict, expected) => {
            panic!("request {request:?}: verdict {verdict}, expected {expected:?}")
        }
    }
}

/// Whether the program refused the last request's source (a mutation
/// made it one that cannot be a requester, §10.2).
fn refused_source(server: &Server, tally: &mut Tally) -> bool {
    let refused = total(
        server,
        &[
            Counter::RefusedUnspecified,
            Counter::RefusedLoopback,
            Counter::RefusedMulticast,
            Counter::RefusedReserved,
            Counter::RefusedEmbedded,
        ],
    );
    let counted = refused > tally.refused_sources;
    tally.refused_sources = refused;
    counted
}

/// Checks the program's handling of anything else: passed untouched, or
/// the response of a pending session.
fn check_other(
    server: &Server,
    input: &[u8],
    verdict: i32,
    output: &[u8],
    pending: &mut Pending,
    tally: &mut Tally,
) {
    match verdict {
        PASS => {
            assert_eq!(output, input, "passed but changed");
            tally.passed += 1;
        }
        REDIRECT => {
            let response = sent(output);
            let family = if is_v4(input) { Family::V4 } else { Family::V6 };
            let (hop, answered_at) = addresses(&input[IP..]);
            assert_eq!(
                response.source, answered_at,
                "response from where the answer arrived"
            );
            let decoded = Response::decode(family, response.transport).expect("a success response");
            assert!(
                matches!(decoded.outcome, Outcome::Hop { address, .. } if address == hop),
                "{decoded:?}, hop {hop}"
            );
            let bound = pending
                .remove(&key(response.destination, decoded.identifier))
                .unwrap_or_else(|| {
                    panic!(
                        "a response for {} {} without a pending session",
                        response.destination, decoded.identifier
                    )
                });
            assert!(
                bound.is_none_or(|request_len| ip_len(output) <= request_len),
                "a response larger than its request under the minimum"
            );
            let answers = server.counter(Counter::Answers).expect("counter");
            assert_eq!(
                answers,
                tally.responses + 1,
                "a response without an answer counted"
            );
            tally.responses = answers;
            let growth = output.len() as isize - input.len() as isize;
            tally.response_growth = tally.response_growth.max(growth);
        }
        other => panic!("verdict {other} for a frame that is not a request"),
    }
}

/// Monotonic nanoseconds, the clock of `bpf_ktime_get_ns`.
fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    assert_eq!(status, 0, "clock_gettime");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

#[test]
fn random_and_mutated_packets_keep_the_program_safe() {
    let seed = seed();
    println!("fuzz seed {seed} (replay with REVERSE_TR_FUZZ_SEED={seed})");
    let mut rng = Rng(seed);
    let mut server = server(Config {
        max_sessions: MAX_SESSIONS,
        timeout: TIMEOUT,
    });
    let mut ring = server.take_events().expect("events");
    let mut events = Events::default();
    let mut tally = Tally::default();
    let mut probes: VecDeque<Vec<u8>> = VecDeque::new();
    let mut pending = Pending::new();
    let started = Instant::now();
    for n in 0..PACKETS {
        let minimum = n >= PACKETS / 2;
        if n == PACKETS / 2 {
            let policy = Policy {
                refuse_unpadded: 1,
                ..Policy::default()
            };
            apply_policy(&mut server, &policy);
        }
        let mut frame = match (rng.below(10), probes.is_empty()) {
            (0..=3, _) | (_, true) => valid_request(&mut rng),
            (4..=6, false) => {
                let probe = rng.below(probes.len());
                answer(&mut rng, &probes[probe])
            }
            (7, false) => {
                let probe = rng.below(probes.len());
                probes[probe].clone()
            }
            _ => garbage(&mut rng),
        };
        if !rng.one_in(4) {
            for _ in 0..1 + rng.below(3) {
                mutate(&mut rng, &mut frame);
            }
        }
        let run = match server.run(&frame) {
            Ok(run) => run,
            // The kernel refuses to test-run IP frames too short for
            // their IP header; the program's own parse check is what
            // guards them on a real interface.
            Err(_) if below_ip_header(&frame) => {
                tally.short += 1;
                continue;
            }
            Err(error) => panic!("packet {n}: {error}: {frame:02x?}"),
        };
        let context = || format!("packet {n} (seed {seed}): {:02x?}", frame);
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match request_in(&frame) {
                Some(request) => {
                    if check_request(
                        &server,
                        &request,
                        minimum,
                        (&frame, run.verdict, &run.frame),
                        &mut tally,
                    ) {
                        pending.insert(
                            key(request.client, request.identifier),
                            minimum.then_some(request.len),
                        );
                        probes.push_back(run.frame.clone());
                        if probes.len() > PROBE_POOL {
                            probes.pop_front();
                        }
                    }
                }
                None => check_other(
                    &server,
                    &frame,
                    run.verdict,
                    &run.frame,
                    &mut pending,
                    &mut tally,
                ),
            }));
        if let Err(panic) = outcome {
            eprintln!("{}", context());
            std::panic::resume_unwind(panic);
        }
        if n % 1000 == 0 {
            events.drain(&mut ring);
        }
    }
    let fuzzing = started.elapsed();
    // Every session in the table is live, from this run, and due within
    // one timeout.
    let now = monotonic_ns();
    let timeout_ns = TIMEOUT.as_nanos() as u64;
    let sessions = server.sessions().expect("sessions");
    assert!(sessions.len() <= MAX_SESSIONS as usize);
    for (key, session) in &sessions {
        assert_eq!(session.deadline, session.t0 + timeout_ns, "{key:?}");
        assert!(
            session.t0 <= now && session.deadline <= now + timeout_ns,
            "{key:?}: {session:?}"
        );
        assert!(
            pending.contains_key(key),
            "{key:?} was never created or already answered"
        );
    }
    // And all of them go: the deadline FIFO holds an entry for each.
    let waited = Instant::now();
    while !server.sessions().expect("sessions").is_empty()
        && waited.elapsed() < TIMEOUT + Duration::from_secs(1)
    {
        events.drain(&mut ring);
        std::thread::sleep(Duration::from_millis(20));
    }
    events.drain(&mut ring);
    assert!(
        server.sessions().expect("sessions").is_empty(),
        "sessions left after timeout + 1 s"
    );
    let created = server.counter(Counter::Probes).expect("counter");
    let answered = server.counter(Counter::Answers).expect("counter");
    let timed_out = server.counter(Counter::TimedOut).expect("counter");
    assert_eq!(created, tally.probes as u64);
    assert_eq!(answered, tally.responses);
    assert_eq!(
        timed_out,
        created - answered,
        "created = answered + timed out"
    );
    assert_eq!(server.counter(Counter::Failures).expect("counter"), 0);
    if server.counter(Counter::EventsLost).expect("counter") == 0 {
        assert_eq!(
            (events.created, events.answered, events.timed_out),
            (created, answered, timed_out),
            "one event per transition"
        );
    }
    println!(
        "{PACKETS} packets in {fuzzing:.1?}: {} requests ({} probes, {} error responses, {} refused), \
         {} responses, {} passed untouched, {} too short to run, {} unpadded refused, \
         {timed_out} timed out; largest growth: \
         request → probe {} octets, answer → response {} octets",
        tally.requests,
        tally.probes,
        tally.error_responses,
        tally.refused,
        tally.responses,
        tally.passed,
        tally.short,
        tally.unpadded,
        tally.probe_growth,
        tally.response_growth,
    );
}
