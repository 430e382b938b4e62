//! Deterministic seed derivation.

/// SplitMix64's output function applied to `x + 0x9E3779B97F4A7C15` (one
/// step of the generator from state `x`): a bijective mix of 64 bits, used
/// to derive independent seeds from (seed, position) pairs.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Value number `i` of the SplitMix64 stream started at `seed`, as a double
/// in [0, 1) from its top 53 bits.
pub fn splitmix64_uniform(seed: u64, i: u64) -> f64 {
    let z = splitmix64(seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_generator() {
        // SplitMix64 from state 0 (Vigna's reference: splitmix64.c).
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(0x9E37_79B9_7F4A_7C15), 0x6E78_9E6A_A1B9_65F4);
        let u = splitmix64_uniform(0, 1);
        assert_eq!(
            u,
            (0x6E78_9E6A_A1B9_65F4u64 >> 11) as f64 / (1u64 << 53) as f64
        );
    }
}
