//! Fixed-width unsigned keys (u32 for IPv4, u128 for IPv6) seen as bit
//! strings, most significant bit first. One poptrie implementation serves
//! both widths through this trait.

use std::fmt::Debug;
use std::hash::Hash;

/// An address as a bit string. Bits past [`Key::BITS`] read as zero, so a
/// 6-bit stride that starts near the end of the key is zero-padded; the
/// builder expands prefixes over the same padded positions, which keeps
/// lookups and builds consistent without special cases.
pub trait Key: Copy + Eq + Ord + Hash + Debug + Default + Send + Sync + 'static {
    const BITS: u32;
    /// `width` bits starting at bit `offset` (0 = most significant), as an
    /// integer. Requires `offset < BITS` and `1 <= width <= 32`.
    fn bits(self, offset: u32, width: u32) -> u32;
    /// The key with every bit from `len` on cleared.
    fn mask(self, len: u32) -> Self;
    /// The key with the `width`-bit value `v` or-ed in at bit `offset`
    /// (bits that would fall past the end are dropped).
    fn or_bits(self, offset: u32, width: u32, v: u32) -> Self;
}

macro_rules! impl_key {
    ($t:ty, $bits:item) => {
        impl Key for $t {
            const BITS: u32 = <$t>::BITS;
            #[inline(always)]
            $bits
            #[inline]
            fn mask(self, len: u32) -> Self {
                if len == 0 {
                    0
                } else if len >= Self::BITS {
                    self
                } else {
                    self & (<$t>::MAX << (Self::BITS - len))
                }
            }
            #[inline]
            fn or_bits(self, offset: u32, width: u32, v: u32) -> Self {
                let v = v as $t;
                let end = offset + width;
                if end <= Self::BITS {
                    self | (v << (Self::BITS - end))
                } else {
                    self | (v >> (end - Self::BITS))
                }
            }
        }
    };
}
impl_key!(
    u32,
    fn bits(self, offset: u32, width: u32) -> u32 {
        debug_assert!(offset < Self::BITS && (1..=32).contains(&width));
        (self << offset) >> (Self::BITS - width)
    }
);
impl_key!(
    u128,
    fn bits(self, offset: u32, width: u32) -> u32 {
        debug_assert!(offset < Self::BITS && (1..=32).contains(&width));
        // Almost every IPv6 lookup ends within the top 64 bits: shift one
        // register there instead of a 128-bit pair.
        if offset + width <= 64 {
            let hi = (self >> 64) as u64;
            ((hi << offset) >> (64 - width)) as u32
        } else {
            ((self << offset) >> (Self::BITS - width)) as u32
        }
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_pad_with_zeros_past_the_end() {
        let k: u32 = 0xC0A8_0103; // 192.168.1.3
        assert_eq!(k.bits(0, 8), 0xC0);
        assert_eq!(k.bits(0, 18), 0xC0A8_0103 >> 14);
        assert_eq!(k.bits(30, 6), 0b11_0000);
        let k6: u128 = u128::MAX;
        assert_eq!(k6.bits(124, 6), 0b11_1100);
        assert_eq!(k6.bits(0, 16), 0xffff);
    }

    #[test]
    fn mask_and_or_bits() {
        assert_eq!(0xffff_ffffu32.mask(0), 0);
        assert_eq!(0xffff_ffffu32.mask(8), 0xff00_0000);
        assert_eq!(0xffff_ffffu32.mask(32), 0xffff_ffff);
        assert_eq!(0u32.or_bits(30, 6, 0b10_1111), 0b10);
        assert_eq!(0u32.or_bits(0, 8, 0xC0), 0xC000_0000);
        assert_eq!(0u128.or_bits(124, 6, 0b11_1100), 0xf);
    }
}
