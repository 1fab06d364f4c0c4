//! Sharing an amount by weights, exactly: floors first, then the remainder one unit at
//! a time by largest remainder (the Hamilton method), ties broken by a stable key.

use ethnum::U256;

/// Splits `total` among `weights` (each with its tie-break key) so that the shares sum
/// to exactly `total` when any weight is positive, and to 0 otherwise.
///
/// Share `i` is `floor(total · w_i / W)`, plus one for the `total − Σfloors` entries with
/// the largest `total · w_i mod W`, ties going to the smallest key. Products are 256-bit,
/// so no weight is too large.
pub fn apportion<K: Ord>(total: u64, weights: &[(K, u128)]) -> Vec<u64> {
    let sum: U256 = weights.iter().map(|(_, w)| U256::from(*w)).fold(U256::ZERO, |a, b| a + b);
    if sum == U256::ZERO {
        return vec![0; weights.len()];
    }
    let total_wide = U256::from(total);
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (index, (_, weight)) in weights.iter().enumerate() {
        let product = total_wide * U256::from(*weight);
        // share ≤ total, so it fits u64.
        shares.push((product / sum).as_u64());
        remainders.push((product % sum, index));
    }
    let given: u64 = shares.iter().sum();
    let left = (total - given) as usize;
    // Largest remainder first; equal remainders in key order.
    remainders.sort_by(|(ra, ia), (rb, ib)| rb.cmp(ra).then_with(|| weights[*ia].0.cmp(&weights[*ib].0)));
    for (_, index) in remainders.into_iter().take(left) {
        shares[index] += 1;
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
    fn huge_weights_do_not_overflow() {
        let shares = apportion(u64::MAX, &[("a", u128::MAX), ("b", u128::MAX), ("c", 1)]);
        assert_eq!(shares.iter().map(|s| u128::from(*s)).sum::<u128>(), u128::from(u64::MAX));
        assert_eq!(shares[2], 0);
    }
}
