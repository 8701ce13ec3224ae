//! Population count, the poptrie's indexing primitive.
//!
//! `u64::count_ones` is portable: it lowers to the `POPCNT` instruction when
//! the target CPU has it and to a short bit-twiddling sequence otherwise.
//! The workspace's `.cargo/config.toml` builds for `x86-64-v2` (which has
//! POPCNT), so the lookup loop uses the instruction; a build for a baseline
//! target (`RUSTFLAGS="-C target-cpu=x86-64"`) or another architecture runs
//! the same source with the software sequence. No runtime dispatch: a
//! `#[target_feature]` call needs `unsafe`, which this crate forbids, and
//! the whole binary is built for one CPU level anyway.

/// Number of set bits.
#[inline(always)]
pub(crate) fn popcount(x: u64) -> u32 {
    x.count_ones()
}

#[cfg(test)]
mod tests {
    #[test]
    fn popcount_matches_naive() {
        for x in [
            0u64,
            1,
            3,
            u64::MAX,
            0x8000_0000_0000_0001,
            0x5555_5555_5555_5555,
        ] {
            let naive = (0..64).filter(|i| x >> i & 1 == 1).count() as u32;
            assert_eq!(super::popcount(x), naive);
        }
    }
}
