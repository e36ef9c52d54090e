//! Isotonic regression (pool-adjacent-violators), with the semantics of scikit-learn's
//! `IsotonicRegression(out_of_bounds="clip", y_min, y_max)` used by the CaloChallenge to
//! calibrate classifier outputs.

use crate::error::CoreError;

/// A fitted non-decreasing calibration map, evaluated by linear interpolation between the
/// fitted points and clipped to their x range (scikit-learn's `out_of_bounds="clip"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Isotonic {
    /// Distinct x values, increasing.
    x: Vec<f64>,
    /// Fitted values at `x`, non-decreasing and within `[y_min, y_max]`.
    y: Vec<f64>,
}

impl Isotonic {
    /// Fits a non-decreasing function to the points `(x_i, y_i)` (unit weights) by
    /// pool-adjacent-violators: points with equal x are merged first (mean y), and the fitted
    /// values are clipped to `[y_min, y_max]`.
    ///
    /// Fails with [`CoreError::Invalid`] for empty or mismatched inputs or non-finite values.
    pub fn fit(x: &[f64], y: &[f64], y_min: f64, y_max: f64) -> Result<Self, CoreError> {
        if x.is_empty() || x.len() != y.len() {
            return Err(CoreError::Invalid(format!("isotonic fit: {} x values and {} y values", x.len(), y.len())));
        }
        if x.iter().chain(y).any(|v| !v.is_finite()) {
            return Err(CoreError::Invalid("isotonic fit: non-finite input".into()));
        }
        let mut order: Vec<usize> = (0..x.len()).collect();
        order.sort_by(|&a, &b| x[a].total_cmp(&x[b]).then(y[a].total_cmp(&y[b])));
        // Merge equal x: (x, sum of y, weight).
        let mut ux: Vec<f64> = Vec::new();
        let mut sy: Vec<f64> = Vec::new();
        let mut w: Vec<f64> = Vec::new();
        for &i in &order {
            if ux.last() == Some(&x[i]) {
                *sy.last_mut().unwrap() += y[i];
                *w.last_mut().unwrap() += 1.0;
            } else {
                ux.push(x[i]);
                sy.push(y[i]);
                w.push(1.0);
            }
        }
        // Pool adjacent violators on the block means.
        let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(ux.len()); // (sum y, weight, n points)
        for k in 0..ux.len() {
            blocks.push((sy[k], w[k], 1));
            while blocks.len() > 1 {
                let n = blocks.len();
                let (s1, w1, c1) = blocks[n - 2];
                let (s2, w2, c2) = blocks[n - 1];
                if s1 / w1 > s2 / w2 {
                    blocks.truncate(n - 2);
                    blocks.push((s1 + s2, w1 + w2, c1 + c2));
                } else {
                    break;
                }
            }
        }
        let mut fy = Vec::with_capacity(ux.len());
        for (s, wt, c) in blocks {
            let v = (s / wt).clamp(y_min, y_max);
            fy.extend(std::iter::repeat_n(v, c));
        }
        Ok(Self { x: ux, y: fy })
    }

    /// The calibrated value at `x`: linear interpolation between the fitted points, `x`
    /// clipped to the fitted range.
    pub fn predict(&self, x: f64) -> f64 {
        let n = self.x.len();
        if n == 1 || x <= self.x[0] {
            return self.y[0];
        }
        if x >= self.x[n - 1] {
            return self.y[n - 1];
        }
        let j = self.x.partition_point(|v| *v <= x); // 1..n-1
        let (x0, x1, y0, y1) = (self.x[j - 1], self.x[j], self.y[j - 1], self.y[j]);
        y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    }

    /// [`Isotonic::predict`] of every value.
    pub fn predict_all(&self, x: &[f64]) -> Vec<f64> {
        x.iter().map(|&v| self.predict(v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pav_known_values() {
        // Classic example: y = [1, 3, 2, 4, 3, 5] -> [1, 2.5, 2.5, 3.5, 3.5, 5].
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let f = Isotonic::fit(&x, &[1.0, 3.0, 2.0, 4.0, 3.0, 5.0], f64::NEG_INFINITY, f64::INFINITY).unwrap();
        assert_eq!(f.predict_all(&x), vec![1.0, 2.5, 2.5, 3.5, 3.5, 5.0]);
        // Interpolation and clipping of x.
        assert_eq!(f.predict(1.5), 1.75);
        assert_eq!(f.predict(0.0), 1.0);
        assert_eq!(f.predict(9.0), 5.0);
    }

    #[test]
    fn ties_clipping_and_decreasing_input() {
        // Equal x are averaged first; a decreasing sequence pools to its mean; y is clipped.
        let f = Isotonic::fit(&[0.2, 0.2, 0.8], &[0.0, 1.0, 1.0], 1e-6, 1.0 - 1e-6).unwrap();
        assert_eq!(f.predict(0.2), 0.5);
        assert_eq!(f.predict(0.8), 1.0 - 1e-6);
        let g = Isotonic::fit(&[1.0, 2.0, 3.0], &[1.0, 0.0, 0.0], 1e-6, 1.0 - 1e-6).unwrap();
        assert!(g.predict_all(&[1.0, 2.0, 3.0]).iter().all(|v| (v - 1.0 / 3.0).abs() < 1e-15));
        assert!(Isotonic::fit(&[], &[], 0.0, 1.0).is_err());
        assert!(Isotonic::fit(&[f64::NAN], &[1.0], 0.0, 1.0).is_err());
    }
}
