//! The request path (§4): validate, create the session, and hand the probe
//! or the error response to the `send` stage.

use aya_ebpf::{
    bindings::{TC_ACT_SHOT, TC_ACT_UNSPEC},
    programs::TcContext,
};
use reverse_tr_common::{
    Outcome, Request, State,
    constants::REQUEST_LEN,
    counter::Counter,
    event::{Event, EventKind},
    session::{Session, SessionKey},
};

use crate::{
    maps::{count, report, timeout_ns},
    policy, probe,
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
    let policy = policy::current();
    if let Err(counter) = policy::admit(&policy, packet) {
        // Silent, as for a full table (§10.3).
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
    work.outgoing = match probe {
        Ok(probe) => {
            let key = SessionKey::new(client, identifier.to_be_bytes());
            let t0 = session::now();
            let entry = Session {
                t0,
                deadline: t0.wrapping_add(timeout_ns()),
                source: packet.destination(),
                flow: probe.flow_field().to_be_bytes(),
                protocol: probe.protocol.number(packet.family),
                padding: [0; 5],
            };
            let (kind, counter) = match session::create(&key, &entry) {
                Ok(()) => (EventKind::Created, Counter::Probes),
                Err(Refusal::Exists) => (EventKind::Exists, Counter::Exists),
                Err(Refusal::Full) => (EventKind::TableFull, Counter::TableFull),
            };
            report(Event::new(kind, key));
            count(counter);
            if kind != EventKind::Created {
                // Duplicates and a full table are silent drops (§8.3).
                return TC_ACT_SHOT;
            }
            Outgoing::Probe(probe)
        }
        Err(state) => {
            count(Counter::ErrorResponses);
            Outgoing::Response {
                client,
                identifier,
                outcome: Outcome::Refused {
                    state,
                    reserved: [0; 2],
                },
            }
        }
    };
    work::next(ctx, work::SEND);
    // Only reached if the tail call failed; a created session expires.
    count(Counter::Failures);
    TC_ACT_SHOT
}
