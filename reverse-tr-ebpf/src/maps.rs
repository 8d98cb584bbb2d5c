//! The program's maps and load-time constants, and the two ways it reports
//! to userspace: counters and events.

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP, bpf_timer},
    btf_maps::{Array, HashMap, PerCpuArray, Queue, RingBuf},
    helpers::generated::bpf_ringbuf_query,
    macros::btf_map,
};
use reverse_tr_common::{
    constants::{DEFAULT_CAPACITY, DEFAULT_TIMEOUT_NS},
    counter::Counter,
    event::Event,
    session::{DEADLINES_PER_SESSION, Deadline, Session, SessionKey},
};

/// Session timeout in nanoseconds; the loader overrides it.
#[unsafe(no_mangle)]
static TIMEOUT_NS: u64 = DEFAULT_TIMEOUT_NS;

/// The session timeout the loader chose.
#[inline(always)]
pub fn timeout_ns() -> u64 {
    // SAFETY: a plain read of a global the loader fixes before loading; the
    // volatile read keeps the compiler from folding the default in.
    unsafe { core::ptr::read_volatile(&TIMEOUT_NS) }
}

/// Pending sessions; the loader sets the capacity.
#[btf_map]
pub static SESSIONS: HashMap<SessionKey, Session, { DEFAULT_CAPACITY as usize }> = HashMap::new();

/// Session deadlines in creation order, drained by the sweeper; the loader
/// sizes it `DEADLINES_PER_SESSION` times the capacity.
#[btf_map]
pub static DEADLINES: Queue<Deadline, { (DEFAULT_CAPACITY * DEADLINES_PER_SESSION) as usize }> =
    Queue::new();

/// Holder of the one sweeper timer (a timer must live in a map value).
#[repr(C)]
pub struct Sweeper {
    pub timer: bpf_timer,
}

/// The sweeper's one-element array.
#[btf_map]
pub static SWEEPER: Array<Sweeper, 1> = Array::new();

/// Session events for the loader. 4 MiB holds about 70,000 events, so a
/// burst of timeouts waits in the sweeper at most a few ticks.
#[btf_map]
pub static EVENTS: RingBuf<Event, { 4 << 20 }> = RingBuf::new();

/// Per-CPU counters (no 64-bit atomics on BPF).
#[btf_map]
pub static COUNTERS: PerCpuArray<u64, { Counter::COUNT as usize }> = PerCpuArray::new();

/// Adds one to `counter` on this CPU.
#[inline(always)]
pub fn count(counter: Counter) {
    if let Some(value) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: the pointer is to this CPU's slot of a per-CPU array; no
        // other program run touches it concurrently.
        unsafe { *value += 1 };
    }
}

/// Sends `event` to the loader, written in place in the ring (no copy on
/// the stack); counts it as lost if the ring is full. It does not wake the
/// reader: a wakeup (an interrupt to this CPU) cost ~5 µs per event here,
/// five times the rest of the request path (BENCHMARKS.md); the sweeper
/// wakes it once per tick instead ([`wake_reader`]).
#[inline(always)]
pub fn report(event: Event) {
    match EVENTS.reserve(0) {
        Some(mut entry) => {
            entry.write(event);
            entry.submit(u64::from(BPF_RB_NO_WAKEUP));
        }
        None => count(Counter::EventsLost),
    }
}

/// Wakes the loader if events wait in the ring, by discarding an empty
/// record with a forced wakeup (readers skip discarded records).
#[inline(always)]
pub fn wake_reader() {
    let ring = core::ptr::from_ref(&EVENTS).cast_mut().cast();
    // SAFETY: `ring` is the ring buffer map; the query only reads it.
    let waiting = unsafe { bpf_ringbuf_query(ring, u64::from(BPF_RB_AVAIL_DATA)) };
    if waiting > 0
        && let Some(entry) = EVENTS.reserve(0)
    {
        entry.discard(u64::from(BPF_RB_FORCE_WAKEUP));
    }
}
