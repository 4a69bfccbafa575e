//! Top-k selection for Triton's classification extension: the indices of the
//! k highest values of each row, highest first. This is the CPU reference
//! that serves CPU models and that a device kernel must equal.

use std::cmp::Ordering;

/// Indices of the `k` highest of `values` (all of them when `k` is larger),
/// highest first; equal values keep index order, and NaN ranks below every
/// number, so the answer is the same on every run and every device.
pub fn top_k<T: Copy + PartialOrd>(values: &[T], k: usize) -> Vec<usize> {
    let k = k.min(values.len());
    if k == 0 {
        return Vec::new();
    }
    let ranks = |&a: &usize, &b: &usize| rank(values[a], values[b]).then(a.cmp(&b));
    let mut indices: Vec<usize> = (0..values.len()).collect();
    if k < indices.len() {
        // Partition around the k-th before sorting: O(n + k log k) for the
        // common case of a few classes out of many.
        indices.select_nth_unstable_by(k - 1, ranks);
        indices.truncate(k);
    }
    indices.sort_unstable_by(ranks);
    indices
}

/// Higher values first, NaN (unordered with itself) last.
fn rank<T: PartialOrd>(a: T, b: T) -> Ordering {
    #[allow(clippy::eq_op)] // x != x is how a generic PartialOrd spells NaN
    let (a_nan, b_nan) = (a != a, b != b);
    match (a_nan, b_nan) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_first_as_tritons_documentation_shows() {
        assert_eq!(top_k(&[1, 5, 10, 4], 2), vec![2, 1]);
        assert_eq!(top_k(&[1, 5, 10, 4], 4), vec![2, 1, 3, 0]);
    }

    #[test]
    fn k_beyond_the_row_returns_the_whole_row_and_zero_returns_none() {
        assert_eq!(top_k(&[0.25f32, 0.75], 10), vec![1, 0]);
        assert!(top_k(&[0.25f32, 0.75], 0).is_empty());
        assert!(top_k::<f32>(&[], 3).is_empty());
    }

    #[test]
    fn ties_keep_index_order_and_nan_ranks_last() {
        assert_eq!(top_k(&[0.5f64, 0.9, 0.5, 0.9], 4), vec![1, 3, 0, 2]);
        assert_eq!(top_k(&[f32::NAN, -1.0, f32::INFINITY], 3), vec![2, 1, 0]);
        assert_eq!(top_k(&[u64::MAX, u64::MAX - 1], 1), vec![0], "no precision lost on wide integers");
    }

    #[test]
    fn selection_agrees_with_a_full_sort_on_every_k() {
        // A fixed pseudo-random row with many ties: partial selection must
        // give exactly the prefix a stable full sort gives.
        let mut state = 12345u32;
        let row: Vec<i32> = (0..257)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((state >> 16) % 50) as i32
            })
            .collect();
        let mut sorted: Vec<usize> = (0..row.len()).collect();
        sorted.sort_by(|&a, &b| row[b].cmp(&row[a]));
        for k in 0..=row.len() {
            assert_eq!(top_k(&row, k), sorted[..k], "k = {k}");
        }
    }
}
