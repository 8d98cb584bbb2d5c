//! The Internet checksum (RFC 1071) and the compensation word of §5.5.
//!
//! Sums are kept unfolded in a `u32` so that parts (pseudo-header, headers,
//! payload) can be added in any order; [`fold`] and [`checksum`] finish them.

/// Longest input [`accumulate_array`] takes, so loops stay short for the
/// verifier; long enough for a padded IPv6 request asking for TCP (160
/// octets of ICMPv6, [`crate::policy::padded_len`]).
pub const MAX_SUMMED: usize = 192;

/// Adds `bytes` as big-endian 16-bit words to `sum` (an odd last octet is
/// padded with zero). For userspace; the eBPF program uses
/// [`accumulate_array`], whose loop the verifier can bound.
#[inline(always)]
pub fn accumulate(sum: u32, bytes: &[u8]) -> u32 {
    let (words, rest) = bytes.as_chunks::<2>();
    let mut sum = sum;
    for word in words {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes(*word)));
    }
    if let [last] = rest {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    sum
}

/// [`accumulate`] over `parts` taken as one buffer: an odd-length part's
/// last octet pairs with the next part's first, and only an odd total pads.
/// For userspace (tests, tools): it loops over slices.
pub fn accumulate_parts(sum: u32, parts: &[&[u8]]) -> u32 {
    let mut sum = sum;
    let mut high = None;
    for octet in parts.iter().flat_map(|part| part.iter().copied()) {
        match high.take() {
            None => high = Some(octet),
            Some(first) => sum = sum.wrapping_add(u32::from(u16::from_be_bytes([first, octet]))),
        }
    }
    if let Some(last) = high {
        sum = sum.wrapping_add(u32::from(last) << 8);
    }
    sum
}

/// The checksum of `parts` taken as one buffer (see [`accumulate_parts`]):
/// the field value if they hold the message with its checksum field zero,
/// 0 if they hold a whole message (and pseudo-header) that verifies.
pub fn of(parts: &[&[u8]]) -> u16 {
    checksum(accumulate_parts(0, parts))
}

/// [`accumulate`] over a fixed-size array of at most [`MAX_SUMMED`]
/// octets. The loop runs on a scalar index bounded by the constant `N`:
/// the verifier cannot bound a loop that compares two stack pointers,
/// which is what iterating a slice compiles to.
#[inline(always)]
pub fn accumulate_array<const N: usize>(sum: u32, bytes: &[u8; N]) -> u32 {
    const {
        assert!(
            N <= MAX_SUMMED,
            "checksummed arrays are at most MAX_SUMMED octets"
        )
    };
    let mut sum = sum;
    let mut at = 0;
    while at < N {
        let high = bytes.get(at).copied().unwrap_or_default();
        let low = bytes.get(at + 1).copied().unwrap_or_default();
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([high, low])));
        at += 2;
    }
    sum
}

/// Folds the carries of a sum into 16 bits (one's-complement addition).
#[inline(always)]
pub fn fold(sum: u32) -> u16 {
    let sum = (sum & 0xFFFF) + (sum >> 16);
    let sum = (sum & 0xFFFF) + (sum >> 16);
    // Two folds leave at most 16 bits.
    (sum & 0xFFFF) as u16
}

/// The checksum field value for a sum taken with that field zero.
#[inline(always)]
pub fn checksum(sum: u32) -> u16 {
    !fold(sum)
}

/// True if a sum over a whole message, its checksum field included, verifies.
#[inline(always)]
pub fn verifies(sum: u32) -> bool {
    fold(sum) == 0xFFFF
}

/// The compensation word of §5.5: `sum` covers the pseudo-header (if any)
/// and the message with its checksum field forced and the compensation word
/// zero; writing the returned value into the compensation word makes the
/// message verify although its checksum field was not computed.
#[inline(always)]
pub fn compensation(sum: u32) -> u16 {
    // Adding ~S to a sum S gives 0xFFFF, the verifying total.
    checksum(sum)
}

/// Writes a message as big-endian values at even offsets and sums them as
/// it goes, so that the checksum is computed from values in registers.
/// (Summing the octets back from memory makes LLVM forward every octet just
/// stored into the sum and spill them, which overflows the eBPF stack.)
///
/// Offsets must be even: every field of our messages is word-aligned or
/// written together with its neighbour as one word.
pub struct Writer<'a, const N: usize> {
    message: &'a mut [u8; N],
    sum: u32,
}

impl<'a, const N: usize> Writer<'a, N> {
    /// Zeroes `message` and starts the sum with a pseudo-header sum (0 if none).
    #[inline(always)]
    pub fn new(message: &'a mut [u8; N], pseudo: u32) -> Self {
        const { assert!(N <= MAX_SUMMED, "messages are at most MAX_SUMMED octets") };
        for octet in message.iter_mut() {
            // SAFETY: `octet` is a valid, exclusive reference. Volatile keeps
            // the stores from becoming a `memset` call, which the BPF back
            // end (with bpf-linker's in-order memcpy) emits as a call of an
            // out-of-line byte loop: four instructions per octet plus the
            // call, in every probe and response the server builds.
            unsafe { core::ptr::write_volatile(octet, 0) };
        }
        Self {
            message,
            sum: pseudo,
        }
    }

    /// Writes `value` at `at`, sums the octets written.
    #[inline(always)]
    fn put<const M: usize>(&mut self, at: usize, octets: [u8; M], words: u32) {
        if let Some(field) = self
            .message
            .get_mut(at..)
            .and_then(|rest| rest.first_chunk_mut::<M>())
        {
            *field = octets;
            self.sum = self.sum.wrapping_add(words);
        }
    }

    /// Writes a 16-bit word.
    #[inline(always)]
    pub fn u16(&mut self, at: usize, value: u16) {
        self.put(at, value.to_be_bytes(), u32::from(value));
    }

    /// Writes two octets as one word.
    #[inline(always)]
    pub fn octets(&mut self, at: usize, high: u8, low: u8) {
        self.u16(at, u16::from_be_bytes([high, low]));
    }

    /// Writes a 32-bit value.
    #[inline(always)]
    pub fn u32(&mut self, at: usize, value: u32) {
        self.put(at, value.to_be_bytes(), words_of_u32(value));
    }

    /// Writes a 128-bit value (an IPv6 address).
    #[inline(always)]
    pub fn u128(&mut self, at: usize, value: u128) {
        self.put(at, value.to_be_bytes(), words_of_u128(value));
    }

    /// Writes at `at` the word that makes the message verify and returns it.
    /// The same computation serves a checksum field and a compensation word
    /// next to a forced checksum field (§5.5); `at` must not have been written.
    #[inline(always)]
    pub fn seal(self, at: usize) -> u16 {
        let word = compensation(self.sum);
        if let Some(field) = self
            .message
            .get_mut(at..)
            .and_then(|rest| rest.first_chunk_mut::<2>())
        {
            *field = word.to_be_bytes();
        }
        word
    }
}

/// Sum of the 16-bit words of a 32-bit value.
#[inline(always)]
fn words_of_u32(value: u32) -> u32 {
    (value >> 16) + (value & 0xFFFF)
}

/// Sum of the 16-bit words of a 64-bit value.
#[inline(always)]
fn words_of_u64(value: u64) -> u32 {
    // Each half is below 2^32.
    words_of_u32((value >> 32) as u32) + words_of_u32(value as u32)
}

/// Sum of the 16-bit words of a 128-bit value (an IPv6 address), in
/// registers: byte-wise sums of address copies cost the eBPF stack dearly.
#[inline(always)]
fn words_of_u128(value: u128) -> u32 {
    // Halves, as the BPF target has 64-bit registers only.
    words_of_u64((value >> 64) as u64) + words_of_u64(value as u64)
}

/// Sum of the IPv4 pseudo-header: both addresses, zero, protocol, length.
#[inline(always)]
pub fn pseudo_header_v4(source: &[u8; 4], destination: &[u8; 4], protocol: u8, length: u16) -> u32 {
    words_of_u32(u32::from_be_bytes(*source))
        + words_of_u32(u32::from_be_bytes(*destination))
        + u32::from(protocol)
        + u32::from(length)
}

/// Sum of the IPv6 pseudo-header: both addresses, 32-bit upper-layer length,
/// three zero octets, next header.
#[inline(always)]
pub fn pseudo_header_v6(
    source: &[u8; 16],
    destination: &[u8; 16],
    length: u32,
    next_header: u8,
) -> u32 {
    words_of_u128(u128::from_be_bytes(*source))
        + words_of_u128(u128::from_be_bytes(*destination))
        + words_of_u32(length)
        + u32::from(next_header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // The worked example of RFC 1071 §3: sum 0xddf2, checksum 0x220d.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(accumulate(0, &data)), 0xddf2);
        assert_eq!(checksum(accumulate(0, &data)), 0x220d);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(accumulate(0, &[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn parts_sum_as_one_buffer() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        for cut in 0..=data.len() {
            let (first, second) = data.split_at(cut);
            assert_eq!(accumulate_parts(0, &[first, second]), accumulate(0, &data));
            assert_eq!(of(&[first, &[], second]), 0x220d, "cut at {cut}");
        }
        assert_eq!(
            accumulate_parts(0, &[&[0x12], &[0x34, 0x56]]),
            0x1234 + 0x5600
        );
        assert_eq!(
            of(&[&data, &0x220d_u16.to_be_bytes()]),
            0,
            "a message that verifies"
        );
    }

    #[test]
    fn writer_seals_with_forced_field() {
        let mut msg = [0u8; 16];
        let mut writer = Writer::new(&mut msg, 0);
        writer.octets(0, 8, 0);
        writer.u16(2, 0xbeaf);
        writer.u32(4, 0x0102_ffff);
        writer.u32(8, 0x0102_0304);
        writer.u16(12, 0x0506);
        let word = writer.seal(14);
        assert_eq!(
            &msg[..14],
            &[8, 0, 0xbe, 0xaf, 1, 2, 0xff, 0xff, 1, 2, 3, 4, 5, 6],
            "fields as written"
        );
        assert_eq!(&msg[14..], &word.to_be_bytes());
        assert!(verifies(accumulate_array(0, &msg)));
    }

    #[test]
    fn writer_sums_addresses_like_octets() {
        let address = 0xfd00_0000_0001_0000_0000_0000_0000_0100u128;
        let mut msg = [0u8; 18];
        let mut writer = Writer::new(&mut msg, 0);
        writer.u128(0, address);
        writer.seal(16);
        assert_eq!(&msg[..16], &address.to_be_bytes());
        assert!(verifies(accumulate_array(0, &msg)));
    }

    #[test]
    fn pseudo_header_sums_match_octet_sums() {
        let source = [0xfd, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00];
        let destination = [0xfd, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00];
        let octets = accumulate_array(accumulate_array(0, &source), &destination);
        assert_eq!(
            fold(pseudo_header_v6(&source, &destination, 0x1_0024, 58)),
            fold(octets + 1 + 0x24 + 58)
        );
        let v4 = pseudo_header_v4(&[10, 0, 7, 200], &[10, 0, 1, 100], 17, 16);
        assert_eq!(fold(v4), fold(0x0a00 + 0x07c8 + 0x0a00 + 0x0164 + 17 + 16));
    }
}
