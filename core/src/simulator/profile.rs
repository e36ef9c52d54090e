//! GFlash shower profiles (Grindhammer & Peters, hep-ex/0001020): the individual longitudinal
//! Gamma profile and the two-component radial profile, for a homogeneous medium.

use crate::rng::Stream;
use crate::special::IncompleteGamma;

/// Longitudinal profile of one shower: energy density Gamma(alpha, beta) in depth t (X0),
/// measured from the shower start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Longitudinal {
    /// Shape alpha (> 1.1).
    pub alpha: f64,
    /// Rate beta = (alpha - 1) / T, per X0.
    pub beta: f64,
    /// tau per X0 of depth: tau = t / <t>_shower * <alpha> / (<alpha> - 1).
    pub tau_per_x0: f64,
}

/// Means, widths and correlation of (ln T, ln alpha) at y = E / Ec in a medium of atomic number z.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ProfileParams {
    /// <ln T>.
    pub mean_ln_t: f64,
    /// sigma(ln T).
    pub sigma_ln_t: f64,
    /// <ln alpha>.
    pub mean_ln_alpha: f64,
    /// sigma(ln alpha).
    pub sigma_ln_alpha: f64,
    /// Correlation of ln T and ln alpha.
    pub rho: f64,
}

impl ProfileParams {
    /// The homogeneous-medium parametrisation of hep-ex/0001020 (A.1.1-A.1.2).
    pub fn new(z: f64, y: f64) -> Self {
        let ly = y.ln();
        Self {
            mean_ln_t: (ly - 0.812).ln(),
            sigma_ln_t: 1.0 / (-1.4 + 1.26 * ly),
            mean_ln_alpha: (0.81 + (0.458 + 2.26 / z) * ly).ln(),
            sigma_ln_alpha: 1.0 / (-0.58 + 0.86 * ly),
            rho: 0.705 - 0.023 * ly,
        }
    }

    /// Draws one shower's profile from the correlated log-normal; draws with alpha < 1.1 are redrawn.
    pub fn draw(&self, rng: &mut Stream) -> Longitudinal {
        let mean_alpha = self.mean_ln_alpha.exp();
        let tau_norm = mean_alpha / (mean_alpha - 1.0);
        let cross = (1.0 - self.rho * self.rho).max(0.0).sqrt();
        loop {
            let z1 = rng.normal();
            let z2 = rng.normal();
            let t = (self.mean_ln_t + self.sigma_ln_t * z1).exp();
            let alpha = (self.mean_ln_alpha + self.sigma_ln_alpha * (self.rho * z1 + cross * z2)).exp();
            if alpha < 1.1 || !alpha.is_finite() || !t.is_finite() {
                continue;
            }
            let beta = (alpha - 1.0) / t;
            // <t>_shower = alpha / beta
            return Longitudinal { alpha, beta, tau_per_x0: beta / alpha * tau_norm };
        }
    }
}

impl Longitudinal {
    /// The CDF of the profile, as a function of the depth (X0) after the shower start.
    pub fn cdf(&self) -> ProfileCdf {
        ProfileCdf { gamma: IncompleteGamma::new(self.alpha), beta: self.beta }
    }
}

/// CDF of a Gamma longitudinal profile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProfileCdf {
    gamma: IncompleteGamma,
    beta: f64,
}

impl ProfileCdf {
    /// Fraction of the energy deposited before depth `s` (X0 after the shower start).
    pub fn at(&self, s: f64) -> f64 {
        self.gamma.p(self.beta * s)
    }
}

/// Energy-dependent constants of the radial profile (hep-ex/0001020 A.1.3), r in Molière radii.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Radial {
    z1: f64,
    z2: f64,
    k1: f64,
    k2: f64,
    k3: f64,
    k4: f64,
    p1: f64,
    p2: f64,
    p3: f64,
}

impl Radial {
    /// Constants for atomic number `z` and energy `e_gev`.
    pub fn new(z: f64, e_gev: f64) -> Self {
        let le = e_gev.ln();
        Self {
            z1: 0.0251 + 0.00319 * le,
            z2: 0.1162 - 0.000381 * z,
            k1: 0.659 - 0.00309 * z,
            k2: 0.645,
            k3: -2.59,
            k4: 0.3585 + 0.0421 * le,
            p1: 2.632 - 0.00094 * z,
            p2: 0.401 + 0.00187 * z,
            p3: 1.313 - 0.0686 * le,
        }
    }

    /// The radial shape at scaled depth `tau`.
    pub fn at(&self, tau: f64) -> RadialShape {
        let rc = self.z1 + self.z2 * tau;
        let rt = self.k1 * ((self.k3 * (tau - self.k2)).exp() + (self.k4 * (tau - self.k2)).exp());
        let x = (self.p2 - tau) / self.p3;
        let p = (self.p1 * (x - x.exp()).exp()).clamp(0.0, 1.0);
        RadialShape { p, rc2: rc * rc, rt2: rt * rt }
    }
}

/// f(r) = p f_C + (1 - p) f_T with f_i = 2 r R_i^2 / (r^2 + R_i^2)^2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RadialShape {
    /// Weight of the core.
    pub p: f64,
    /// Core radius squared, R_M^2.
    pub rc2: f64,
    /// Tail radius squared, R_M^2.
    pub rt2: f64,
}

impl RadialShape {
    /// Fraction of the energy within radius r, given r^2 in R_M^2.
    #[inline]
    pub fn cdf(&self, r2: f64) -> f64 {
        self.p * r2 / (r2 + self.rc2) + (1.0 - self.p) * r2 / (r2 + self.rt2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Purpose;

    #[test]
    fn profile_means_follow_the_parametrisation() {
        // ds2 at 100 GeV: y = 1e5 / 8.23.
        let y = 1e5 / 8.23;
        let par = ProfileParams::new(72.5, y);
        assert!((par.mean_ln_t - (y.ln() - 0.812).ln()).abs() < 1e-12);
        let mut rng = Stream::new(5, 0, Purpose::Simulate);
        let n = 20_000;
        let (mut lt, mut la) = (0.0, 0.0);
        for _ in 0..n {
            let l = par.draw(&mut rng);
            assert!(l.alpha >= 1.1);
            lt += ((l.alpha - 1.0) / l.beta).ln();
            la += l.alpha.ln();
        }
        // T ~ 8.6 X0, alpha ~ 5.6 at 100 GeV in W-like material.
        assert!((lt / n as f64 - par.mean_ln_t).abs() < 0.005, "{}", lt / n as f64);
        assert!((la / n as f64 - par.mean_ln_alpha).abs() < 0.005, "{}", la / n as f64);
        assert!((par.mean_ln_t.exp() - 8.55).abs() < 0.05, "{}", par.mean_ln_t.exp());
    }

    #[test]
    fn radial_cdf_is_a_cdf() {
        let rad = Radial::new(72.5, 50.0);
        for tau in [0.05, 0.5, 1.0, 2.0, 4.0] {
            let s = rad.at(tau);
            assert!(s.p > 0.0 && s.p < 1.0, "p {tau} {}", s.p);
            assert_eq!(s.cdf(0.0), 0.0);
            assert!(s.cdf(1e12) > 1.0 - 1e-9);
            let mut last = 0.0;
            for i in 1..100 {
                let c = s.cdf((i as f64 * 0.05).powi(2));
                assert!(c > last);
                last = c;
            }
        }
        // Core narrower than the tail near the maximum; both widen with depth.
        let (a, b) = (rad.at(1.0), rad.at(3.0));
        assert!(a.rc2 < a.rt2 && b.rc2 > a.rc2 && b.rt2 > a.rt2);
    }
}
