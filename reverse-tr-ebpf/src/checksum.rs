//! Checksum state of the socket buffer. The checksums themselves are
//! computed in full by the common crate's builders (`checksum` there) and
//! written into the packet: nothing is left for a device to finish.

use aya_ebpf::{bindings::bpf_adj_room_mode::BPF_ADJ_ROOM_MAC, programs::TcContext};

/// Octets cut from a TCP answer by [`forget_partial_checksum`]: more
/// than an Ethernet and IPv6 header (54), so the checksum start lies before
/// the data afterwards.
const CHECKSUM_CUT: u32 = 64;

/// Makes the kernel forget a checksum left for the device to finish.
///
/// A locally generated TCP segment (a SYN-ACK from a host behind veths)
/// can arrive as CHECKSUM_PARTIAL: its checksum start and offset survive
/// our rewrite, and a device without checksum offload would then write a
/// "checksum" into the response's hop address (v4: 0xFFFF into the zero
/// octets of the mapped address; v6: the pseudo-header sum into the
/// address), corrupting it (measured in the lab: the response never
/// arrives). Cutting octets right after the Ethernet header
/// (`bpf_skb_adjust_room`) until the checksum start lies before the data
/// makes the kernel drop the partial state (CHECKSUM_NONE); the tail is
/// grown first so the cut leaves the minimum length it insists on. The
/// frame is rewritten whole afterwards anyway. False if the packet could
/// not be reshaped.
#[inline(always)]
pub fn forget_partial_checksum(ctx: &mut TcContext) -> bool {
    let len = ctx.len();
    ctx.change_tail(len + CHECKSUM_CUT, 0).is_ok()
        && ctx
            .adjust_room(-(CHECKSUM_CUT as i32), BPF_ADJ_ROOM_MAC, 0)
            .is_ok()
}
