//! The one-sided Kolmogorov-Smirnov tail P(D+_n > x), as scipy's
//! `special.smirnov`: the Smirnov / Birnbaum-Tingey sum
//!
//!   sum_{v=0}^{floor(n(1-x))} C(n,v) x (x + v/n)^(v-1) (1 - x - v/n)^(n-v)
//!
//! with its closed forms near x = 1/n and x = 1 - 1/n, and its large-n
//! approximation. Every term of this sum is positive, so it is summed in f64
//! from logarithms (cephes carries double-doubles because it also evaluates
//! the alternating upper sum, which the two-sided distribution never needs).

/// cephes' MINLOG: ln(2^-1022); exp of anything below underflows.
const MIN_LOG: f64 = -7.083_964_185_322_641e2;
/// Above this n scipy switches to the approximation exp(-(6nx+1)^2 / 18n).
const MAX_COMPUTE_N: u64 = 1_000_000;

/// P(D+_n > x), the one-sided survival function.
pub fn smirnov_sf(n: u64, x: f64) -> f64 {
    if n == 0 || !(0.0..=1.0).contains(&x) {
        return f64::NAN;
    }
    if n == 1 {
        return 1.0 - x;
    }
    if x == 0.0 {
        return 1.0;
    }
    if x == 1.0 {
        return 0.0;
    }
    let nf = n as f64;
    let (nx_floor, alpha) = floor_and_fraction(nf, x);
    if nx_floor == 0 || (nx_floor == 1 && alpha == 0.0) {
        // x <= 1/n: P(D+ <= x) = x (1 + x)^(n-1).
        return (1.0 - x * (1.0 + x).powf(nf - 1.0)).clamp(0.0, 1.0);
    }
    if -2.0 * nf * x * x < MIN_LOG {
        return 0.0;
    }
    if nx_floor >= n - 1 {
        return (1.0 - x).powf(nf).clamp(0.0, 1.0);
    }
    if n > MAX_COMPUTE_N {
        let log_p = -(6.0 * nf * x + 1.0).powi(2) / 18.0 / nf;
        return if log_p < -std::f64::consts::LN_2 { log_p.exp() } else { 1.0 + log_p.exp_m1() };
    }
    lower_sum(n, x, nx_floor).clamp(0.0, 1.0)
}

/// floor(n x) and its remainder, exact (the product's rounding error is
/// recovered with a fused multiply-add), so x = k/n lands on k.
fn floor_and_fraction(n: f64, x: f64) -> (u64, f64) {
    let product = n * x;
    let error = n.mul_add(x, -product);
    let mut floor = product.floor();
    let mut fraction = (product - floor) + error;
    if fraction < 0.0 {
        floor -= 1.0;
        fraction += 1.0;
    }
    if fraction >= 1.0 {
        floor += 1.0;
        fraction -= 1.0;
    }
    (floor as u64, fraction)
}

fn lower_sum(n: u64, x: f64, nx_floor: u64) -> f64 {
    let nf = n as f64;
    // The last v with 1 - x - v/n > 0 (an exact hit at x = k/n is left out).
    let last = n - nx_floor - 1;
    let terms = last + 1;
    let mut sum = (1.0 - x).powf(nf);
    // ln C(n, v) is a running sum that reaches ~n; kept as a compensated
    // (hi, lo) pair, or its rounding would cost ~1e-10 of relative accuracy.
    let (mut log_binomial, mut log_binomial_low) = (nf.ln(), 0.0); // ln C(n, 1)
    let (mut compensation, half) = (0.0, n / 2);
    for v in 1..terms {
        let vf = v as f64;
        let upper = (nf - vf) / nf - x;
        let term = if upper > 0.0 {
            let rest = x.ln() + (vf - 1.0) * (x + vf / nf).ln() + (nf - vf) * upper.ln();
            ((log_binomial + rest) + log_binomial_low).exp()
        } else {
            0.0
        };
        if term.is_finite() && term > 0.0 {
            // Kahan summation: up to a million positive terms.
            let y = term - compensation;
            let t = sum + y;
            compensation = (t - sum) - y;
            sum = t;
            if 4.0 * (terms - v) as f64 * term < f64::EPSILON * sum && v != terms - 1 {
                break;
            }
        } else if v > half {
            break;
        }
        let step = ((nf - vf) / (vf + 1.0)).ln();
        let total = log_binomial + step;
        let bits = total - log_binomial;
        log_binomial_low += (log_binomial - (total - bits)) + (step - bits);
        log_binomial = total;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scipy_special_smirnov() {
        // scipy.special.smirnov(n, x)
        let cases: &[(u64, f64, f64)] = &[
            (2, 0.3, 0.61),
            (10, 0.25, 0.244_913_724_833_984_38),
            (10, 0.2, 0.396_761_691_599_999_97),
            (100, 0.3, 8.859_934_946_331_458e-9),
            (1000, 0.05, 0.006_506_037_390_545_166),
            (66667, 0.006, 0.008_196_513_160_277_011),
            (300, 0.5, 3.531_708_689_241_921_4e-70),
            (2_000_000, 0.0015, 0.000_123_286_452_542_308_03),
            (12, 0.5, 0.001_340_125_828_028_012),
            (500_000, 0.003, 0.000_123_161_506_195_933_77),
            (1000, 0.001, 0.997_285_790_277_486_7),
        ];
        for &(n, x, expected) in cases {
            let ours = smirnov_sf(n, x);
            assert!((ours - expected).abs() <= 1e-9 * expected, "n={n} x={x}: {ours} vs {expected}");
        }
    }
}
