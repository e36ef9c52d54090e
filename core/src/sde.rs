//! Forward SDEs (Song et al.): VE, the seed's VE form, VP and sub-VP.
//!
//! All have T = 1 and a linear drift `f(x, t) = a(t) x`, so one small trait covers them:
//! drift coefficient, diffusion `g(t)`, marginal mean coefficient and std, prior sample and
//! prior log-density. Scalar (f64) versions serve time grids and tests; tensor versions take
//! one time per sample.

use std::f64::consts::PI;

use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

/// The SDE family and its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SdeConfig {
    /// Variance exploding: sigma(t) = sigma_min (sigma_max/sigma_min)^t.
    Ve {
        /// Smallest noise level.
        sigma_min: f64,
        /// Largest noise level (the prior's std).
        sigma_max: f64,
    },
    /// The seed project's VE form: g(t) = sigma^t, std(t) = sqrt((sigma^(2t) - 1) / (2 ln sigma)).
    SeedVe {
        /// The base sigma (25 in the seed).
        sigma: f64,
    },
    /// Variance preserving: beta(t) = beta_min + t (beta_max - beta_min).
    Vp {
        /// beta at t = 0.
        beta_min: f64,
        /// beta at t = 1.
        beta_max: f64,
    },
    /// Sub-variance preserving: VP drift, std = 1 - exp(2 lambda(t)).
    SubVp {
        /// beta at t = 0.
        beta_min: f64,
        /// beta at t = 1.
        beta_max: f64,
    },
}

impl Default for SdeConfig {
    fn default() -> Self {
        SdeConfig::Vp { beta_min: 0.1, beta_max: 20.0 }
    }
}

/// The operations every SDE provides.
pub trait Sde {
    /// End time T (1 for all SDEs here).
    fn t_max(&self) -> f64 {
        1.0
    }
    /// `a(t)` in the drift `f(x, t) = a(t) x`.
    fn drift_coef(&self, t: f64) -> f64;
    /// Diffusion coefficient `g(t)`.
    fn diffusion(&self, t: f64) -> f64;
    /// Marginal mean coefficient: `E[x_t | x_0] = mean_coef(t) x_0`.
    fn mean_coef(&self, t: f64) -> f64;
    /// Marginal standard deviation `sigma(t)` of `x_t | x_0`.
    fn std(&self, t: f64) -> f64;
    /// Prior standard deviation: the marginal std at T.
    fn prior_std(&self) -> f64 {
        self.std(self.t_max())
    }
    /// `ln N(z; 0, prior_std^2)` summed over the `dim` real entries whose squares sum to `sq_norm`.
    fn prior_log_density(&self, sq_norm: f64, dim: usize) -> f64 {
        let s2 = self.prior_std().powi(2);
        -0.5 * dim as f64 * (2.0 * PI * s2).ln() - sq_norm / (2.0 * s2)
    }
}

impl SdeConfig {
    fn lambda(b0: f64, b1: f64, t: f64) -> f64 {
        -0.25 * t * t * (b1 - b0) - 0.5 * t * b0
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), crate::CoreError> {
        let ok = match *self {
            SdeConfig::Ve { sigma_min, sigma_max } => sigma_min > 0.0 && sigma_max > sigma_min,
            SdeConfig::SeedVe { sigma } => sigma > 1.0,
            SdeConfig::Vp { beta_min, beta_max } | SdeConfig::SubVp { beta_min, beta_max } => {
                beta_min > 0.0 && beta_max > beta_min
            }
        };
        if ok {
            Ok(())
        } else {
            Err(crate::CoreError::Invalid(format!("invalid SDE parameters {self:?}")))
        }
    }

    /// Whether this is a VE-type SDE (Langevin step factor alpha = 1).
    pub fn is_ve(&self) -> bool {
        matches!(self, SdeConfig::Ve { .. } | SdeConfig::SeedVe { .. })
    }

    /// `beta(t)` for VP-type SDEs, 0 otherwise.
    pub fn beta(&self, t: f64) -> f64 {
        match *self {
            SdeConfig::Vp { beta_min, beta_max } | SdeConfig::SubVp { beta_min, beta_max } => {
                beta_min + t * (beta_max - beta_min)
            }
            _ => 0.0,
        }
    }

    /// Marginal std for a batch of times.
    ///
    /// # Shapes
    /// - `t`: `[batch]` -> `[batch]`
    pub fn std_tensor<B: Backend>(&self, t: Tensor<B, 1>) -> Tensor<B, 1> {
        match *self {
            SdeConfig::Ve { sigma_min, sigma_max } => t.mul_scalar((sigma_max / sigma_min).ln()).exp().mul_scalar(sigma_min),
            SdeConfig::SeedVe { sigma } => {
                let ls = sigma.ln();
                t.mul_scalar(2.0 * ls).exp().sub_scalar(1.0).div_scalar(2.0 * ls).sqrt()
            }
            SdeConfig::Vp { .. } => one_minus_exp(self.log_mean_tensor(t).mul_scalar(2.0)).sqrt(),
            SdeConfig::SubVp { .. } => one_minus_exp(self.log_mean_tensor(t).mul_scalar(2.0)),
        }
    }

    /// Log of the marginal mean coefficient for a batch of times (0 for VE).
    ///
    /// # Shapes
    /// - `t`: `[batch]` -> `[batch]`
    pub fn log_mean_tensor<B: Backend>(&self, t: Tensor<B, 1>) -> Tensor<B, 1> {
        match *self {
            SdeConfig::Vp { beta_min: b0, beta_max: b1 } | SdeConfig::SubVp { beta_min: b0, beta_max: b1 } => {
                t.clone().mul(t.clone()).mul_scalar(-0.25 * (b1 - b0)).sub(t.mul_scalar(0.5 * b0))
            }
            _ => t.zeros_like(),
        }
    }

    /// Marginal mean coefficient for a batch of times.
    ///
    /// # Shapes
    /// - `t`: `[batch]` -> `[batch]`
    pub fn mean_coef_tensor<B: Backend>(&self, t: Tensor<B, 1>) -> Tensor<B, 1> {
        self.log_mean_tensor(t).exp()
    }
}

impl Sde for SdeConfig {
    fn drift_coef(&self, t: f64) -> f64 {
        match self {
            SdeConfig::Ve { .. } | SdeConfig::SeedVe { .. } => 0.0,
            _ => -0.5 * self.beta(t),
        }
    }

    fn diffusion(&self, t: f64) -> f64 {
        match *self {
            SdeConfig::Ve { sigma_min, sigma_max } => self.std(t) * (2.0 * (sigma_max / sigma_min).ln()).sqrt(),
            SdeConfig::SeedVe { sigma } => sigma.powf(t),
            SdeConfig::Vp { .. } => self.beta(t).sqrt(),
            SdeConfig::SubVp { beta_min: b0, beta_max: b1 } => {
                (self.beta(t) * (1.0 - (-2.0 * b0 * t - (b1 - b0) * t * t).exp())).sqrt()
            }
        }
    }

    fn mean_coef(&self, t: f64) -> f64 {
        match *self {
            SdeConfig::Vp { beta_min, beta_max } | SdeConfig::SubVp { beta_min, beta_max } => {
                Self::lambda(beta_min, beta_max, t).exp()
            }
            _ => 1.0,
        }
    }

    fn std(&self, t: f64) -> f64 {
        match *self {
            SdeConfig::Ve { sigma_min, sigma_max } => sigma_min * (sigma_max / sigma_min).powf(t),
            SdeConfig::SeedVe { sigma } => ((sigma.powf(2.0 * t) - 1.0) / (2.0 * sigma.ln())).sqrt(),
            SdeConfig::Vp { beta_min, beta_max } => (1.0 - (2.0 * Self::lambda(beta_min, beta_max, t)).exp()).sqrt(),
            SdeConfig::SubVp { beta_min, beta_max } => 1.0 - (2.0 * Self::lambda(beta_min, beta_max, t)).exp(),
        }
    }
}

/// `1 - exp(x)` for `x <= 0`, accurate in f32 near 0 (a series where |x| < 0.01, no
/// cancellation), elementwise and branch-free on every backend.
///
/// # Shapes
/// - `x`: `[batch]` -> `[batch]`
pub fn one_minus_exp<B: Backend>(x: Tensor<B, 1>) -> Tensor<B, 1> {
    let direct = x.clone().exp().neg().add_scalar(1.0);
    // -x (1 + x/2 (1 + x/3 (1 + x/4)))
    let series = x.clone().div_scalar(4.0).add_scalar(1.0).mul(x.clone()).div_scalar(3.0).add_scalar(1.0);
    let series = series.mul(x.clone()).div_scalar(2.0).add_scalar(1.0).mul(x.clone()).neg();
    direct.mask_where(x.abs().lower_elem(0.01), series)
}

/// The sampling time grid: `steps + 1` times from exactly `t_max` down to exactly `eps`,
/// equally spaced and strictly decreasing.
pub fn time_grid(t_max: f64, eps: f64, steps: usize) -> Vec<f64> {
    let steps = steps.max(1);
    let mut g: Vec<f64> = (0..=steps).map(|i| t_max - (t_max - eps) * i as f64 / steps as f64).collect();
    g[0] = t_max;
    g[steps] = eps;
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::TensorData;

    type B = NdArray<f32>;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-12)
    }

    #[test]
    fn ve_closed_forms() {
        let s = SdeConfig::Ve { sigma_min: 0.01, sigma_max: 50.0 };
        for t in [0.0, 0.25, 0.5, 1.0] {
            let sig = 0.01 * 5000f64.powf(t);
            assert!(close(s.std(t), sig, 1e-12));
            assert!(close(s.diffusion(t), sig * (2.0 * 5000f64.ln()).sqrt(), 1e-12));
            assert_eq!(s.mean_coef(t), 1.0);
            assert_eq!(s.drift_coef(t), 0.0);
        }
        assert!(close(s.prior_std(), 50.0, 1e-12));
        // at t = 0.5: 0.01 * sqrt(5000) = 0.70710678
        assert!(close(s.std(0.5), 0.707_106_781_186_547_6, 1e-12));
    }

    #[test]
    fn seed_ve_closed_forms() {
        let s = SdeConfig::SeedVe { sigma: 25.0 };
        let ls = 25f64.ln();
        for t in [0.1, 0.5, 1.0] {
            assert!(close(s.std(t), ((25f64.powf(2.0 * t) - 1.0) / (2.0 * ls)).sqrt(), 1e-12));
            assert!(close(s.diffusion(t), 25f64.powf(t), 1e-12));
            // d(std^2)/dt = g^2
            let h = 1e-6;
            let d = (s.std(t + h).powi(2) - s.std(t - h).powi(2)) / (2.0 * h);
            assert!(close(d, s.diffusion(t).powi(2), 1e-6));
        }
        // sqrt((25^2 - 1) / (2 ln 25)) = 9.8452 (the reference spec quotes 7.04, which does not follow from its own formula)
        assert!(close(s.prior_std(), 9.845_214_563, 1e-9), "{}", s.prior_std());
    }

    #[test]
    fn vp_and_subvp_closed_forms() {
        let vp = SdeConfig::Vp { beta_min: 0.1, beta_max: 20.0 };
        let sub = SdeConfig::SubVp { beta_min: 0.1, beta_max: 20.0 };
        for t in [1e-3, 0.1, 0.5, 1.0] {
            let m = (-t * t * 19.9 / 4.0 - t * 0.1 / 2.0f64).exp();
            assert!(close(vp.mean_coef(t), m, 1e-12));
            assert!(close(vp.std(t), (1.0 - m * m).sqrt(), 1e-12));
            assert!(close(sub.std(t), 1.0 - m * m, 1e-12));
            assert!(close(vp.diffusion(t), (0.1 + t * 19.9f64).sqrt(), 1e-12));
            let g2 = (0.1 + t * 19.9) * (1.0 - (-2.0 * 0.1 * t - 19.9 * t * t).exp());
            assert!(close(sub.diffusion(t).powi(2), g2, 1e-12));
            assert!(close(vp.drift_coef(t), -0.5 * (0.1 + t * 19.9), 1e-12));
        }
        // reference-spec table: VP 0.1/20 std(1e-3) = 1.05e-2, mean(1) = 6.6e-3 (to the quoted digits)
        assert!((vp.std(1e-3) - 1.05e-2).abs() < 1e-4);
        assert!((vp.mean_coef(1.0) - 6.6e-3).abs() < 1e-4);
        let weak = SdeConfig::Vp { beta_min: 0.01, beta_max: 1.0 };
        assert!((weak.mean_coef(1.0) - 0.777).abs() < 1e-3 && (weak.std(1.0) - 0.630).abs() < 1e-3);
    }

    #[test]
    fn tensor_versions_match_scalars() {
        let dev = Default::default();
        let ts = [1e-3f32, 0.2, 0.7, 1.0];
        for s in [
            SdeConfig::Ve { sigma_min: 0.01, sigma_max: 50.0 },
            SdeConfig::SeedVe { sigma: 25.0 },
            SdeConfig::Vp { beta_min: 0.1, beta_max: 20.0 },
            SdeConfig::SubVp { beta_min: 0.1, beta_max: 20.0 },
        ] {
            let t = Tensor::<B, 1>::from_data(TensorData::new(ts.to_vec(), [4]), &dev);
            let std: Vec<f32> = s.std_tensor(t.clone()).into_data().to_vec().unwrap();
            let mc: Vec<f32> = s.mean_coef_tensor(t).into_data().to_vec().unwrap();
            for i in 0..4 {
                let tt = ts[i] as f64;
                assert!((std[i] as f64 - s.std(tt)).abs() < 1e-5 * s.std(tt).max(1e-2), "{s:?} std {i}");
                assert!((mc[i] as f64 - s.mean_coef(tt)).abs() < 1e-6, "{s:?} mean {i}");
            }
        }
    }

    #[test]
    fn prior_log_density_and_time_grid() {
        let s = SdeConfig::Ve { sigma_min: 0.01, sigma_max: 50.0 };
        let lp = s.prior_log_density(4.0, 8);
        let expect = -4.0 * (2.0 * PI * 2500.0).ln() - 4.0 / 5000.0;
        assert!(close(lp, expect, 1e-12));
        let g = time_grid(1.0, 1e-3, 7);
        assert_eq!(g.len(), 8);
        assert_eq!(g[0], 1.0);
        assert_eq!(g[7], 1e-3);
        assert!(g.windows(2).all(|w| w[1] < w[0]));
    }
}
