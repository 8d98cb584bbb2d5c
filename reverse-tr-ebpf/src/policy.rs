//! The operator's policy on requests (§10.3, §10.4): allow and deny lists,
//! the shortest request admitted, and token buckets per source address
//! and per source prefix. The loader writes the maps; zeros admit all.
//!
//! Buckets live in LRU hashes shared by all CPUs and are updated without a
//! lock: two CPUs updating one bucket at the same instant can each admit a
//! request on the same token, so a source gets at most one extra request
//! per CPU racing. A per-CPU map would instead multiply every limit by the
//! number of CPUs the source's packets are spread over.

use aya_ebpf::{
    bindings::BPF_ANY,
    btf_maps::{Array, LpmTrie, LruHashMap, lpm_trie::Key},
    macros::btf_map,
};
use reverse_tr_common::{
    counter::Counter,
    policy::{Bucket, Policy, Rate, prefix_key},
};

use crate::{
    parse::{ETH_LEN, Packet},
    session,
};

/// Sources (or prefixes) tracked per bucket map; the least recently seen
/// is forgotten when full, which gives it a fresh bucket.
const BUCKETS: usize = 65536;
/// Entries per allow or deny list.
pub const LIST_CAPACITY: usize = 16384;

/// The policy; element 0, written by the loader.
#[btf_map]
static POLICY: Array<Policy, 1> = Array::new();

/// Allowed source prefixes over 16-octet (IPv4-mapped) addresses; only
/// consulted when [`Policy::allow_listed_only`] is set.
#[btf_map]
static ALLOW: LpmTrie<[u8; 16], u8, LIST_CAPACITY> = LpmTrie::new();

/// Denied source prefixes; deny wins over allow.
#[btf_map]
static DENY: LpmTrie<[u8; 16], u8, LIST_CAPACITY> = LpmTrie::new();

/// Buckets per source address.
#[btf_map]
static SOURCE_BUCKETS: LruHashMap<[u8; 16], Bucket, BUCKETS> = LruHashMap::new();

/// Buckets per source prefix (/24, /48).
#[btf_map]
static PREFIX_BUCKETS: LruHashMap<[u8; 16], Bucket, BUCKETS> = LruHashMap::new();

/// The current policy (the zero policy if the map cannot be read).
#[inline(always)]
pub fn current() -> Policy {
    POLICY.get(0).copied().unwrap_or_default()
}

/// Admits the request in `packet` or names the counter of its drop.
#[inline(always)]
pub fn admit(policy: &Policy, packet: &Packet) -> Result<(), Counter> {
    let source = packet.source();
    // A lookup key is the whole 16-octet address.
    let key = Key::new(128, source);
    // A trie lookup costs tens of nanoseconds even when the trie is empty.
    let allowed = policy.allow_listed_only == 0 || ALLOW.get(&key).is_some();
    if !allowed || (policy.deny_listed != 0 && DENY.get(&key).is_some()) {
        return Err(Counter::Denied);
    }
    let ip_len = packet.transport_at - ETH_LEN + packet.transport_len;
    if ip_len < policy.min_request_len(packet.family) {
        return Err(Counter::TooShort);
    }
    if !policy.source.is_on() && !policy.prefix.is_on() {
        // The clock is not free in a VM (kvm-clock): read it only for buckets.
        return Ok(());
    }
    let now = session::now();
    if !take(&SOURCE_BUCKETS, &source, &policy.source, now)
        || !take(
            &PREFIX_BUCKETS,
            &prefix_key(packet.family, source),
            &policy.prefix,
            now,
        )
    {
        return Err(Counter::RateLimited);
    }
    Ok(())
}

/// Takes one request from the bucket of `key`, creating it full.
#[inline(always)]
fn take(
    buckets: &LruHashMap<[u8; 16], Bucket, BUCKETS>,
    key: &[u8; 16],
    rate: &Rate,
    now: u64,
) -> bool {
    if !rate.is_on() {
        return true;
    }
    match buckets.get_ptr_mut(key) {
        // SAFETY: the pointer is to a live map value; a racing update from
        // another CPU can only lose one of two refills (module doc).
        Some(bucket) => unsafe { (*bucket).take(rate, now) },
        None => {
            // If the insert fails the request still passes: a bucket map
            // that cannot insert is no reason to refuse service.
            let _ = buckets.insert(key, &Bucket::first(rate, now), u64::from(BPF_ANY));
            true
        }
    }
}
