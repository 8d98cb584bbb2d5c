//! Building the one probe a valid request asks for (§5).

use aya_ebpf::helpers::generated::bpf_get_prandom_u32;
use reverse_tr_common::{PROBE_MAX_LEN, Probe, constants::PROBE_RANDOM_LEN};

use crate::{frame::Frame, parse::Packet};

/// Writes `probe` into `frame` as the rewrite of `request`: addressed back
/// to the requester from the address the request was sent to, inheriting
/// its TOS/ID/flags or traffic class/flow label (§5.1). Returns the packet
/// length, or 0 if it cannot be built.
#[inline(always)]
pub fn build(frame: &mut Frame, request: &Packet, probe: &Probe) -> usize {
    let ip = request.reply_to(request.source());
    frame.reply_to(&request.ethernet);
    match <&mut [u8; PROBE_MAX_LEN]>::try_from(&mut frame.packet[..PROBE_MAX_LEN]) {
        Ok(packet) => probe.build(&ip, packet),
        Err(_) => 0,
    }
}

/// Server-chosen payload octets: the client must never pick bytes the
/// server emits (§5.5, §10.2).
#[inline(always)]
pub fn random_octets() -> [u8; PROBE_RANDOM_LEN] {
    // SAFETY: plain helper calls without arguments.
    let (high, low) = unsafe { (bpf_get_prandom_u32(), bpf_get_prandom_u32()) };
    let [a, b, c, d] = high.to_ne_bytes();
    let [e, f, ..] = low.to_ne_bytes();
    [a, b, c, d, e, f]
}
