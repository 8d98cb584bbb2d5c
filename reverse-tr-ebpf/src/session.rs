//! The session table (§8): insertion, lookup, removal, and expiry by one
//! sweeper timer draining a FIFO of deadlines (DESIGN.md "Session expiry":
//! one `bpf_timer` per session runs out of memory after a few hundred arms
//! and would leak every later session).

use core::ffi::c_void;

use aya_ebpf::{
    bindings::{BPF_NOEXIST, bpf_timer},
    helpers::generated::{
        bpf_ktime_get_ns, bpf_loop, bpf_timer_init, bpf_timer_set_callback, bpf_timer_start,
    },
};
use reverse_tr_common::{
    counter::Counter,
    event::{Event, EventKind},
    session::{Deadline, Session, SessionKey},
};

use crate::{
    maps::{DEADLINES, SESSIONS, SWEEPER, Sweeper, count, report, wake_reader},
    pending,
};

/// Time between sweeps: a session lives at most this much past its deadline.
const SWEEP_INTERVAL_NS: u64 = 20_000_000;
/// Most sessions one sweep expires, bounding one tick's run time
/// (about 0.5 µs each, DESIGN.md).
const SWEEP_BATCH: u32 = 4096;
const CLOCK_MONOTONIC: u64 = 1;
const EEXIST: i32 = 17;
const EBUSY: i64 = 16;

/// Why a session was not created.
pub enum Refusal {
    /// The key is pending (§8.3).
    Exists,
    /// The table or the deadline FIFO is full.
    Full,
}

/// Monotonic nanoseconds.
#[inline(always)]
pub fn now() -> u64 {
    // SAFETY: a plain helper call without arguments.
    unsafe { bpf_ktime_get_ns() }
}

/// Inserts `session` under `key` if absent and queues its deadline; the
/// caller has counted it for its client (`pending::reserve`) and undoes
/// that if this fails.
#[inline(always)]
pub fn create(key: &SessionKey, session: &Session) -> Result<(), Refusal> {
    match SESSIONS.insert(key, session, u64::from(BPF_NOEXIST)) {
        Ok(()) => {}
        Err(error) if error == -EEXIST => return Err(Refusal::Exists),
        Err(_) => return Err(Refusal::Full),
    }
    let deadline = Deadline {
        key: *key,
        padding: [0; 4],
        deadline: session.deadline,
    };
    if DEADLINES.push(&deadline, 0).is_err() {
        // Without a deadline nothing would ever remove it: undo.
        let _ = SESSIONS.remove(key);
        return Err(Refusal::Full);
    }
    Ok(())
}

/// A copy of the session under `key`.
#[inline(always)]
pub fn get(key: &SessionKey) -> Option<Session> {
    // SAFETY: the value is copied out at once; a concurrent removal can
    // only make the copy stale, which `remove` then reports.
    unsafe { SESSIONS.get(key).copied() }
}

/// Removes the session under `key` and uncounts it; false if it was
/// already gone (the sweeper or another answer took it).
#[inline(always)]
pub fn remove(key: &SessionKey) -> bool {
    let removed = SESSIONS.remove(key).is_ok();
    if removed {
        pending::release(&key.address);
    }
    removed
}

/// Starts the sweeper timer, or restarts it if it already exists; returns
/// 0 or the failing helper's error.
#[inline(always)]
pub fn start_sweeper() -> i64 {
    let Some(sweeper) = SWEEPER.get_ptr_mut(0) else {
        return -1;
    };
    // SAFETY: `sweeper` points to the array's only element, which lives as
    // long as the map; the timer helpers take a pointer to its timer.
    unsafe {
        let timer: *mut bpf_timer = &raw mut (*sweeper).timer;
        let map = core::ptr::from_ref(&SWEEPER).cast_mut().cast();
        let init = bpf_timer_init(timer, map, CLOCK_MONOTONIC);
        if init != 0 && init != -EBUSY {
            return init;
        }
        let callback = on_tick as *const ();
        let set = bpf_timer_set_callback(timer, callback.cast_mut().cast());
        if set != 0 {
            return set;
        }
        bpf_timer_start(timer, SWEEP_INTERVAL_NS, 0)
    }
}

/// Timer callback: sweep, then arm the next tick.
extern "C" fn on_tick(_map: *mut c_void, _key: *mut u32, sweeper: *mut Sweeper) -> i32 {
    sweep();
    // SAFETY: the kernel passes the timer's own map value.
    unsafe { bpf_timer_start(&raw mut (*sweeper).timer, SWEEP_INTERVAL_NS, 0) };
    0
}

/// State of one sweep across `bpf_loop` iterations.
#[repr(C)]
struct Sweep {
    now: u64,
}

/// Expires every session whose deadline has passed, up to `SWEEP_BATCH`.
#[inline(always)]
pub fn sweep() {
    count(Counter::Sweeps);
    let mut state = Sweep { now: now() };
    let callback = expire_one as *const ();
    // SAFETY: `state` outlives the call; the callback has the signature
    // bpf_loop expects and only reads `state`.
    unsafe {
        bpf_loop(
            SWEEP_BATCH,
            callback.cast_mut().cast(),
            (&raw mut state).cast(),
            0,
        );
    }
    // Events of this tick and those the packet paths left (see `report`).
    wake_reader();
}

/// One `bpf_loop` step: expire the FIFO's head if it is due. Returns 1 to
/// stop (FIFO empty or head not due), 0 to go on. Expiry never waits for
/// the event ring: a timeout whose event does not fit is counted lost.
extern "C" fn expire_one(_index: u32, state: *mut c_void) -> i64 {
    // SAFETY: `sweep` passes a pointer to its live `Sweep`.
    let now = unsafe { (*state.cast::<Sweep>()).now };
    let Ok(Some(head)) = DEADLINES.peek() else {
        return 1;
    };
    if head.deadline > now {
        return 1;
    }
    // Pop what is actually at the head (a concurrent sweep may have moved it).
    let Ok(Some(due)) = DEADLINES.pop() else {
        return 1;
    };
    // A stale entry (session answered, or a newer session under the same
    // key) is dropped without touching the live session.
    let live = get(&due.key).is_some_and(|session| session.deadline == due.deadline);
    if live && remove(&due.key) {
        count(Counter::TimedOut);
        report(Event::new(EventKind::TimedOut, due.key));
    }
    0
}
