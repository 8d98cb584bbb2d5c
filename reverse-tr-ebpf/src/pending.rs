//! Sessions pending per source (/32, /64) and per source prefix (/24,
//! /48), so that no source or prefix holds more than its share of the
//! table (§10.3). Counted whatever the caps, so a policy reload that
//! switches a cap on finds the counts right.
//!
//! Requests, answers and the sweeper run on any CPU, so counts change by
//! atomic adds (`lock xadd`; Rust's atomic types need compare-and-swap,
//! which the BPF target does not declare). An entry goes when its count
//! reaches zero. A request racing that removal on another CPU can lose
//! its increment (the source then holds one session more than its cap
//! allows until it ends); a count read as negative is taken as zero.

use core::intrinsics::{AtomicOrdering, atomic_xadd};

use aya_ebpf::{bindings::BPF_NOEXIST, btf_maps::HashMap, macros::btf_map};
use reverse_tr_common::{
    Family,
    constants::DEFAULT_CAPACITY,
    counter::Counter,
    policy::{Policy, prefix_key, source_key},
};

/// Pending sessions per source key; the loader sizes it like the table
/// (one entry per session at most).
#[btf_map]
static SOURCE_SESSIONS: HashMap<[u8; 16], u32, { DEFAULT_CAPACITY as usize }> = HashMap::new();

/// Pending sessions per prefix key; sized like the table.
#[btf_map]
static PREFIX_SESSIONS: HashMap<[u8; 16], u32, { DEFAULT_CAPACITY as usize }> = HashMap::new();

type Counts = HashMap<[u8; 16], u32, { DEFAULT_CAPACITY as usize }>;

const EEXIST: i32 = 17;

/// The source and prefix keys of a session's client (16 octets, IPv4
/// mapped; an IPv6 client is never IPv4-mapped, `requester` refuses it).
#[inline(always)]
fn keys(client: &[u8; 16]) -> ([u8; 16], [u8; 16]) {
    let mapped = client[..10].iter().all(|octet| *octet == 0) && client[10..12] == [0xFF; 2];
    let family = if mapped { Family::V4 } else { Family::V6 };
    (source_key(family, *client), prefix_key(family, *client))
}

/// A count as read; negative (a lost race) reads as zero.
#[inline(always)]
fn pending(count: u32) -> u32 {
    if count > i32::MAX as u32 { 0 } else { count }
}

/// Counts a new session of `client` unless its source or prefix already
/// holds its cap of pending sessions (or a count map is full); undone by
/// [`release`]. One lookup per map: checking and counting go together.
#[inline(always)]
pub fn reserve(policy: &Policy, client: &[u8; 16]) -> Result<(), Counter> {
    let (source, prefix) = keys(client);
    add_one(
        &SOURCE_SESSIONS,
        &source,
        policy.source_sessions,
        Counter::SourceCapped,
    )?;
    if let Err(counter) = add_one(
        &PREFIX_SESSIONS,
        &prefix,
        policy.prefix_sessions,
        Counter::PrefixCapped,
    ) {
        release_one(&SOURCE_SESSIONS, &source);
        return Err(counter);
    }
    Ok(())
}

/// Uncounts an ended session of `client`.
#[inline(always)]
pub fn release(client: &[u8; 16]) {
    let (source, prefix) = keys(client);
    release_one(&SOURCE_SESSIONS, &source);
    release_one(&PREFIX_SESSIONS, &prefix);
}

/// Adds one to the count under `key` unless it holds `cap` (0: no cap).
#[inline(always)]
fn add_one(counts: &Counts, key: &[u8; 16], cap: u32, capped: Counter) -> Result<(), Counter> {
    let count = match counts.get_ptr_mut(key) {
        Some(count) => count,
        None => match counts.insert(key, &1, u64::from(BPF_NOEXIST)) {
            Ok(()) => return Ok(()),
            // Another CPU inserted it meanwhile.
            Err(error) if error == -EEXIST => counts.get_ptr_mut(key).ok_or(Counter::TableFull)?,
            Err(_) => return Err(Counter::TableFull),
        },
    };
    // SAFETY: `count` points to a live map value (preallocated: it stays
    // memory of this map even if removed meanwhile); the add is atomic.
    unsafe {
        if cap != 0 && pending(*count) >= cap {
            return Err(capped);
        }
        atomic_xadd::<u32, u32, { AtomicOrdering::Relaxed }>(count, 1);
    }
    Ok(())
}

/// Subtracts one from the count under `key` and removes the entry at
/// zero; an absent entry (removed by a race) stays absent.
#[inline(always)]
fn release_one(counts: &Counts, key: &[u8; 16]) {
    let Some(count) = counts.get_ptr_mut(key) else {
        return;
    };
    // SAFETY: as in `add_one`; -1 in two's complement. The result is read
    // back rather than returned by the add, which would need BPF's
    // fetch-and-add (kernel 5.12+, LLVM's v3 CPU).
    let left = unsafe {
        atomic_xadd::<u32, u32, { AtomicOrdering::Relaxed }>(count, u32::MAX);
        pending(*count)
    };
    if left == 0 {
        let _ = counts.remove(key);
    }
}
