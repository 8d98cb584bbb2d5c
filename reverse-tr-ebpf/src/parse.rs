//! Parsing a frame's Ethernet and IP headers (§4.1), bounded by the IP
//! length fields rather than the frame end (Ethernet padding, Q-7).

use core::net::{Ipv4Addr, Ipv6Addr};

use aya_ebpf::programs::TcContext;
use reverse_tr_common::{
    Family, IpHeader, Ipv4Header, Ipv6Header,
    packet::{ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, Field, ethernet, ipv4, ipv6},
};

/// An IP packet in a frame: its link header, IP header fields and where its
/// transport part lies.
pub struct Packet {
    pub family: Family,
    /// The frame's Ethernet header.
    pub ethernet: [u8; ETHERNET_HEADER_LEN],
    /// Source and destination, with the fields a packet rewritten from this
    /// one inherits (§3.4, Q-14).
    pub ip: IpHeader,
    /// IPv4 protocol or IPv6 next header.
    pub protocol: u8,
    /// Frame offset of the transport header.
    pub transport_at: usize,
    /// Transport octets according to the IP length fields.
    pub transport_len: usize,
}

/// Frame offsets below this are read from the linear data directly.
const DIRECT_MAX: usize = 0xFF;

/// The `N` frame octets at `offset`: from the linear packet data if they
/// lie in it (a `bpf_skb_load_bytes` call costs more than a whole
/// classification), else through the helper.
#[inline(always)]
pub fn octets<const N: usize>(ctx: &TcContext, offset: usize) -> Option<[u8; N]> {
    if offset <= DIRECT_MAX {
        // The mask keeps the offset visibly bounded for the verifier.
        let start = ctx.data() + (offset & DIRECT_MAX);
        if start + N <= ctx.data_end() {
            // SAFETY: the N octets lie between data and data_end, which the
            // kernel keeps readable for the whole run; the read is unaligned.
            return Some(unsafe { core::ptr::read_unaligned(start as *const [u8; N]) });
        }
    }
    ctx.load(offset).ok()
}

/// The big-endian `u16` of a 2-octet `field` of a loaded header (the
/// field is a constant: the indexing folds away).
#[inline(always)]
pub fn word<const N: usize>(header: &[u8; N], field: Field) -> u16 {
    let at = field.start;
    u16::from_be_bytes([header[at], header[at + 1]])
}

/// The 4 octets of a 4-octet `field` of a loaded header.
#[inline(always)]
fn quad<const N: usize>(header: &[u8; N], field: Field) -> [u8; 4] {
    let at = field.start;
    [header[at], header[at + 1], header[at + 2], header[at + 3]]
}

impl Packet {
    /// Parses the frame; `None` for anything that is not an unfragmented
    /// IPv4 or IPv6 packet lying wholly in the frame.
    #[inline(always)]
    pub fn parse(ctx: &TcContext) -> Option<Self> {
        let ethernet: [u8; ETHERNET_HEADER_LEN] = octets(ctx, 0)?;
        let frame_len = ctx.len() as usize;
        match word(&ethernet, ethernet::field::ETHERTYPE) {
            ETHERTYPE_IPV4 => Self::parse_v4(ctx, ethernet, frame_len),
            ETHERTYPE_IPV6 => Self::parse_v6(ctx, ethernet, frame_len),
            _ => None,
        }
    }

    #[inline(always)]
    fn parse_v4(
        ctx: &TcContext,
        ethernet: [u8; ETHERNET_HEADER_LEN],
        frame_len: usize,
    ) -> Option<Self> {
        use ipv4::field;
        // Octet by octet: `Ipv4Addr::from` an array costs the entry
        // program eleven instructions more.
        const SOURCE: usize = field::SOURCE.start;
        const DESTINATION: usize = field::DESTINATION.start;
        let h: [u8; ipv4::HEADER_LEN] = octets(ctx, ETHERNET_HEADER_LEN)?;
        let header_len = usize::from(h[field::VERSION_IHL] & 0x0F) * 4;
        let total_len = usize::from(word(&h, field::TOTAL_LENGTH));
        let flags_fragment = word(&h, field::FLAGS_FRAGMENT);
        if h[field::VERSION_IHL] >> 4 != 4
            || header_len < ipv4::HEADER_LEN
            || total_len < header_len
            || ETHERNET_HEADER_LEN + total_len > frame_len
            || flags_fragment & ipv4::FRAGMENTED != 0
        {
            return None;
        }
        Some(Self {
            family: Family::V4,
            ethernet,
            ip: IpHeader::V4(Ipv4Header {
                source: Ipv4Addr::new(h[SOURCE], h[SOURCE + 1], h[SOURCE + 2], h[SOURCE + 3]),
                destination: Ipv4Addr::new(
                    h[DESTINATION],
                    h[DESTINATION + 1],
                    h[DESTINATION + 2],
                    h[DESTINATION + 3],
                ),
                tos: h[field::TOS],
                identification: word(&h, field::IDENTIFICATION),
                flags_fragment,
            }),
            protocol: h[field::PROTOCOL],
            transport_at: ETHERNET_HEADER_LEN + header_len,
            transport_len: total_len - header_len,
        })
    }

    #[inline(always)]
    fn parse_v6(
        ctx: &TcContext,
        ethernet: [u8; ETHERNET_HEADER_LEN],
        frame_len: usize,
    ) -> Option<Self> {
        use ipv6::field;
        let h: [u8; ipv6::HEADER_LEN] = octets(ctx, ETHERNET_HEADER_LEN)?;
        let payload_len = usize::from(word(&h, field::PAYLOAD_LENGTH));
        if h[field::VERSION] >> 4 != 6
            || ETHERNET_HEADER_LEN + ipv6::HEADER_LEN + payload_len > frame_len
        {
            return None;
        }
        let first = u32::from_be_bytes(quad(&h, field::VERSION_CLASS_FLOW));
        let mut source = [0u8; 16];
        source.copy_from_slice(&h[field::SOURCE]);
        let mut destination = [0u8; 16];
        destination.copy_from_slice(&h[field::DESTINATION]);
        Some(Self {
            family: Family::V6,
            ethernet,
            ip: IpHeader::V6(Ipv6Header {
                source: Ipv6Addr::from(source),
                destination: Ipv6Addr::from(destination),
                // Version and the 8 traffic class bits sit in the top 12 bits.
                traffic_class: ((first >> ipv6::TRAFFIC_CLASS_SHIFT) & 0xFF) as u8,
                flow_label: first & ipv6::FLOW_LABEL,
            }),
            // Extension headers are not walked (REF-1, Q-8): a fragment
            // header or any other shows up here and matches nothing.
            protocol: h[field::NEXT_HEADER],
            transport_at: ETHERNET_HEADER_LEN + ipv6::HEADER_LEN,
            transport_len: payload_len,
        })
    }

    /// Loads the first `N` transport octets, if the IP length covers them.
    #[inline(always)]
    pub fn transport<const N: usize>(&self, ctx: &TcContext) -> Option<[u8; N]> {
        if self.transport_len < N {
            return None;
        }
        octets(ctx, self.transport_at)
    }

    /// Loads `N` octets at `offset` into the transport part, if the IP
    /// length covers them.
    #[inline(always)]
    pub fn transport_at<const N: usize>(&self, ctx: &TcContext, offset: usize) -> Option<[u8; N]> {
        if self.transport_len < offset + N {
            return None;
        }
        octets(ctx, self.transport_at + offset)
    }
}

impl Packet {
    /// The header of a packet sent back from this packet's destination to
    /// `destination` (16 octets, IPv4-mapped for IPv4), inheriting this
    /// packet's TOS/ID/flags or traffic class/flow label (§5.1, §7.6).
    #[inline(always)]
    pub fn reply_to(&self, destination: [u8; 16]) -> IpHeader {
        match self.ip {
            IpHeader::V4(h) => IpHeader::V4(Ipv4Header {
                source: h.destination,
                destination: Ipv4Addr::new(
                    destination[12],
                    destination[13],
                    destination[14],
                    destination[15],
                ),
                ..h
            }),
            IpHeader::V6(h) => IpHeader::V6(Ipv6Header {
                source: h.destination,
                destination: Ipv6Addr::from(destination),
                ..h
            }),
        }
    }

    /// Source address, 16 octets (IPv4-mapped for IPv4).
    #[inline(always)]
    pub fn source(&self) -> [u8; 16] {
        match self.ip {
            IpHeader::V4(h) => h.source.to_ipv6_mapped().octets(),
            IpHeader::V6(h) => h.source.octets(),
        }
    }

    /// Destination address, 16 octets (IPv4-mapped for IPv4).
    #[inline(always)]
    pub fn destination(&self) -> [u8; 16] {
        match self.ip {
            IpHeader::V4(h) => h.destination.to_ipv6_mapped().octets(),
            IpHeader::V6(h) => h.destination.octets(),
        }
    }
}
