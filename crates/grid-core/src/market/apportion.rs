//! Sharing an amount by weights, exactly: floors first, then the remainder one unit at
//! a time by largest remainder (the Hamilton method), ties broken by a stable key.

use ethnum::U256;

/// Splits `total` among `weights` (each with its tie-break key) so that the shares sum
/// to exactly `total` when any weight is positive, and to 0 otherwise.
///
/// Share `i` is `floor(total · w_i / W)`, plus one for the `total − Σfloors` entries with
/// the largest `total · w_i mod W`, ties going to the smallest key (then the earliest
/// entry, for equal keys). Products are 128-bit
/// when every weight fits 64 bits (energy, matched energy) and 256-bit otherwise, so no
/// weight is too large.
pub fn apportion<K: Ord>(total: u64, weights: &[(K, u128)]) -> Vec<u64> {
    if weights.iter().all(|(_, w)| u64::try_from(*w).is_ok()) {
        // Σ w_i < 2^64 · 2^64 for fewer than 2^64 weights, and T · w_i < 2^128.
        let sum: u128 = weights.iter().map(|(_, w)| *w).sum();
        shares(total, weights, sum, |w| {
            let product = u128::from(total) * w;
            ((product / sum) as u64, product % sum)
        })
    } else {
        let sum: U256 = weights.iter().map(|(_, w)| U256::from(*w)).fold(U256::ZERO, |a, b| a + b);
        shares(total, weights, sum, |w| {
            let product = U256::from(total) * U256::from(w);
            // A share is at most the total, so it fits 64 bits.
            ((product / sum).as_u64(), product % sum)
        })
    }
}

/// The largest-remainder shares, given each weight's `(floor, remainder)`.
fn shares<K: Ord, N: Ord + Copy + Default>(
    total: u64,
    weights: &[(K, u128)],
    sum: N,
    split: impl Fn(u128) -> (u64, N),
) -> Vec<u64> {
    if sum == N::default() {
        return vec![0; weights.len()];
    }
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (index, (_, weight)) in weights.iter().enumerate() {
        let (share, remainder) = split(*weight);
        shares.push(share);
        remainders.push((remainder, index));
    }
    let given: u64 = shares.iter().sum();
    let left = (total - given) as usize;
    if left > 0 {
        // Largest remainder first, equal remainders in key order: only the first `left`
        // of that order matter, and which they are does not need the rest sorted.
        let order = |(ra, ia): &(N, usize), (rb, ib): &(N, usize)| {
            rb.cmp(ra).then_with(|| weights[*ia].0.cmp(&weights[*ib].0)).then(ia.cmp(ib))
        };
        if left < remainders.len() {
            remainders.select_nth_unstable_by(left - 1, order);
        }
        for (_, index) in &remainders[..left] {
            shares[*index] += 1;
        }
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_weights_share_evenly_and_the_remainder_goes_by_key() {
        assert_eq!(apportion(10, &[("b", 1), ("a", 1), ("c", 1)]), [3, 4, 3]);
        assert_eq!(apportion(2, &[("b", 1), ("a", 1), ("c", 1)]), [1, 1, 0]);
    }

    #[test]
    fn the_largest_remainder_wins_the_leftover_unit() {
        // 100 by 1:2:4 → 14.28, 28.57, 57.14 → floors 14, 28, 57 (99), the leftover to 28.57.
        assert_eq!(apportion(100, &[("x", 1), ("y", 2), ("z", 4)]), [14, 29, 57]);
    }

    #[test]
    fn nothing_to_share_or_no_weight_gives_zeros() {
        assert_eq!(apportion(0, &[("a", 5), ("b", 7)]), [0, 0]);
        assert_eq!(apportion(50, &[("a", 0), ("b", 0)]), [0, 0]);
        assert_eq!(apportion::<&str>(50, &[]), Vec::<u64>::new());
    }

    #[test]
    fn the_128_and_256_bit_paths_agree() {
        let small = [("a", 3u128), ("b", 5), ("c", 7), ("d", 7)];
        let mut huge = small.to_vec();
        huge.push(("e", 0));
        // The same weights scaled past 64 bits take the wide path and give the same shares.
        let scaled: Vec<(&str, u128)> = small.iter().map(|(k, w)| (*k, w << 70)).collect();
        for total in [0, 1, 2, 10, 21, 1000, u64::MAX] {
            let narrow = apportion(total, &small);
            assert_eq!(apportion(total, &scaled), narrow, "{total}");
            assert_eq!(&apportion(total, &huge)[..4], narrow.as_slice(), "{total}");
        }
    }

    #[test]
    fn huge_weights_do_not_overflow() {
        let shares = apportion(u64::MAX, &[("a", u128::MAX), ("b", u128::MAX), ("c", 1)]);
        assert_eq!(shares.iter().map(|s| u128::from(*s)).sum::<u128>(), u128::from(u64::MAX));
        assert_eq!(shares[2], 0);
    }

    /// The Hamilton method as written: every remainder sorted.
    fn by_the_book(total: u64, weights: &[(u32, u128)]) -> Vec<u64> {
        let sum: u128 = weights.iter().map(|(_, w)| w).sum();
        if sum == 0 {
            return vec![0; weights.len()];
        }
        let mut shares: Vec<u64> = weights.iter().map(|(_, w)| (u128::from(total) * w / sum) as u64).collect();
        let mut order: Vec<usize> = (0..weights.len()).collect();
        order.sort_by(|a, b| {
            let rem = |i: usize| u128::from(total) * weights[i].1 % sum;
            rem(*b).cmp(&rem(*a)).then(weights[*a].0.cmp(&weights[*b].0))
        });
        let left = total - shares.iter().sum::<u64>();
        for i in order.into_iter().take(left as usize) {
            shares[i] += 1;
        }
        shares
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(10_000))]
        #[test]
        fn shares_are_the_hamilton_methods_and_sum_to_the_total(
            total in 0u64..100_000,
            weights in proptest::collection::vec((0u32..50, 0u128..1_000), 0..40),
        ) {
            let shares = apportion(total, &weights);
            proptest::prop_assert_eq!(&shares, &by_the_book(total, &weights));
            if weights.iter().any(|(_, w)| *w > 0) {
                proptest::prop_assert_eq!(shares.iter().sum::<u64>(), total);
            }
        }
    }
}
