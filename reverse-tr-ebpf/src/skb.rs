//! Fields of the socket buffer that aya's `TcContext` does not expose.

use aya_ebpf::{EbpfContext as _, bindings::__sk_buff, programs::TcContext};

/// `skb->pkt_type` for frames addressed to this host at link level.
pub const PACKET_HOST: u32 = 0;

#[inline(always)]
fn raw(ctx: &TcContext) -> *const __sk_buff {
    ctx.as_ptr().cast::<__sk_buff>().cast_const()
}

/// Link-level classification of the frame (§4.1 step 1).
#[inline(always)]
pub fn pkt_type(ctx: &TcContext) -> u32 {
    // SAFETY: the context pointer of a TC program is a valid `__sk_buff`
    // for the whole run, and the verifier allows reading this field.
    unsafe { (*raw(ctx)).pkt_type }
}

/// The packet mark (see `answer::CLONE_MARK`).
#[inline(always)]
pub fn mark(ctx: &TcContext) -> u32 {
    // SAFETY: as in `pkt_type`.
    unsafe { (*raw(ctx)).mark }
}

/// The interface the frame arrived on.
#[inline(always)]
pub fn ifindex(ctx: &TcContext) -> u32 {
    // SAFETY: as in `pkt_type`.
    unsafe { (*raw(ctx)).ifindex }
}
