//! Turning the received frame into one we built and sending it back out of
//! the interface it came in on (§5.9, §7.6).
//!
//! Frames are assembled in the per-CPU scratch state (`work`), not on the
//! 512-octet BPF stack.

use aya_ebpf::{
    EbpfContext as _,
    bindings::{TC_ACT_SHOT, TC_ACT_UNSPEC},
    helpers::generated::{bpf_redirect, bpf_skb_store_bytes},
    programs::TcContext,
};
use reverse_tr_common::{
    RESPONSE_MAX_LEN,
    counter::Counter,
    packet::{ETHERNET_HEADER_LEN, ethernet::field},
};

use crate::{maps::count, skb};

/// Largest packet we send (a success response; probes are shorter).
pub const PACKET_MAX_LEN: usize = RESPONSE_MAX_LEN;
/// `BPF_F_INVALIDATE_HASH`: the flow hash of the old packet no longer applies.
const INVALIDATE_HASH: u64 = 1 << 1;

/// An outgoing frame: Ethernet header directly followed by the packet.
#[repr(C)]
pub struct Frame {
    pub ethernet: [u8; ETHERNET_HEADER_LEN],
    pub packet: [u8; PACKET_MAX_LEN],
}

impl Frame {
    /// Addresses the frame back to the sender of `ethernet` (MACs
    /// swapped, EtherType kept). The packet is not cleared: the builders
    /// write (or zero) every octet of the length they return.
    #[inline(always)]
    pub fn reply_to(&mut self, ethernet: &[u8; ETHERNET_HEADER_LEN]) {
        self.ethernet[field::DESTINATION].copy_from_slice(&ethernet[field::SOURCE]);
        self.ethernet[field::SOURCE].copy_from_slice(&ethernet[field::DESTINATION]);
        self.ethernet[field::ETHERTYPE].copy_from_slice(&ethernet[field::ETHERTYPE]);
    }
}

/// Replaces the received frame by `frame` with a packet of `len` octets and
/// redirects it to the egress of the arrival interface. The whole frame is
/// written at once, which also drops IPv4 options and anything after the
/// IP length (§5.1).
#[inline(always)]
pub fn send(ctx: &mut TcContext, frame: &Frame, len: usize) -> i32 {
    let frame_len = ETHERNET_HEADER_LEN + len;
    // Keeps the length visibly bounded for the verifier.
    if len == 0 || len > PACKET_MAX_LEN {
        count(Counter::Failures);
        return TC_ACT_UNSPEC;
    }
    if ctx.change_tail(frame_len as u32, 0).is_err() {
        count(Counter::Failures);
        return TC_ACT_UNSPEC;
    }
    // SAFETY: `frame` is a map value of ETHERNET_HEADER_LEN + PACKET_MAX_LEN octets
    // (repr(C), no padding) and `frame_len` is at most that; the helper
    // copies it into the packet, which `change_tail` made exactly that long.
    let stored = unsafe {
        bpf_skb_store_bytes(
            ctx.as_ptr().cast(),
            0,
            core::ptr::from_ref(frame).cast(),
            frame_len as u32,
            INVALIDATE_HASH,
        )
    };
    if stored != 0 {
        // The packet is half rewritten: never let it through.
        count(Counter::Failures);
        return TC_ACT_SHOT;
    }
    // SAFETY: a plain helper call; it records the target device and
    // returns the verdict (TC_ACT_REDIRECT).
    unsafe { bpf_redirect(skb::ifindex(ctx), 0) as i32 }
}
