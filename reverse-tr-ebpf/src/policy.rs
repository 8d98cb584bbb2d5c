//! The operator's policy on requests (§10.2–§10.4): sources that can
//! never be requesters, the host's addresses, allow and deny lists, the
//! shortest request admitted, budgets of unpadded requests, token buckets
//! per source (/32, /64), per source prefix (/24, /48) and server-wide,
//! and caps on pending sessions (`pending`). The loader writes the maps;
//! zeros admit all but the built-in refusals.
//!
//! Buckets live in maps shared by all CPUs and are updated without a
//! lock: two CPUs updating one bucket at the same instant can each admit a
//! request on the same token, so a bucket admits at most one extra
//! request per CPU racing. A per-CPU map would instead multiply every
//! limit by the number of CPUs the packets are spread over.

use aya_ebpf::{
    bindings::BPF_ANY,
    btf_maps::{Array, HashMap, LpmTrie, LruHashMap, lpm_trie::Key},
    macros::btf_map,
};
use reverse_tr_common::{
    counter::Counter,
    packet::ETHERNET_HEADER_LEN,
    policy::{
        Bucket, GLOBAL_BUCKETS, GLOBAL_NEW_SOURCES, GLOBAL_SESSIONS, GLOBAL_UNPADDED, Policy, Rate,
        SourceState, padded_len, prefix_key, source_key,
    },
    requester,
};

use crate::{maps::count, parse::Packet, pending, session};

/// Sources (or prefixes) tracked per bucket map; the least recently seen
/// is forgotten when full, and comes back as a new source.
const BUCKETS: usize = 65536;
/// Entries per allow or deny list.
pub const LIST_CAPACITY: usize = 16384;
/// Addresses of the host the loader can list.
const LOCAL_CAPACITY: usize = 256;

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

/// The host's addresses (16 octets, IPv4 mapped), kept current by the
/// loader: requests from them are refused, and with
/// [`Policy::local_only`] only requests to them are served.
#[btf_map]
static LOCAL_ADDRESSES: HashMap<[u8; 16], u8, LOCAL_CAPACITY> = HashMap::new();

/// State per source ([`source_key`]).
#[btf_map]
static SOURCE_STATE: LruHashMap<[u8; 16], SourceState, BUCKETS> = LruHashMap::new();

/// Buckets per source prefix (/24, /48).
#[btf_map]
static PREFIX_BUCKETS: LruHashMap<[u8; 16], Bucket, BUCKETS> = LruHashMap::new();

/// The server-wide buckets, indexed by `GLOBAL_*`.
#[btf_map]
static GLOBAL: Array<Bucket, { GLOBAL_BUCKETS as usize }> = Array::new();

/// The current policy, in place in its map.
#[inline(always)]
pub fn current() -> Option<&'static Policy> {
    POLICY.get(0)
}

/// Admits the request in `packet`, asking for probe `protocol`, or names
/// the counter of its drop. Cheapest checks first.
#[inline(always)]
pub fn admit(policy: &Policy, packet: &Packet, protocol: u8) -> Result<(), Counter> {
    let source = packet.source();
    if let Some(refusal) = requester::refusal(packet.family, &source, policy.refuse_private != 0) {
        return Err(Counter::refused(refusal));
    }
    if LOCAL_ADDRESSES.get_ptr(&source).is_some() {
        return Err(Counter::RefusedOwn);
    }
    if policy.local_only != 0 && LOCAL_ADDRESSES.get_ptr(&packet.destination()).is_none() {
        return Err(Counter::NotLocal);
    }
    // A lookup key is the whole 16-octet address.
    let key = Key::new(128, source);
    // A trie lookup costs tens of nanoseconds even when the trie is empty.
    let allowed = policy.allow_listed_only == 0 || ALLOW.get(&key).is_some();
    if !allowed || (policy.deny_listed != 0 && DENY.get(&key).is_some()) {
        return Err(Counter::Denied);
    }
    let ip_len = packet.transport_at - ETHERNET_HEADER_LEN + packet.transport_len;
    if ip_len < policy.min_request_len(packet.family) {
        return Err(Counter::TooShort);
    }
    let padded = ip_len >= padded_len(packet.family, protocol);
    if !padded && policy.refuse_unpadded != 0 {
        return Err(Counter::UnpaddedLimited);
    }
    // The clock is not free in a VM (kvm-clock): read it only for buckets.
    if policy.tracks_sources() || policy.prefix.is_on() || (!padded && policy.unpadded.is_on()) {
        let now = session::now();
        if policy.tracks_sources() {
            take_source(policy, &source_key(packet.family, source), padded, now)?;
        }
        if !padded && !take_global(GLOBAL_UNPADDED, &policy.unpadded, now) {
            return Err(Counter::UnpaddedLimited);
        }
        let prefix = prefix_key(packet.family, source);
        if !take(&PREFIX_BUCKETS, &prefix, &policy.prefix, now) {
            return Err(Counter::RateLimited);
        }
    }
    if !padded {
        count(Counter::Unpadded);
    }
    Ok(())
}

/// Takes a request from the state of source `key`; a source without
/// state is taken on only within the rate of new sources, and starts with
/// small buckets ([`Bucket::first`]).
#[inline(always)]
fn take_source(policy: &Policy, key: &[u8; 16], padded: bool, now: u64) -> Result<(), Counter> {
    let Some(state) = SOURCE_STATE.get_ptr_mut(key) else {
        if !take_global(GLOBAL_NEW_SOURCES, &policy.new_sources, now) {
            return Err(Counter::NewSourceLimited);
        }
        let state = SourceState {
            requests: Bucket::first(&policy.source, now),
            unpadded: Bucket::first(&policy.unpadded_source, now),
        };
        // If the insert fails the request still passes: a state map that
        // cannot insert is no reason to refuse service.
        let _ = SOURCE_STATE.insert(key, &state, u64::from(BPF_ANY));
        return Ok(());
    };
    // SAFETY: the pointer is to a live map value; a racing update from
    // another CPU can only lose one of two refills (module doc).
    let state = unsafe { &mut *state };
    if !padded
        && policy.unpadded_source.is_on()
        && !state.unpadded.take(&policy.unpadded_source, now)
    {
        return Err(Counter::UnpaddedLimited);
    }
    if policy.source.is_on() && !state.requests.take(&policy.source, now) {
        return Err(Counter::RateLimited);
    }
    Ok(())
}

/// Admits a session for `client` (16 octets) within the caps of pending
/// sessions and the server-wide session rate, counting it
/// (`pending::reserve`; the caller releases it if the session is not
/// opened after all).
#[inline(always)]
pub fn admit_session(policy: &Policy, client: &[u8; 16]) -> Result<(), Counter> {
    pending::reserve(policy, client)?;
    if policy.sessions.is_on() && !take_global(GLOBAL_SESSIONS, &policy.sessions, session::now()) {
        pending::release(client);
        return Err(Counter::GlobalLimited);
    }
    Ok(())
}

/// Takes one request from the server-wide bucket `index`.
#[inline(always)]
fn take_global(index: u32, rate: &Rate, now: u64) -> bool {
    if !rate.is_on() {
        return true;
    }
    match GLOBAL.get_ptr_mut(index) {
        // SAFETY: as in `take_source`. A zero bucket (never used) holds
        // nothing and refills from its last refill at time 0, that is
        // fully, once.
        Some(bucket) => unsafe { (*bucket).take(rate, now) },
        None => true,
    }
}

/// Takes one request from the bucket of `key`, creating it small.
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
        // SAFETY: as in `take_source`.
        Some(bucket) => unsafe { (*bucket).take(rate, now) },
        None => {
            // As in `take_source`: a failed insert refuses nothing.
            let _ = buckets.insert(key, &Bucket::first(rate, now), u64::from(BPF_ANY));
            true
        }
    }
}
