//! The reverse-traceroute server: one TC ingress program for IPv4 and IPv6.
//!
//! `reverse_tr` is attached; it passes at once what cannot be ours
//! (`classify`), parses the rest, recognises answers and finds their
//! sessions itself (a miss costs no tail call), and continues, by tail
//! call, with the `request` stage, which ends in the `send` stage, or the
//! `matched` stage, which sends its response itself (see `work`). `sweep`
//! starts the session
//! sweeper; the loader runs it through BPF_PROG_TEST_RUN.
#![no_std]
#![no_main]
// `pending` counts with BPF's atomic add (see there).
#![feature(core_intrinsics)]
#![allow(internal_features)]
// aya's program macros take the context as a raw pointer in a safe function.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod answer;
mod checksum;
mod classify;
mod frame;
mod maps;
mod parse;
mod pending;
mod policy;
mod probe;
mod request;
mod response;
mod session;
mod skb;
mod work;

use crate::{
    classify::Kind,
    work::{Outgoing, work},
};
use aya_ebpf::{
    bindings::{TC_ACT_SHOT, TC_ACT_UNSPEC},
    macros::classifier,
    programs::TcContext,
};
use aya_log_ebpf::{error, info};

/// Requests become probes or error responses, answers become responses;
/// everything else goes on to the next filter and the host untouched
/// (TC_ACT_UNSPEC, which is also TCX "next", not the reference's "OK": Q-11).
#[classifier]
pub fn reverse_tr(ctx: TcContext) -> i32 {
    if skb::pkt_type(&ctx) != skb::PACKET_HOST || skb::mark(&ctx) == answer::CLONE_MARK {
        return TC_ACT_UNSPEC;
    }
    let Some(kind) = classify::classify(&ctx) else {
        return TC_ACT_UNSPEC;
    };
    let (Some(work), Some(packet)) = (work(), parse::Packet::parse(&ctx)) else {
        return TC_ACT_UNSPEC;
    };
    work.packet = packet;
    match kind {
        // Recognised here, saving a tail call on every answer, hit or miss.
        Kind::Answer => answer::recognise(&ctx, work),
        Kind::Request => {
            work::next(&ctx, work::REQUEST);
            // The stages are missing: nothing is ours then.
            TC_ACT_UNSPEC
        }
    }
}

/// Stage: a request (Echo Request code 1).
#[classifier]
pub fn request(ctx: TcContext) -> i32 {
    work().map_or(TC_ACT_UNSPEC, |work| request::handle(&ctx, work))
}

/// Stage: an answer to one of our probes, to match to its session.
#[classifier]
pub fn matched(mut ctx: TcContext) -> i32 {
    work().map_or(TC_ACT_UNSPEC, |work| answer::matched(&mut ctx, work))
}

/// Stage: build the probe or response the previous stage decided on and
/// send it out of the arrival interface.
#[classifier]
pub fn send(mut ctx: TcContext) -> i32 {
    let Some(work) = work() else {
        return TC_ACT_SHOT;
    };
    let len = match work.outgoing {
        Outgoing::Probe(probe) => probe::build(&mut work.frame, &work.packet, &probe),
        Outgoing::Response {
            client,
            identifier,
            outcome,
        } => response::build(&mut work.frame, &work.packet, client, identifier, outcome),
    };
    frame::send(&mut ctx, &work.frame, len)
}

/// Starts (or restarts) the sweeper timer and sweeps once; returns 0 or
/// the timer helper's error. The loader runs it at start-up and whenever
/// the sweep counter stops advancing.
#[classifier]
pub fn sweep(ctx: TcContext) -> i32 {
    session::sweep();
    let status = session::start_sweeper();
    if status == 0 {
        info!(&ctx, "session sweeper running");
    } else {
        error!(&ctx, "starting the session sweeper failed: {}", status);
    }
    status as i32
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
