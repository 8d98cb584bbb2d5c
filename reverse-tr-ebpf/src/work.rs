//! How the program's stages hand a packet on to each other.
//!
//! Each stage is a program of its own, entered by tail call, so each gets
//! the full 512-octet BPF stack: the wire builders' buffers do not fit one
//! stack together with parsing and matching. What a stage leaves for the
//! next lives in a per-CPU scratch value; a TC run is not interrupted by
//! another run on the same CPU, and the stages of one packet run back to
//! back on it.

use aya_ebpf::{
    btf_maps::{PerCpuArray, ProgramArray},
    macros::btf_map,
    programs::TcContext,
};
use reverse_tr_common::{Outcome, Probe, session::SessionKey};

use crate::{frame::Frame, parse::Packet};

/// Stage validating a request (`request` program).
pub const REQUEST: u32 = 0;
/// Stage matching an answer to its session (`matched` program).
pub const MATCH: u32 = 1;
/// Stage building and sending a probe or response (`send` program).
pub const SEND: u32 = 2;

/// The stage programs, filled in by the loader.
#[btf_map]
pub static STAGES: ProgramArray<3> = ProgramArray::new();

/// What the `send` stage sends.
#[derive(Clone, Copy)]
pub enum Outgoing {
    /// The probe for the request in `Work::packet`.
    Probe(Probe),
    /// A response to `client` (16 octets, IPv4-mapped for IPv4) for the
    /// request in `Work::packet`.
    Response {
        client: [u8; 16],
        identifier: u16,
        outcome: Outcome,
    },
}

/// What the entry program's `answer::recognise` found for the `matched` stage.
#[derive(Clone, Copy)]
pub struct Answered {
    /// The session's key.
    pub key: SessionKey,
    /// When the probe left.
    pub t0: u64,
    /// A TCP SYN-ACK, to be handed to the host stack too.
    pub syn_ack: bool,
}

/// The scratch state of one packet's way through the stages.
pub struct Work {
    pub packet: Packet,
    pub answered: Answered,
    pub outgoing: Outgoing,
    pub frame: Frame,
}

/// Map values are octet arrays to the kernel; `Work` is laid over them
/// (Rust enums have no BTF the kernel would accept).
const WORK_WORDS: usize = size_of::<Work>().div_ceil(8);

#[btf_map]
static WORK: PerCpuArray<[u64; WORK_WORDS], 1> = PerCpuArray::new();

/// This CPU's scratch state.
#[inline(always)]
pub fn work() -> Option<&'static mut Work> {
    const { assert!(align_of::<Work>() <= 8, "map values are 8-aligned") };
    let words = WORK.get_ptr_mut(0)?;
    // SAFETY: the value is WORK_WORDS × 8 ≥ size_of::<Work>() octets,
    // 8-aligned, lives as long as the map and belongs to this CPU, and no
    // other reference to it exists during this stage (see the module
    // doc). Stages only read fields an earlier stage of the same packet
    // wrote; all of them are plain data valid for the bits written.
    Some(unsafe { &mut *words.cast::<Work>() })
}

/// Continues with `stage`; returns only if the tail call failed.
#[inline(always)]
pub fn next(ctx: &TcContext, stage: u32) {
    // SAFETY: `ctx` is this program's context and STAGES a program array.
    unsafe { STAGES.tail_call(ctx, stage) };
}
