//! The Durbin matrix method for the Kolmogorov distribution's CDF
//! (Marsaglia, Tsang and Wang, 2003): one entry of the h-matrix raised to the
//! n-th power, with the exponent tracked apart so the products stay in f64.

/// Rescaling step that keeps the long products inside f64's range.
pub(super) const SCALE_EXPONENT: i32 = 128;
pub(super) const SCALE_UP: f64 = 3.402_823_669_209_385e38; // 2^128
pub(super) const SCALE_DOWN: f64 = 1.0 / SCALE_UP;

/// P(D_n <= d) as the (k,k) entry of H^n * n!/n^n (Durbin 1968; Marsaglia,
/// Tsang, Wang 2003), with H of order 2k-1, k = ceil(n d).
pub(super) fn durbin_matrix_cdf(n: u64, d: f64) -> f64 {
    let nd = n as f64 * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut v: Vec<f64> = (1..=m).map(|j| 1.0 - h.powi(j as i32)).collect();
    let mut w = vec![0.0; m];
    let mut fac = 1.0;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] *= fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powi(m as i32) - 2.0 * h.powi(m as i32);
    v[m - 1] = (1.0 + tt) * fac;

    let mut matrix = Square::zeros(m);
    for col in 1..m {
        for row in (col - 1)..m {
            matrix.set(row, col, w[row + 1 - col]);
        }
    }
    for (row, &value) in v.iter().enumerate() {
        matrix.set(row, 0, value);
    }
    for col in 0..m {
        matrix.set(m - 1, col, v[m - 1 - col]);
    }

    let (mut power, mut power_exponent, mut matrix_exponent) = (Square::identity(m), 0i32, 0i32);
    let mut remaining = n;
    while remaining > 0 {
        if remaining % 2 == 1 {
            power = power.times(&matrix);
            power_exponent += matrix_exponent;
        }
        matrix = matrix.times(&matrix);
        matrix_exponent *= 2;
        if matrix.get(k - 1, k - 1).abs() > SCALE_UP {
            matrix.scale(SCALE_DOWN);
            matrix_exponent += SCALE_EXPONENT;
        }
        remaining /= 2;
    }
    let mut p = power.get(k - 1, k - 1);
    for i in 1..=n {
        p = i as f64 * p / n as f64;
        if p.abs() < SCALE_DOWN {
            p *= SCALE_UP;
            power_exponent -= SCALE_EXPONENT;
        }
    }
    libm::ldexp(p, power_exponent)
}

/// A dense row-major square matrix, just what the Durbin power needs.
struct Square {
    order: usize,
    values: Vec<f64>,
}

impl Square {
    fn zeros(order: usize) -> Self {
        Self { order, values: vec![0.0; order * order] }
    }

    fn identity(order: usize) -> Self {
        let mut square = Self::zeros(order);
        for i in 0..order {
            square.set(i, i, 1.0);
        }
        square
    }

    fn get(&self, row: usize, col: usize) -> f64 {
        self.values[row * self.order + col]
    }

    fn set(&mut self, row: usize, col: usize, value: f64) {
        self.values[row * self.order + col] = value;
    }

    fn scale(&mut self, factor: f64) {
        self.values.iter_mut().for_each(|value| *value *= factor);
    }

    fn times(&self, other: &Square) -> Square {
        let m = self.order;
        let mut out = Square::zeros(m);
        for row in 0..m {
            let out_row = &mut out.values[row * m..(row + 1) * m];
            for inner in 0..m {
                let left = self.values[row * m + inner];
                if left != 0.0 {
                    let other_row = &other.values[inner * m..(inner + 1) * m];
                    out_row.iter_mut().zip(other_row).for_each(|(o, r)| *o += left * r);
                }
            }
        }
        out
    }
}
