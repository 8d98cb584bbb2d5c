//! Wire formats of the reverse-traceroute protocol (PROTOCOL.md §2–§7), for
//! IPv4 and IPv6, shared by the eBPF server, the client and tests.
//!
//! `#![no_std]` and eBPF-friendly outside the `std` feature: no allocation,
//! no reachable panics, loops bounded by constants, builders writing into
//! caller-provided fixed-size arrays and returning the length written,
//! parsers taking `&[u8]` and returning [`Result`] with a typed [`Error`].
//! The request, probe and answer paths, each built as one TC program,
//! pass the kernel verifier (checked on kernel 6.18 with tc; builders take
//! about 160–320 octets of stack including their output buffer, so keep
//! them in their own `#[inline(never)]` functions or use per-CPU buffers).
//!
//! | module | what |
//! |---|---|
//! | [`constants`] | code points and sizes (§2, §5.8, §7.7) |
//! | [`checksum`] | Internet checksum: [`checksum::accumulate`], [`checksum::fold`], pseudo-header sums, [`checksum::compensation`] (§5.5), and the [`checksum::Writer`] every builder writes through |
//! | [`address`] | [`Family`] code points; [`to_mapped`] / [`from_mapped`] for the 16-octet hop address (§7.4) |
//! | [`ip`] | [`IpHeader`]: addresses + inherited fields; writes IPv4/IPv6 headers and pseudo-header sums |
//! | [`request`] | [`Request::decode`], [`Request::validate`] / [`Request::probe`] (§4.3), client [`Request::build`] with padding (§3.7) |
//! | [`probe`] | [`Probe::build`] / [`Probe::write_transport`] (§5), [`ProbeProtocol`] |
//! | [`answer`] | [`match_quoted`], [`match_echo_reply`], [`match_tcp`] (§6) → [`ProbeMatch`] |
//! | [`response`] | [`Response::build`] / [`Response::decode`] (§7), [`State`] |
//! | [`forward`] | the client's forward probes and their matching (§11.4) |
//! | [`duration`] | (`std`) [`duration::parse_duration`]: `750ms`, `2s`, `1m` or plain seconds on command lines |
//! | [`policy`] | the operator's [`policy::Policy`]: rate limits ([`policy::Bucket`]), caps, padded requests, minimum request size, protocols offered, list and bucket keys (§10.3) |
//! | [`requester`] | sources that can never be a requester (§10.2) |
//! | [`packet`] | zero-copy views over Ethernet, IPv4, IPv6, ICMP, UDP, TCP bounded by the IP length fields, one module each with its header's field offsets, and [`packet::match_answer`] |
//!
//! Identifiers and flows are `u16` values whose wire octets are
//! `to_be_bytes()`, i.e. the octets as they appear in the request.
#![no_std]

#[cfg(feature = "std")]
extern crate std;

pub mod address;
pub mod answer;
pub mod checksum;
pub mod constants;
pub mod counter;
#[cfg(feature = "std")]
pub mod duration;
pub mod error;
pub mod event;
pub mod forward;
pub mod ip;
pub mod packet;
pub mod policy;
pub mod probe;
pub mod request;
pub mod requester;
pub mod response;
pub mod session;

pub use address::{Family, from_mapped, to_mapped};
pub use answer::{
    ProbeMatch, Proof, is_icmp_answer, is_quoting_error, is_tcp_answer, match_echo_reply,
    match_quoted, match_tcp,
};
pub use error::{Error, Result};
pub use ip::{IpHeader, Ipv4Header, Ipv6Header};
pub use probe::{PROBE_MAX_LEN, Probe, ProbeProtocol};
pub use request::{REQUEST_MAX_LEN, Request, RequestHeader};
pub use response::{Outcome, RESPONSE_MAX_LEN, Response, State};
