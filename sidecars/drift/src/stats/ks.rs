//! The two-sample Kolmogorov-Smirnov test as scipy's `ks_2samp` computes it
//! (two-sided, method "auto"): the statistic from the empirical CDFs, the
//! exact p-value when both samples have at most 10,000 rows (lattice-path
//! counting: Hodges' inside method in Viehmann's 1-p form, or the closed
//! form for equal sizes), else the finite-n one-sample distribution at the
//! effective sample size (see `kolmogorov`).

use super::kolmogorov::kstwo_sf;

/// Both samples at most this size: exact p-value (scipy's MAX_AUTO_N).
const MAX_EXACT_N: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsResult {
    pub statistic: f64,
    pub p_value: f64,
}

/// `reference` and `current` sorted ascending, no NaN.
pub fn ks_2samp(reference: &[f64], current: &[f64]) -> KsResult {
    let (n1, n2) = (reference.len(), current.len());
    if n1 == 0 || n2 == 0 {
        return KsResult { statistic: 0.0, p_value: 1.0 };
    }
    let statistic = statistic(reference, current);
    let g = gcd(n1, n2);
    let p_value = if n1.max(n2) <= MAX_EXACT_N {
        exact(n1, n2, g, statistic).unwrap_or_else(|| asymptotic(n1, n2, statistic))
    } else {
        asymptotic(n1, n2, statistic)
    };
    KsResult { statistic, p_value: p_value.clamp(0.0, 1.0) }
}

/// max |F1 - F2| over the pooled values, right-continuous ECDFs.
fn statistic(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut max_diff, mut min_diff) = (0, 0, 0.0f64, 0.0f64);
    while i < a.len() || j < b.len() {
        let value = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        while i < a.len() && a[i] <= value {
            i += 1;
        }
        while j < b.len() && b[j] <= value {
            j += 1;
        }
        let diff = i as f64 / n1 - j as f64 / n2;
        max_diff = max_diff.max(diff);
        min_diff = min_diff.min(diff);
    }
    max_diff.max((-min_diff).clamp(0.0, 1.0))
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn exact(n1: usize, n2: usize, g: usize, d: f64) -> Option<f64> {
    let lcm = (n1 / g) as f64 * n2 as f64;
    let h = (d * lcm).round_ties_even() as u64;
    if h == 0 {
        return Some(1.0);
    }
    let p = if n1 == n2 { outside_square(n1 as u64, h) } else { outer_inside(n1 as u64, n2 as u64, g as u64, h) };
    (p.is_finite() && (0.0..=1.0).contains(&p)).then_some(p)
}

/// P(D_{n,n} >= h/n) by the alternating binomial sum, Horner-style.
fn outside_square(n: u64, h: u64) -> f64 {
    let mut p = 0.0;
    let mut k = (n / h) as i64;
    while k >= 0 {
        let kh = k as u64 * h;
        let mut term = 1.0;
        for j in 0..h {
            if kh + j > n {
                term = 0.0;
                break;
            }
            term = (n - kh - j) as f64 * term / (n + kh + j + 1) as f64;
        }
        p = term * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// 1 - (paths staying strictly inside |x/m - y/n| < h/lcm) / all paths.
fn outer_inside(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = (m / g, n / g);
    let (h, mg_f, ng_f) = (h as f64, mg as f64, ng as f64);
    let mut minj: i64 = 0;
    let mut maxj: i64 = ((h / mg_f).ceil() as i64).min(n as i64 + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n as i64 + 1) as usize;
    let mut a = vec![1.0f64; len_a.max(1)];
    for slot in a.iter_mut().take(maxj as usize) {
        *slot = 0.0;
    }
    for i in 1..=m as i64 {
        let (lastminj, lastlen) = (minj, curlen);
        minj = ((((ng_f * i as f64 - h) / mg_f).floor() as i64) + 1).max(0).min(n as i64);
        maxj = (((ng_f * i as f64 + h) / mg_f).ceil() as i64).min(n as i64 + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            let previous = a.get((jj + minj - lastminj) as usize).copied().unwrap_or(1.0);
            val = (previous * i as f64 + val * j as f64) / (i + j) as f64;
            a[jj as usize] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let start = (maxj - minj) as usize;
            let end = (start + (lastlen - curlen) as usize).min(a.len());
            for slot in &mut a[start..end] {
                *slot = 1.0;
            }
        }
    }
    a[(maxj - minj - 1) as usize]
}

/// scipy's asymptotic branch: the one-sample finite-n distribution at the
/// effective size, `kstwo.sf(d, round(n1*n2/(n1+n2)))`.
fn asymptotic(n1: usize, n2: usize, d: f64) -> f64 {
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let effective = (m * n / (m + n)).round_ties_even() as u64;
    kstwo_sf(effective.max(1), d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(v: &[f64]) -> Vec<f64> {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn matches_scipy_exact() {
        // scipy.stats.ks_2samp([1,2,3,4,5],[3,4,5,6,7,8]) -> 0.5, p 0.35714285714285715
        let r = ks_2samp(&sorted(&[1.0, 2.0, 3.0, 4.0, 5.0]), &sorted(&[3.0, 4.0, 5.0, 6.0, 7.0, 8.0]));
        assert!((r.statistic - 0.5).abs() < 1e-12, "{r:?}");
        assert!((r.p_value - 0.357_142_857_142_857_15).abs() < 1e-12, "{r:?}");
        // equal sizes: ks_2samp([1,2,3,4],[5,6,7,8]) -> 1.0, p 0.028571428571428577
        let r = ks_2samp(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0]);
        assert!((r.p_value - 0.028_571_428_571_428_57).abs() < 1e-12, "{r:?}");
        assert_eq!(ks_2samp(&[1.0, 2.0], &[1.0, 2.0]).p_value, 1.0);
    }
}
