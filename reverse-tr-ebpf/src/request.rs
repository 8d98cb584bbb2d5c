//! The request path (§4): validate, create the session, and hand the probe
//! or the error response to the `send` stage.

use aya_ebpf::{
    bindings::{TC_ACT_SHOT, TC_ACT_UNSPEC},
    programs::TcContext,
};
use reverse_tr_common::{
    Outcome, Probe, Request, State,
    constants::REQUEST_LEN,
    counter::Counter,
    event::{Event, EventKind},
    policy::Policy,
    session::{Session, SessionKey},
};

use crate::{
    maps::{count, report, timeout_ns},
    parse::Packet,
    pending, policy, probe,
    session::{self, Refusal},
    work::{self, Outgoing, Work},
};

/// Handles the request in `work.packet`.
#[inline(always)]
pub fn handle(ctx: &TcContext, work: &mut Work) -> i32 {
    let packet = &work.packet;
    let Some(icmp) = packet.transport::<REQUEST_LEN>(ctx) else {
        return TC_ACT_UNSPEC;
    };
    let Ok(request) = Request::decode(packet.family, &icmp) else {
        return TC_ACT_UNSPEC;
    };
    count(Counter::Requests);
    count(Counter::request(packet.family, request.header.protocol));
    let Some(policy) = policy::current() else {
        return TC_ACT_UNSPEC;
    };
    if let Err(counter) = policy::admit(policy, packet, request.header.protocol) {
        // Silent, as for a full table (§10.3), and only counted: a flood
        // of refusals writes no events.
        count(counter);
        return TC_ACT_SHOT;
    }
    let client = packet.source();
    let identifier = request.identifier;
    // A protocol the operator does not offer is refused as unsupported
    // (§7.3); an invalid request keeps its own state.
    // Random octets (two helper calls) only for a probe that is sent.
    let probe = match request.validate(packet.family) {
        Ok(protocol) if !policy.offers(protocol) => Err(State::InvalidProtocol),
        Ok(_) => request.probe(packet.family, probe::random_octets()),
        Err(state) => Err(state),
    };
    match probe {
        Ok(probe) => {
            // Written before the session opens: written after it, LLVM
            // merged this store with the error path's and left a register
            // of the probe unset on one way in (the verifier refused the
            // program: "R3 !read_ok").
            work.outgoing = Outgoing::Probe(probe);
            if let Err(counter) = open(policy, &work.packet, &probe) {
                // Duplicates, a full table and limits are silent drops (§8.3).
                count(counter);
                return TC_ACT_SHOT;
            }
        }
        Err(state) => {
            count(Counter::ErrorResponses);
            work.outgoing = Outgoing::Response {
                client,
                identifier,
                outcome: Outcome::Refused {
                    state,
                    reserved: [0; 2],
                },
            };
        }
    }
    work::next(ctx, work::SEND);
    // Only reached if the tail call failed; a created session expires.
    count(Counter::Failures);
    TC_ACT_SHOT
}

/// Opens the session of `probe` for the request in `packet`, within the
/// policy's caps and session rate, or names the counter of its refusal.
#[inline(always)]
fn open(policy: &Policy, packet: &Packet, probe: &Probe) -> Result<(), Counter> {
    let client = packet.source();
    policy::admit_session(policy, &client)?;
    let key = SessionKey::new(client, probe.identifier.to_be_bytes());
    let t0 = session::now();
    let entry = Session {
        t0,
        deadline: t0.wrapping_add(timeout_ns()),
        source: packet.destination(),
        random: probe.random,
        flow: probe.flow_field().to_be_bytes(),
        protocol: probe.protocol.number(packet.family),
        padding: [0; 7],
    };
    if let Err(refusal) = session::create(&key, &entry) {
        pending::release(&client);
        return Err(match refusal {
            Refusal::Exists => Counter::Exists,
            Refusal::Full => Counter::TableFull,
        });
    }
    report(Event::new(EventKind::Created, key));
    count(Counter::Probes);
    Ok(())
}
