//! Evidently's drift tests, with its definitions, defaults and thresholds
//! (evidently/legacy/calculations/stattests): each returns a score and
//! whether it means drift. Distances drift at `score >= threshold`;
//! p-value tests at `p <= threshold` (KS) or `p < threshold` (chi-square, z).

mod durbin;
mod histogram;
mod kolmogorov;
mod ks;
pub mod radix;
mod smirnov;
mod special;

pub use histogram::{distinct, histogram, sturges_edges};
pub use ks::{KsResult, ks_2samp};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Population stability index (drift at >= 0.1).
    Psi,
    /// Two-sample Kolmogorov-Smirnov p-value (drift at <= 0.05).
    Ks,
    /// Wasserstein distance normed by the reference's standard deviation (drift at >= 0.1).
    Wasserstein,
    /// Jensen-Shannon distance, natural log (drift at >= 0.1).
    Jensenshannon,
    /// Chi-square goodness-of-fit p-value, for categories (drift at < 0.05).
    Chisquare,
    /// Two-proportion z-test p-value, for two categories (drift at < 0.05).
    Z,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Psi => "psi",
            Method::Ks => "ks",
            Method::Wasserstein => "wasserstein",
            Method::Jensenshannon => "jensenshannon",
            Method::Chisquare => "chisquare",
            Method::Z => "z",
        }
    }

    pub fn default_threshold(self) -> f64 {
        match self {
            Method::Psi | Method::Wasserstein | Method::Jensenshannon => 0.1,
            Method::Ks | Method::Chisquare | Method::Z => 0.05,
        }
    }

    /// p-value tests: a small score means drift.
    pub fn is_p_value(self) -> bool {
        matches!(self, Method::Ks | Method::Chisquare | Method::Z)
    }

    pub fn drifted(self, score: f64, threshold: f64) -> bool {
        match self {
            Method::Psi | Method::Wasserstein | Method::Jensenshannon => score >= threshold,
            Method::Ks => score <= threshold,
            Method::Chisquare | Method::Z => score < threshold,
        }
    }

    /// Evidently's choice when none is given: by reference size, column kind
    /// and the number of distinct values in reference and current together.
    pub fn default_for(reference: &[f64], current: &[f64], categorical: bool) -> Method {
        Self::default_for_sorted(&sorted(reference), &sorted(current), categorical)
    }

    /// `default_for` on samples sorted ascending.
    pub fn default_for_sorted(reference: &[f64], current: &[f64], categorical: bool) -> Method {
        let n_values = distinct_in_union(reference, current);
        if reference.len() <= 1000 {
            if categorical || n_values <= 5 {
                if n_values > 2 { Method::Chisquare } else { Method::Z }
            } else {
                Method::Ks
            }
        } else if categorical || n_values <= 5 {
            Method::Jensenshannon
        } else {
            Method::Wasserstein
        }
    }

    /// The score of `current` against `reference` (finite values only).
    pub fn score(self, reference: &[f64], current: &[f64], categorical: bool) -> f64 {
        self.score_sorted(&sorted(reference), &sorted(current), categorical)
    }

    /// `score` on samples sorted ascending (each column is sorted once).
    pub fn score_sorted(self, reference: &[f64], current: &[f64], categorical: bool) -> f64 {
        let numerical = !categorical;
        match self {
            Method::Psi => {
                let b = histogram::bin(reference, current, numerical, true);
                b.reference.iter().zip(&b.current).map(|(r, c)| (r - c) * (r / c).ln()).sum()
            }
            Method::Jensenshannon => {
                let b = histogram::bin(reference, current, numerical, false);
                jensen_shannon(&b.reference, &b.current)
            }
            Method::Wasserstein => {
                let norm = population_std(reference).max(0.001);
                wasserstein(reference, current) / norm
            }
            Method::Ks => ks_2samp(reference, current).p_value,
            Method::Chisquare => chi_square(reference, current),
            Method::Z => z_test(reference, current),
        }
    }
}

pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    radix::sort(&mut v);
    v
}

/// Distinct values of two sorted samples together.
fn distinct_in_union(a: &[f64], b: &[f64]) -> usize {
    let (mut i, mut j, mut count, mut last) = (0, 0, 0, None::<f64>);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x <= y => {
                i += 1;
                x
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (_, Some(&y)) => {
                j += 1;
                y
            }
            (None, None) => break,
        };
        if last != Some(x) {
            count += 1;
            last = Some(x);
        }
    }
    count
}

fn population_std(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// scipy.spatial.distance.jensenshannon: both normalised to sum 1, natural
/// log, the distance (square root of the divergence).
fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    let rel_entr = |x: f64, y: f64| if x > 0.0 && y > 0.0 { x * (x / y).ln() } else { 0.0 };
    let mut total = 0.0;
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a / sp, b / sq);
        let m = (a + b) / 2.0;
        total += rel_entr(a, m) + rel_entr(b, m);
    }
    (total / 2.0).max(0.0).sqrt()
}

/// scipy.stats.wasserstein_distance: the area between the two empirical
/// CDFs, walking both sorted samples once.
pub fn wasserstein(u: &[f64], v: &[f64]) -> f64 {
    let (nu, nv) = (u.len() as f64, v.len() as f64);
    let (mut i, mut j, mut total, mut previous) = (0usize, 0usize, 0.0, None::<f64>);
    while i < u.len() || j < v.len() {
        let x = match (u.get(i), v.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        if let Some(p) = previous {
            // The CDFs as of the previous value, over the gap to this one.
            total += (i as f64 / nu - j as f64 / nv).abs() * (x - p);
        }
        while i < u.len() && u[i] <= x {
            i += 1;
        }
        while j < v.len() && v[j] <= x {
            j += 1;
        }
        previous = Some(x);
    }
    total
}

/// Evidently's chi-square: current counts against reference counts scaled
/// to the current size, one cell per distinct value.
fn chi_square(reference: &[f64], current: &[f64]) -> f64 {
    let mut keys: Vec<f64> = reference.iter().chain(current).copied().collect();
    keys.sort_by(f64::total_cmp);
    keys.dedup();
    let count = |sample: &[f64]| {
        let mut counts = vec![0.0f64; keys.len()];
        for v in sample {
            if let Ok(i) = keys.binary_search_by(|k| k.total_cmp(v)) {
                counts[i] += 1.0;
            }
        }
        counts
    };
    let k_norm = current.len() as f64 / reference.len() as f64;
    let (expected, observed) = (count(reference), count(current));
    let stat: f64 = observed.iter().zip(&expected).map(|(o, e)| (o - e * k_norm).powi(2) / (e * k_norm)).sum();
    special::chi2_sf(stat, keys.len() as f64 - 1.0)
}

/// Evidently's two-proportion z-test on "is the smallest value", two-sided,
/// as `2 * (1 - norm.cdf(|z|))`.
fn z_test(reference: &[f64], current: &[f64]) -> f64 {
    let first = reference.iter().chain(current).copied().fold(f64::INFINITY, f64::min);
    let (ref_d, cur_d) = (distinct(reference), distinct(current));
    if ref_d == 1 && cur_d == 1 && reference.first() == current.first() {
        return 1.0;
    }
    let share = |sample: &[f64]| sample.iter().filter(|&&v| v != first).count() as f64 / sample.len() as f64;
    let (n1, n2) = (reference.len() as f64, current.len() as f64);
    let (p1, p2) = (share(reference), share(current));
    let pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
    let z = (p1 - p2) / (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    2.0 * (1.0 - special::normal_cdf(z.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasserstein_like_scipy() {
        // scipy.stats.wasserstein_distance([0, 1, 3], [5, 6, 8]) = 5.0 (sorted inputs)
        assert!((wasserstein(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]) - 5.0).abs() < 1e-12);
        // scipy.stats.wasserstein_distance([3.4, 3.9, 7.5, 7.8], [4.5, 1.4]) = 2.7
        assert!((wasserstein(&[3.4, 3.9, 7.5, 7.8], &[1.4, 4.5]) - 2.7).abs() < 1e-12);
        assert_eq!(distinct_in_union(&[1.0, 1.0, 2.0], &[2.0, 3.0]), 3);
    }

    #[test]
    fn default_choice_follows_evidently() {
        let small: Vec<f64> = (0..100).map(f64::from).collect();
        let big: Vec<f64> = (0..2000).map(f64::from).collect();
        assert_eq!(Method::default_for(&small, &small, false), Method::Ks);
        assert_eq!(Method::default_for(&big, &small, false), Method::Wasserstein);
        assert_eq!(Method::default_for(&[0.0, 1.0], &[1.0], false), Method::Z);
        assert_eq!(Method::default_for(&[0.0, 1.0, 2.0], &[1.0], true), Method::Chisquare);
        let few = vec![1.0; 1500];
        assert_eq!(Method::default_for(&few, &[2.0], false), Method::Jensenshannon);
    }
}
