//! The Internet checksum (RFC 1071) and the compensation word of §5.5.
//!
//! Sums are kept unfolded in a `u32` so that parts (pseudo-header, headers,
//! payload) can be added in any order; [`fold`] and [`checksum`] finish them.

/// Longest input [`accumulate_array`] takes, so loops stay short for the verifier.
pub const MAX_SUMMED: usize = 128;

/// Adds `bytes` as big-endian 16-bit words to `sum` (an odd last octet is
/// padded with zero). Bounded by the slice length; the eBPF program uses
/// [`accumulate_array`], whose bound is a constant.
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

/// [`accumulate`] over a fixed-size array of at most [`MAX_SUMMED`] octets.
#[inline(always)]
pub fn accumulate_array<const N: usize>(sum: u32, bytes: &[u8; N]) -> u32 {
    const {
        assert!(
            N <= MAX_SUMMED,
            "checksummed arrays are at most MAX_SUMMED octets"
        )
    };
    accumulate(sum, bytes)
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

/// Writes at `at` the word that makes `message` verify with the
/// pseudo-header sum `pseudo`; the word must be zero on entry. Serves both a
/// computed checksum field and a compensation word (§5.5), which are the
/// same computation at different places.
#[inline(always)]
pub fn seal<const N: usize>(pseudo: u32, message: &mut [u8; N], at: usize) {
    let word = compensation(pseudo.wrapping_add(accumulate_array(0, message)));
    if let Some(field) = message
        .get_mut(at..)
        .and_then(|rest| rest.first_chunk_mut::<2>())
    {
        *field = word.to_be_bytes();
    }
}

/// Sum of the IPv4 pseudo-header: both addresses, zero, protocol, length.
#[inline(always)]
pub fn pseudo_header_v4(source: &[u8; 4], destination: &[u8; 4], protocol: u8, length: u16) -> u32 {
    let sum = accumulate_array(0, source);
    let sum = accumulate_array(sum, destination);
    sum + u32::from(protocol) + u32::from(length)
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
    let sum = accumulate_array(0, source);
    let sum = accumulate_array(sum, destination);
    sum + (length >> 16) + (length & 0xFFFF) + u32::from(next_header)
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
    fn compensation_makes_message_verify() {
        let mut msg = [
            0x08, 0x00, 0xbe, 0xaf, 0x01, 0x02, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        let word = compensation(accumulate_array(0, &msg));
        msg[14..16].copy_from_slice(&word.to_be_bytes());
        assert!(verifies(accumulate_array(0, &msg)));
    }
}
