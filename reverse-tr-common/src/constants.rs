//! Code points and constants of PROTOCOL.md §2, sizes of §5.8 and §7.7.

/// IP protocol number of ICMP.
pub const PROTOCOL_ICMP: u8 = 1;
/// IP next-header number of ICMPv6.
pub const PROTOCOL_ICMPV6: u8 = 58;
/// IP protocol number of UDP.
pub const PROTOCOL_UDP: u8 = 17;
/// IP protocol number of TCP.
pub const PROTOCOL_TCP: u8 = 6;
/// Request protocol value meaning "the server's default", ICMP of the family.
pub const PROTOCOL_DEFAULT: u8 = 0;

/// ICMP Echo Reply type.
pub const ICMP_ECHO_REPLY: u8 = 0;
/// ICMP Destination Unreachable type.
pub const ICMP_DESTINATION_UNREACHABLE: u8 = 3;
/// ICMP Echo Request type.
pub const ICMP_ECHO_REQUEST: u8 = 8;
/// ICMP Time Exceeded type.
pub const ICMP_TIME_EXCEEDED: u8 = 11;
/// ICMPv6 Destination Unreachable type.
pub const ICMPV6_DESTINATION_UNREACHABLE: u8 = 1;
/// ICMPv6 Time Exceeded type.
pub const ICMPV6_TIME_EXCEEDED: u8 = 3;
/// ICMPv6 Echo Request type.
pub const ICMPV6_ECHO_REQUEST: u8 = 128;
/// ICMPv6 Echo Reply type.
pub const ICMPV6_ECHO_REPLY: u8 = 129;
/// The code that turns an Echo Request into a request and an Echo Reply into a response.
pub const CODE_REVERSE_TRACEROUTE: u8 = 1;
/// Time Exceeded code "TTL / hop limit exceeded in transit", the only one matched.
pub const CODE_TTL_EXCEEDED: u8 = 0;

/// Source port of server UDP and TCP probes (RFC 4727 experimental port).
pub const PROBE_SOURCE_PORT: u16 = 1021;
/// Sequence number of server ICMP probes.
pub const PROBE_ICMP_SEQUENCE: u16 = 0xFFFF;
/// ICMP checksum field of an ICMP probe when the request's flow is 0.
pub const DEFAULT_FLOW_ICMP: u16 = 0xBEAF;
/// UDP destination port of a UDP probe when the request's flow is 0.
pub const DEFAULT_FLOW_UDP: u16 = 53;
/// TCP destination port of a TCP probe when the request's flow is 0.
pub const DEFAULT_FLOW_TCP: u16 = 80;
/// Window of TCP probes.
pub const PROBE_TCP_WINDOW: u16 = 1024;
/// MSS option value of TCP probes.
pub const PROBE_TCP_MSS: u16 = 1460;
/// Random octets in ICMP and UDP probe payloads, before the compensation word.
pub const PROBE_RANDOM_LEN: usize = 6;
/// TTL / hop limit of responses.
pub const RESPONSE_TTL: u8 = 64;
/// TTL / hop limit of client requests (§11.5.1).
pub const REQUEST_TTL: u8 = 64;

/// Default session table capacity of a server instance (measured to fit
/// and expire on time: the server's expiry tests and BENCHMARKS.md).
pub const DEFAULT_CAPACITY: u32 = 100_000;
/// Default session timeout in nanoseconds (5 s).
pub const DEFAULT_TIMEOUT_NS: u64 = 5_000_000_000;

/// Lowest flow the multipath client uses.
pub const MULTIPATH_FLOW_MIN: u16 = 10000;
/// Highest flow the multipath client uses.
pub const MULTIPATH_FLOW_MAX: u16 = 65535;
/// Source port of client forward UDP and TCP probes.
pub const FORWARD_SOURCE_PORT: u16 = 33434;
/// Window of client forward TCP probes.
pub const FORWARD_TCP_WINDOW: u16 = 8192;

/// Octets of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Octets of an IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// Octets of an ICMP echo header (type, code, checksum, identifier, sequence).
pub const ECHO_HEADER_LEN: usize = 8;
/// Octets of the request header (TTL, Protocol, Flow).
pub const REQUEST_HEADER_LEN: usize = 4;
/// Octets of a request's ICMP message without padding.
pub const REQUEST_LEN: usize = ECHO_HEADER_LEN + REQUEST_HEADER_LEN;
/// Octets of an ICMP or UDP probe's transport part.
pub const PROBE_SHORT_LEN: usize = 16;
/// Octets of a TCP probe's transport part.
pub const PROBE_TCP_LEN: usize = 24;
/// Octets of the response header (State, ErrMsgLen, Reserved).
pub const RESPONSE_HEADER_LEN: usize = 4;
/// Octets of a success response's ICMP message.
pub const RESPONSE_SUCCESS_LEN: usize = 36;
/// Octets of an error response's ICMP message.
pub const RESPONSE_ERROR_LEN: usize = 12;
/// Octets of the ICMP error header before the quoted packet.
pub const ICMP_ERROR_HEADER_LEN: usize = 8;
/// Octets of the quoted transport header the matching needs (RFC 792 minimum).
pub const QUOTED_TRANSPORT_LEN: usize = 8;
