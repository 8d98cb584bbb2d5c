//! The answer path (§6): recognise an answer to one of our probes, match
//! it to its session and turn it into the response (§7).

use aya_ebpf::{
    bindings::{BPF_F_INGRESS, TC_ACT_SHOT, TC_ACT_UNSPEC},
    programs::TcContext,
};
use reverse_tr_common::{
    Family, Outcome, ProbeMatch, ProbeProtocol, Proof,
    constants::{
        ECHO_HEADER_LEN, IPV4_HEADER_LEN, IPV6_HEADER_LEN, PROBE_SHORT_LEN, QUOTED_TRANSPORT_LEN,
    },
    counter::Counter,
    event::{Event, EventKind},
    from_mapped, is_quoting_error, match_echo_reply, match_quoted, match_tcp,
    packet::tcp,
    session::{Session, SessionKey},
    to_mapped,
};

use crate::{
    checksum, frame,
    maps::{count, report},
    parse::Packet,
    response, session, skb,
    work::{self, Answered, Work},
};

/// Mark of TCP answers handed back to the host stack; the program passes
/// marked packets untouched.
pub const CLONE_MARK: u32 = 0x7274_7221;

const TCP_SYN_ACK: u8 = tcp::SYN | tcp::ACK;
const QUOTE_V4_LEN: usize = IPV4_HEADER_LEN + QUOTED_TRANSPORT_LEN;
const QUOTE_V6_LEN: usize = IPV6_HEADER_LEN + QUOTED_TRANSPORT_LEN;
/// A quote up to the end of an ICMP or UDP probe's random octets.
const QUOTE_V4_RANDOM_LEN: usize = IPV4_HEADER_LEN + PROBE_SHORT_LEN - 2;
const QUOTE_V6_RANDOM_LEN: usize = IPV6_HEADER_LEN + PROBE_SHORT_LEN - 2;
/// An Echo Reply's header and the random octets it echoes.
const ECHO_REPLY_LEN: usize = PROBE_SHORT_LEN - 2;

/// Recognises the probe `work.packet` answers and finds its session,
/// then continues with `matched`; anything else, and an answer without a
/// session, passes. Runs in the entry program: a miss costs no tail call.
#[inline(always)]
pub fn recognise(ctx: &TcContext, work: &mut Work) -> i32 {
    let Some((found, syn_ack)) = probe_answered(ctx, &work.packet) else {
        return TC_ACT_UNSPEC;
    };
    // Built in the scratch value, where the next stage finds it: the
    // entry program's stack has no room for another key.
    let answered = &mut work.answered;
    answered.key = SessionKey::new(to_mapped(found.session), found.identifier.to_be_bytes());
    answered.syn_ack = syn_ack;
    let Some(session) = session::get(&answered.key) else {
        count(Counter::Unmatched);
        return TC_ACT_UNSPEC;
    };
    if !is_answer(&session, &work.packet, &found) {
        // Forged, or an answer to an earlier probe under the same key: it
        // passes on, as any packet that is not ours.
        count(Counter::Mismatched);
        return TC_ACT_UNSPEC;
    }
    if found.proof == Proof::Absent {
        count(Counter::Unauthenticated);
    }
    answered.t0 = session.t0;
    work::next(ctx, work::MATCH);
    count(Counter::Failures);
    TC_ACT_UNSPEC
}

/// Stage: takes the session `recognise` found (gone meanwhile: the packet
/// passes) and continues with the response.
#[inline(always)]
pub fn matched(ctx: &mut TcContext, work: &mut Work) -> i32 {
    let packet = &work.packet;
    let Answered { key, t0, syn_ack } = work.answered;
    if !session::remove(&key) {
        // The sweeper or a concurrent answer took it first.
        count(Counter::Unmatched);
        return TC_ACT_UNSPEC;
    }
    let span_ns = session::now().wrapping_sub(t0);
    let hop = packet.source();
    count(Counter::Answers);
    report(Event {
        hop,
        span_ns,
        ..Event::new(EventKind::Answered, key)
    });
    if syn_ack {
        hand_to_host(ctx);
    }
    // Direct TCP answers are the ones a host may leave checksum-partial.
    let direct_tcp = packet.protocol == ProbeProtocol::Tcp.number(packet.family);
    if direct_tcp && !checksum::forget_partial_checksum(ctx) {
        count(Counter::Failures);
        return TC_ACT_SHOT;
    }
    let Ok(address) = from_mapped(packet.family, hop) else {
        return TC_ACT_SHOT;
    };
    count(Counter::Responses);
    // Built and sent here: one tail call fewer than through `send`.
    let outcome = Outcome::Hop { address, span_ns };
    let identifier = u16::from_be_bytes(key.identifier);
    let len = response::build(&mut work.frame, packet, key.address, identifier, outcome);
    frame::send(ctx, &work.frame, len)
}

/// The probe `packet` answers, and whether it is a TCP SYN-ACK.
#[inline(always)]
fn probe_answered(ctx: &TcContext, packet: &Packet) -> Option<(ProbeMatch, bool)> {
    let family = packet.family;
    let hop = from_mapped(family, packet.source()).ok()?;
    if packet.protocol == family.icmp_protocol() {
        let [icmp_type, code] = packet.transport::<2>(ctx)?;
        let found = if is_quoting_error(family, icmp_type, code) {
            match_quote(ctx, packet)
        } else {
            // The header and the probe's random octets it echoes.
            let reply: [u8; ECHO_REPLY_LEN] = packet.transport(ctx)?;
            match_echo_reply(family, hop, &reply)
        };
        Some((found?, false))
    } else if packet.protocol == ProbeProtocol::Tcp.number(family) {
        let segment: [u8; tcp::HEADER_LEN] = packet.transport(ctx)?;
        let flags = segment[tcp::field::FLAGS];
        Some((
            match_tcp(hop, &segment)?,
            flags & TCP_SYN_ACK == TCP_SYN_ACK,
        ))
    } else {
        None
    }
}

/// Matches the probe an ICMP error quotes (§6.2): with its random
/// octets if the quote holds them, else with its first 8 transport octets
/// only (see `Proof::Absent`).
#[inline(always)]
fn match_quote(ctx: &TcContext, packet: &Packet) -> Option<ProbeMatch> {
    match packet.family {
        Family::V4 => match packet.transport_at::<QUOTE_V4_RANDOM_LEN>(ctx, ECHO_HEADER_LEN) {
            Some(quote) => quote_v4(&quote),
            None => quote_v4(&packet.transport_at::<QUOTE_V4_LEN>(ctx, ECHO_HEADER_LEN)?),
        },
        Family::V6 => match packet.transport_at::<QUOTE_V6_RANDOM_LEN>(ctx, ECHO_HEADER_LEN) {
            Some(quote) => match_quoted(Family::V6, &quote),
            None => match_quoted(
                Family::V6,
                &packet.transport_at::<QUOTE_V6_LEN>(ctx, ECHO_HEADER_LEN)?,
            ),
        },
    }
}

/// Matches an IPv4 quote.
#[inline(always)]
fn quote_v4(quote: &[u8]) -> Option<ProbeMatch> {
    // Our probes never carry IPv4 options (§5.1); requiring IHL 5 also
    // keeps the quoted transport's offset constant for the verifier.
    if quote.first() != Some(&0x45) {
        return None;
    }
    match_quoted(Family::V4, quote)
}

/// Checks more than the reference does: the answer reached the
/// address the probe left from, and whatever it shows of the probe (its
/// protocol, quoted source, flow and random octets) is what the session
/// sent.
#[inline(always)]
fn is_answer(session: &Session, packet: &Packet, found: &ProbeMatch) -> bool {
    found.proof.holds(&session.random)
        && session.protocol == found.protocol.number(packet.family)
        && session.source == packet.destination()
        && found
            .source
            .is_none_or(|source| to_mapped(source) == session.source)
        && found
            .flow
            .is_none_or(|flow| flow.to_be_bytes() == session.flow)
}

/// Hands a copy of a SYN-ACK answer to the host stack, which never sent the
/// SYN and so resets the half-open connection at the client; otherwise the
/// client retransmits SYN-ACKs for a while. The reference clones without a
/// mark, sees its own clone again, finds no session and drops it;
/// the mark makes this program pass the clone instead.
#[inline(always)]
fn hand_to_host(ctx: &mut TcContext) {
    let mark = skb::mark(ctx);
    ctx.set_mark(CLONE_MARK);
    let cloned = ctx.clone_redirect(skb::ifindex(ctx), u64::from(BPF_F_INGRESS));
    ctx.set_mark(mark);
    if cloned.is_ok() {
        count(Counter::TcpResets);
    }
}
