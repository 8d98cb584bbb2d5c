//! The crate's one error type, and the checked field reads that produce
//! [`Error::Truncated`].

/// Why a message could not be decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input ends before the field being read.
    #[error("truncated: need {need} octets, have {have}")]
    Truncated { need: usize, have: usize },
    /// The output buffer cannot hold the message.
    #[error("buffer too small: need {need} octets, have {have}")]
    BufferTooSmall { need: usize, have: usize },
    /// An ICMP message that is not a request (Echo Request code 1 of the family).
    #[error("not a request: ICMP type {icmp_type} code {code}")]
    NotRequest { icmp_type: u8, code: u8 },
    /// An ICMP message that is not a response (Echo Reply code 1 of the family).
    #[error("not a response: ICMP type {icmp_type} code {code}")]
    NotResponse { icmp_type: u8, code: u8 },
    /// A code-1 reply too short to be a success response: a host echoing
    /// the request, not a reverse-traceroute server (§11.5.3).
    #[error("not a reverse-traceroute server: success response of {length} ICMP octets")]
    NotServer { length: usize },
    /// A response state code the protocol does not define (§7.3).
    #[error("unknown response state {0}")]
    UnknownState(u8),
    /// An IPv4 hop address that is not in the ::ffff:a.b.c.d form (§7.4).
    #[error("hop address is not IPv4-mapped")]
    NotMapped,
    /// An IP header whose version is not the expected family's.
    #[error("IP version {0} where another was expected")]
    IpVersion(u8),
    /// An IPv4 header length (IHL) below 5 or beyond the packet.
    #[error("bad IPv4 header length {0}")]
    HeaderLength(u8),
    /// An IP length field smaller than the header it belongs to.
    #[error("bad IP length field {0}")]
    IpLength(usize),
    /// A link layer the views do not parse (EtherType or link type).
    #[error("unsupported link layer protocol {0:#06x}")]
    LinkProtocol(u16),
    /// More padding than a request may carry.
    #[error("padding of {0} octets exceeds the maximum")]
    PaddingTooLong(usize),
    /// A TCP data offset below 5 words.
    #[error("bad TCP data offset {0}")]
    DataOffset(u8),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Reads `N` octets at `at`, or says how much was missing.
#[inline(always)]
pub(crate) fn read<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N]> {
    bytes
        .get(at..)
        .and_then(|rest| rest.first_chunk::<N>())
        .copied()
        .ok_or(Error::Truncated {
            need: at.saturating_add(N),
            have: bytes.len(),
        })
}

/// Reads a big-endian `u16` at `at`.
#[inline(always)]
pub(crate) fn read_u16(bytes: &[u8], at: usize) -> Result<u16> {
    read::<2>(bytes, at).map(u16::from_be_bytes)
}

/// Reads a big-endian `u32` at `at`.
#[inline(always)]
pub(crate) fn read_u32(bytes: &[u8], at: usize) -> Result<u32> {
    read::<4>(bytes, at).map(u32::from_be_bytes)
}

/// Reads one octet at `at`.
#[inline(always)]
pub(crate) fn read_u8(bytes: &[u8], at: usize) -> Result<u8> {
    read::<1>(bytes, at).map(|[octet]| octet)
}
