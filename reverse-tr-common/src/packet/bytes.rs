//! Reading big-endian fields out of a header a view's constructor has
//! checked to be long enough, so the readers need not fail.

use core::ops::Range;

use crate::error::{Error, Result};

/// The octets of a multi-octet field: from its first up to the next field.
pub type Field = Range<usize>;

/// Octet `at` of a checked buffer.
#[inline(always)]
pub(super) fn octet(bytes: &[u8], at: usize) -> u8 {
    bytes.get(at).copied().unwrap_or_default()
}

/// The `N` octets of `field` (which must be `N` octets long) of a checked buffer.
#[inline(always)]
pub(super) fn array<const N: usize>(bytes: &[u8], field: Field) -> [u8; N] {
    bytes
        .get(field)
        .and_then(|octets| octets.try_into().ok())
        .unwrap_or([0; N])
}

/// The big-endian `u16` of a 2-octet `field` of a checked buffer.
#[inline(always)]
pub(super) fn word(bytes: &[u8], field: Field) -> u16 {
    u16::from_be_bytes(array(bytes, field))
}

/// The big-endian `u32` of a 4-octet `field` of a checked buffer.
#[inline(always)]
pub(super) fn double_word(bytes: &[u8], field: Field) -> u32 {
    u32::from_be_bytes(array(bytes, field))
}

/// Fails with [`Error::Truncated`] unless `bytes` holds `need` octets.
#[inline(always)]
pub(super) fn require(bytes: &[u8], need: usize) -> Result<()> {
    if bytes.len() < need {
        return Err(Error::Truncated {
            need,
            have: bytes.len(),
        });
    }
    Ok(())
}
