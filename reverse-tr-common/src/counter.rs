//! Per-CPU counters of the eBPF program, indexed by [`Counter`].

use crate::{address::Family, probe::ProbeProtocol, requester::Refusal};

/// The metric of the labelled request counters.
const REQUESTS: &str = "reverse_tr_requests_total";
/// The metric of the labelled refused-source counters.
const REFUSED: &str = "reverse_tr_refused_sources_total";

/// What the program counts. The discriminant is the index in the per-CPU array.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Requests seen (Echo Request code 1 of at least 12 octets).
    Requests = 0,
    /// Probes sent.
    Probes,
    /// Error responses sent (invalid TTL or protocol, §7.3).
    ErrorResponses,
    /// Requests dropped because their session exists.
    Exists,
    /// Requests dropped because the table, the deadline FIFO or a
    /// pending-session count map is full.
    TableFull,
    /// Answers matched to a session.
    Answers,
    /// Success responses sent.
    Responses,
    /// Answers of our probe patterns without a matching session (passed).
    Unmatched,
    /// TCP answers cloned to the host stack so it resets the connection.
    TcpResets,
    /// Sessions removed by the sweeper.
    TimedOut,
    /// Sweeps run (timer ticks and watchdog runs).
    Sweeps,
    /// Events that did not fit in the ring buffer; the transitions
    /// happened all the same.
    EventsLost,
    /// Rewrites or redirects that failed after the decision to answer.
    Failures,
    /// Requests dropped by a per-source or per-prefix rate limit (§10.3).
    RateLimited,
    /// Requests dropped by the operator's allow/deny lists (§10.4).
    Denied,
    /// Requests dropped for being shorter than the operator's minimum.
    TooShort,
    /// Requests dropped because their source has its most pending sessions.
    SourceCapped,
    /// Requests dropped because their source prefix has its most pending sessions.
    PrefixCapped,
    /// Requests dropped by the server-wide session rate.
    GlobalLimited,
    /// Requests of sources without state dropped by the rate of new sources.
    NewSourceLimited,
    /// Unpadded requests admitted (served from the unpadded budget).
    Unpadded,
    /// Unpadded requests dropped (budget spent, or refused by the operator).
    UnpaddedLimited,
    /// Requests from sources that can never be requesters, by reason
    /// ([`Counter::refused`]), and from the host's own addresses.
    RefusedUnspecified,
    RefusedLoopback,
    RefusedMulticast,
    RefusedReserved,
    RefusedEmbedded,
    RefusedPrivate,
    RefusedOwn,
    /// Requests to an address that is not the host's.
    NotLocal,
    /// Answers with a pending session that do not echo what its probe
    /// carried (random octets, TCP sequence, flow, source): forged or
    /// stale, matched to nothing.
    Mismatched,
    /// Answers matched without proof: an ICMP error quoting too little of
    /// an ICMP or UDP probe to show its random octets.
    Unauthenticated,
    /// Requests by family and asked-for protocol, in [`Counter::request`]'s order.
    RequestsV4Icmp,
    RequestsV4Udp,
    RequestsV4Tcp,
    RequestsV4Other,
    RequestsV6Icmp,
    RequestsV6Udp,
    RequestsV6Tcp,
    RequestsV6Other,
}

impl Counter {
    /// Every counter, in index order.
    pub const ALL: [Self; 40] = [
        Self::Requests,
        Self::Probes,
        Self::ErrorResponses,
        Self::Exists,
        Self::TableFull,
        Self::Answers,
        Self::Responses,
        Self::Unmatched,
        Self::TcpResets,
        Self::TimedOut,
        Self::Sweeps,
        Self::EventsLost,
        Self::Failures,
        Self::RateLimited,
        Self::Denied,
        Self::TooShort,
        Self::SourceCapped,
        Self::PrefixCapped,
        Self::GlobalLimited,
        Self::NewSourceLimited,
        Self::Unpadded,
        Self::UnpaddedLimited,
        Self::RefusedUnspecified,
        Self::RefusedLoopback,
        Self::RefusedMulticast,
        Self::RefusedReserved,
        Self::RefusedEmbedded,
        Self::RefusedPrivate,
        Self::RefusedOwn,
        Self::NotLocal,
        Self::Mismatched,
        Self::Unauthenticated,
        Self::RequestsV4Icmp,
        Self::RequestsV4Udp,
        Self::RequestsV4Tcp,
        Self::RequestsV4Other,
        Self::RequestsV6Icmp,
        Self::RequestsV6Udp,
        Self::RequestsV6Tcp,
        Self::RequestsV6Other,
    ];

    /// Number of counters (the per-CPU array's length).
    pub const COUNT: u32 = Self::ALL.len() as u32;

    /// The counter's name in summaries.
    pub fn name(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Probes => "probes",
            Self::ErrorResponses => "error responses",
            Self::Exists => "duplicate requests",
            Self::TableFull => "table full",
            Self::Answers => "answers",
            Self::Responses => "responses",
            Self::Unmatched => "unmatched answers",
            Self::TcpResets => "tcp answers handed to the host",
            Self::TimedOut => "timed out",
            Self::Sweeps => "sweeps",
            Self::EventsLost => "events lost",
            Self::Failures => "failures",
            Self::RateLimited => "rate limited",
            Self::Denied => "denied",
            Self::TooShort => "too short",
            Self::SourceCapped => "source capped",
            Self::PrefixCapped => "prefix capped",
            Self::GlobalLimited => "global rate limited",
            Self::NewSourceLimited => "new sources limited",
            Self::Unpadded => "unpadded requests",
            Self::UnpaddedLimited => "unpadded limited",
            Self::RefusedUnspecified => "unspecified sources",
            Self::RefusedLoopback => "loopback sources",
            Self::RefusedMulticast => "multicast sources",
            Self::RefusedReserved => "reserved sources",
            Self::RefusedEmbedded => "embedded ipv4 sources",
            Self::RefusedPrivate => "private sources",
            Self::RefusedOwn => "own sources",
            Self::NotLocal => "not to this host",
            Self::Mismatched => "mismatched answers",
            Self::Unauthenticated => "unauthenticated answers",
            Self::RequestsV4Icmp => "ipv4 icmp requests",
            Self::RequestsV4Udp => "ipv4 udp requests",
            Self::RequestsV4Tcp => "ipv4 tcp requests",
            Self::RequestsV4Other => "ipv4 other requests",
            Self::RequestsV6Icmp => "ipv6 icmp requests",
            Self::RequestsV6Udp => "ipv6 udp requests",
            Self::RequestsV6Tcp => "ipv6 tcp requests",
            Self::RequestsV6Other => "ipv6 other requests",
        }
    }

    /// The per-family, per-protocol request counter of a request's
    /// Protocol field (unsupported values count as "other").
    #[inline(always)]
    pub fn request(family: Family, protocol: u8) -> Self {
        let v4 = family == Family::V4;
        match (ProbeProtocol::from_request(family, protocol), v4) {
            (Some(ProbeProtocol::Icmp), true) => Self::RequestsV4Icmp,
            (Some(ProbeProtocol::Udp), true) => Self::RequestsV4Udp,
            (Some(ProbeProtocol::Tcp), true) => Self::RequestsV4Tcp,
            (None, true) => Self::RequestsV4Other,
            (Some(ProbeProtocol::Icmp), false) => Self::RequestsV6Icmp,
            (Some(ProbeProtocol::Udp), false) => Self::RequestsV6Udp,
            (Some(ProbeProtocol::Tcp), false) => Self::RequestsV6Tcp,
            (None, false) => Self::RequestsV6Other,
        }
    }

    /// The counter of a refused source.
    #[inline(always)]
    pub fn refused(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Unspecified => Self::RefusedUnspecified,
            Refusal::Loopback => Self::RefusedLoopback,
            Refusal::Multicast => Self::RefusedMulticast,
            Refusal::Reserved => Self::RefusedReserved,
            Refusal::Embedded => Self::RefusedEmbedded,
            Refusal::Private => Self::RefusedPrivate,
        }
    }

    /// The Prometheus metric the counter is exported as: name and labels
    /// (README "Metrics" documents each). The total of requests is the sum
    /// of the labelled request counters, so it is not exported itself.
    pub fn metric(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Self::Requests => return None,
            Self::Probes => ("reverse_tr_probes_total", ""),
            Self::ErrorResponses => ("reverse_tr_error_responses_total", ""),
            Self::Exists => ("reverse_tr_duplicates_total", ""),
            Self::TableFull => ("reverse_tr_table_full_total", ""),
            Self::Answers => ("reverse_tr_answers_total", ""),
            Self::Responses => ("reverse_tr_responses_total", ""),
            Self::Unmatched => ("reverse_tr_passed_total", ""),
            Self::TcpResets => ("reverse_tr_tcp_answers_to_host_total", ""),
            Self::TimedOut => ("reverse_tr_timeouts_total", ""),
            Self::Sweeps => ("reverse_tr_sweeps_total", ""),
            Self::EventsLost => ("reverse_tr_events_lost_total", ""),
            Self::Failures => ("reverse_tr_failures_total", ""),
            Self::RateLimited => ("reverse_tr_rate_limited_total", ""),
            Self::Denied => ("reverse_tr_denied_total", ""),
            Self::TooShort => ("reverse_tr_too_short_total", ""),
            Self::SourceCapped => ("reverse_tr_source_capped_total", ""),
            Self::PrefixCapped => ("reverse_tr_prefix_capped_total", ""),
            Self::GlobalLimited => ("reverse_tr_global_limited_total", ""),
            Self::NewSourceLimited => ("reverse_tr_new_sources_limited_total", ""),
            Self::Unpadded => ("reverse_tr_unpadded_total", ""),
            Self::UnpaddedLimited => ("reverse_tr_unpadded_limited_total", ""),
            Self::RefusedUnspecified => (REFUSED, r#"reason="unspecified""#),
            Self::RefusedLoopback => (REFUSED, r#"reason="loopback""#),
            Self::RefusedMulticast => (REFUSED, r#"reason="multicast""#),
            Self::RefusedReserved => (REFUSED, r#"reason="reserved""#),
            Self::RefusedEmbedded => (REFUSED, r#"reason="embedded""#),
            Self::RefusedPrivate => (REFUSED, r#"reason="private""#),
            Self::RefusedOwn => (REFUSED, r#"reason="own""#),
            Self::NotLocal => ("reverse_tr_not_local_total", ""),
            Self::Mismatched => ("reverse_tr_mismatched_answers_total", ""),
            Self::Unauthenticated => ("reverse_tr_unauthenticated_answers_total", ""),
            Self::RequestsV4Icmp => (REQUESTS, r#"family="ipv4",protocol="icmp""#),
            Self::RequestsV4Udp => (REQUESTS, r#"family="ipv4",protocol="udp""#),
            Self::RequestsV4Tcp => (REQUESTS, r#"family="ipv4",protocol="tcp""#),
            Self::RequestsV4Other => (REQUESTS, r#"family="ipv4",protocol="other""#),
            Self::RequestsV6Icmp => (REQUESTS, r#"family="ipv6",protocol="icmp""#),
            Self::RequestsV6Udp => (REQUESTS, r#"family="ipv6",protocol="udp""#),
            Self::RequestsV6Tcp => (REQUESTS, r#"family="ipv6",protocol="tcp""#),
            Self::RequestsV6Other => (REQUESTS, r#"family="ipv6",protocol="other""#),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Counter;

    #[test]
    fn indices_are_dense_and_ordered() {
        for (index, counter) in Counter::ALL.iter().enumerate() {
            assert_eq!(*counter as usize, index);
        }
    }

    #[test]
    fn request_counters_split_by_family_and_protocol() {
        use crate::address::Family;
        let cases = [
            (Family::V4, 0, Counter::RequestsV4Icmp),
            (Family::V4, 1, Counter::RequestsV4Icmp),
            (Family::V4, 17, Counter::RequestsV4Udp),
            (Family::V4, 6, Counter::RequestsV4Tcp),
            (Family::V4, 58, Counter::RequestsV4Other),
            (Family::V6, 58, Counter::RequestsV6Icmp),
            (Family::V6, 17, Counter::RequestsV6Udp),
            (Family::V6, 6, Counter::RequestsV6Tcp),
            (Family::V6, 1, Counter::RequestsV6Other),
        ];
        for (family, protocol, expected) in cases {
            assert_eq!(
                Counter::request(family, protocol),
                expected,
                "{family:?} {protocol}"
            );
        }
    }

    #[test]
    fn metrics_are_unique_per_name_and_labels() {
        let metrics = Counter::ALL.map(Counter::metric);
        for (index, metric) in metrics.iter().enumerate() {
            assert_eq!(metric.is_none(), index == Counter::Requests as usize);
            assert!(!metrics[index + 1..].contains(metric) || metric.is_none());
        }
    }
}
