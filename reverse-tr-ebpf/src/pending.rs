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

/// The count under `key`; negative (a lost race) reads as zero.
#[inline(always)]
fn pending(counts: &Counts, key: &[u8; 16]) -> u32 {
    // SAFETY: the value is copied out at once.
    let count = unsafe { counts.get(key).copied() }.unwrap_or(0);
    if count > i32::MAX as u32 { 0 } else { count }
}

/// Refuses a new session of `client` if its source or prefix holds its
/// cap of pending sessions.
#[inline(always)]
pub fn check(policy: &Policy, client: &[u8; 16]) -> Result<(), Counter> {
    if policy.source_sessions == 0 && policy.prefix_sessions == 0 {
        return Ok(());
    }
    let (source, prefix) = keys(client);
    if policy.source_sessions != 0 && pending(&SOURCE_SESSIONS, &source) >= policy.source_sessions {
        return Err(Counter::SourceCapped);
    }
    if policy.prefix_sessions != 0 && pending(&PREFIX_SESSIONS, &prefix) >= policy.prefix_sessions {
        return Err(Counter::PrefixCapped);
    }
    Ok(())
}

/// Counts a new session of `client`; false if a count map is full.
#[inline(always)]
pub fn add(client: &[u8; 16]) -> bool {
    let (source, prefix) = keys(client);
    if !add_one(&SOURCE_SESSIONS, &source) {
        return false;
    }
    if !add_one(&PREFIX_SESSIONS, &prefix) {
        release_one(&SOURCE_SESSIONS, &source);
        return false;
    }
    true
}

/// Uncounts an ended session of `client`.
#[inline(always)]
pub fn release(client: &[u8; 16]) {
    let (source, prefix) = keys(client);
    release_one(&SOURCE_SESSIONS, &source);
    release_one(&PREFIX_SESSIONS, &prefix);
}

#[inline(always)]
fn add_one(counts: &Counts, key: &[u8; 16]) -> bool {
    if increment(counts, key, 1) {
        return true;
    }
    match counts.insert(key, &1, u64::from(BPF_NOEXIST)) {
        Ok(()) => true,
        // Another CPU inserted it meanwhile.
        Err(error) if error == -EEXIST => increment(counts, key, 1),
        Err(_) => false,
    }
}

#[inline(always)]
fn release_one(counts: &Counts, key: &[u8; 16]) {
    // -1 in two's complement; an absent entry (removed by a race) stays absent.
    if increment(counts, key, u32::MAX) && pending(counts, key) == 0 {
        let _ = counts.remove(key);
    }
}

/// Adds `delta` to the count under `key` atomically; false if absent.
#[inline(always)]
fn increment(counts: &Counts, key: &[u8; 16], delta: u32) -> bool {
    let Some(count) = counts.get_ptr_mut(key) else {
        return false;
    };
    // SAFETY: `count` points to a live map value (preallocated: it stays
    // memory of this map even if removed meanwhile); the add is atomic and
    // its result unused, so it compiles to BPF's plain atomic add.
    unsafe { atomic_xadd::<u32, u32, { AtomicOrdering::Relaxed }>(count, delta) };
    true
}
