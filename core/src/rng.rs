//! Deterministic, portable random numbers.
//!
//! Every random quantity in tdsm is drawn from a [`Stream`] keyed by `(seed, index, purpose)`,
//! so a shower depends only on the run seed and its global index — never on batch size, shard,
//! thread or device. The generator is xoshiro256++ seeded through SplitMix64; it is implemented
//! here (not taken from `rand`) so that its output is identical on every platform, including
//! wasm, and across dependency upgrades.

use serde::{Deserialize, Serialize};

/// Purposes of independent random streams derived from one seed.
///
/// Two streams with the same `(seed, index)` but different purposes are independent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// The built-in shower simulator.
    Simulate = 1,
    /// Choice of the number of hits of a generated shower.
    HitCount = 2,
    /// The initial noise of a sampler.
    Prior = 3,
    /// Noise drawn inside the sampler's steps.
    SamplerNoise = 4,
    /// Training: batch order, diffusion times and noise.
    Train = 5,
    /// Dataset splits.
    Split = 6,
    /// Incident energies of generated showers.
    Energy = 7,
    /// Hutchinson probes and other estimator noise.
    Probe = 8,
    /// Model initialisation.
    Init = 9,
    /// Evaluation (classifier splits, bootstrap batches).
    Evaluate = 10,
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A xoshiro256++ generator with normal, gamma and binomial draws.
///
/// The full state can be saved and restored ([`Stream::state`], [`Stream::from_state`]) for
/// bit-identical resumption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stream {
    s: [u64; 4],
    /// Cached second normal deviate of the polar method.
    spare: Option<u64>,
}

impl Stream {
    /// The stream for `(seed, index, purpose)`.
    pub fn new(seed: u64, index: u64, purpose: Purpose) -> Self {
        let mut sm = seed ^ 0x7464_736D_0000_0000; // "tdsm"
        let a = splitmix64(&mut sm);
        let mut sm2 = a ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let b = splitmix64(&mut sm2);
        let mut sm3 = b ^ (purpose as u64).wrapping_mul(0xA076_1D64_78BD_642F);
        let mut s = [0u64; 4];
        for v in s.iter_mut() {
            *v = splitmix64(&mut sm3);
        }
        if s == [0; 4] {
            s[0] = 1;
        }
        Self { s, spare: None }
    }

    /// The stream for `(seed, index, purpose)` with an extra sub-index (e.g. a step number).
    pub fn sub(seed: u64, index: u64, purpose: Purpose, sub: u64) -> Self {
        Self::new(seed ^ sub.wrapping_mul(0x9FB2_1C65_1E98_DF25).rotate_left(17), index, purpose)
    }

    /// The raw generator state, for checkpoints.
    pub fn state(&self) -> ([u64; 4], Option<u64>) {
        (self.s, self.spare)
    }

    /// Restores a generator from [`Stream::state`].
    pub fn from_state(s: [u64; 4], spare: Option<u64>) -> Self {
        Self { s, spare }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let result = (self.s[0].wrapping_add(self.s[3])).rotate_left(23).wrapping_add(self.s[0]);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1): never exactly 0, safe for logarithms.
    #[inline]
    pub fn uniform_open(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (n > 0).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        // Lemire's multiply-shift; the tiny bias for huge n is irrelevant here.
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Standard normal deviate (Marsaglia polar method).
    pub fn normal(&mut self) -> f64 {
        if let Some(bits) = self.spare.take() {
            return f64::from_bits(bits);
        }
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let m = (-2.0 * s.ln() / s).sqrt();
                self.spare = Some((v * m).to_bits());
                return u * m;
            }
        }
    }

    /// Fills `out` with standard normal deviates as f32.
    pub fn fill_normal_f32(&mut self, out: &mut [f32]) {
        for v in out.iter_mut() {
            *v = self.normal() as f32;
        }
    }

    /// +1 or -1 with equal probability.
    #[inline]
    pub fn rademacher(&mut self) -> f64 {
        if self.next_u64() >> 63 == 0 {
            1.0
        } else {
            -1.0
        }
    }

    /// Gamma(shape, scale = 1) deviate (Marsaglia–Tsang; shape < 1 by boosting).
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if !(shape > 0.0) {
            return 0.0;
        }
        if shape < 1.0 {
            let u = self.uniform_open();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let mut x;
            let mut v;
            loop {
                x = self.normal();
                v = 1.0 + c * x;
                if v > 0.0 {
                    break;
                }
            }
            v = v * v * v;
            let u = self.uniform_open();
            if u < 1.0 - 0.0331 * x * x * x * x || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
                return d * v;
            }
        }
    }

    /// Exponential deviate with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.uniform_open().ln()
    }

    /// Binomial(n, p) deviate.
    ///
    /// Inversion for small mean, otherwise a normal-free exact method: splitting through a
    /// beta/gamma recursion (Knuth's algorithm), so every draw is exact.
    pub fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if n == 0 || p <= 0.0 {
            return 0;
        }
        if p >= 1.0 {
            return n;
        }
        if p > 0.5 {
            return n - self.binomial(n, 1.0 - p);
        }
        let mut n = n;
        let mut p = p;
        let mut acc = 0u64;
        // Knuth 3.4.1 F: reduce n through order statistics until n*p is small.
        while n as f64 * p > 12.0 {
            let a = 1 + n / 2;
            let b = n + 1 - a;
            let ga = self.gamma(a as f64);
            let gb = self.gamma(b as f64);
            let x = ga / (ga + gb); // Beta(a, b): the a-th smallest of n uniforms
            if x >= p {
                n = a - 1;
                p /= x;
            } else {
                acc += a;
                n = b - 1;
                p = (p - x) / (1.0 - x);
            }
            if n == 0 {
                return acc;
            }
        }
        // Inversion on the remaining small-mean binomial.
        let q = 1.0 - p;
        let s = p / q;
        let mut f = q.powf(n as f64);
        let mut u = self.uniform();
        let mut k = 0u64;
        loop {
            if u < f || k >= n {
                return acc + k;
            }
            u -= f;
            f *= s * (n - k) as f64 / (k + 1) as f64;
            k += 1;
            if f == 0.0 && u > 0.0 {
                // Numerical tail exhausted: the mass left is negligible.
                return acc + k.min(n);
            }
        }
    }

    /// Poisson(mean) deviate.
    pub fn poisson(&mut self, mean: f64) -> u64 {
        if !(mean > 0.0) {
            return 0;
        }
        if mean < 30.0 {
            let l = (-mean).exp();
            let mut k = 0u64;
            let mut p = 1.0;
            loop {
                p *= self.uniform();
                if p <= l {
                    return k;
                }
                k += 1;
            }
        }
        // Split through a gamma step (Knuth 3.4.1 F), then finish by inversion.
        let m = (mean * 0.875).floor() as u64;
        let x = self.gamma(m as f64);
        if x > mean {
            self.binomial(m - 1, mean / x)
        } else {
            m + self.poisson(mean - x)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_keyed_and_reproducible() {
        let a: Vec<u64> = (0..4).map(|_| Stream::new(1, 7, Purpose::Simulate).next_u64()).collect();
        assert!(a.iter().all(|&v| v == a[0]));
        let mut s1 = Stream::new(1, 7, Purpose::Simulate);
        let mut s2 = Stream::new(1, 8, Purpose::Simulate);
        let mut s3 = Stream::new(1, 7, Purpose::Prior);
        let (x1, x2, x3) = (s1.next_u64(), s2.next_u64(), s3.next_u64());
        assert_ne!(x1, x2);
        assert_ne!(x1, x3);
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let mut s = Stream::new(3, 0, Purpose::Train);
        s.normal();
        let (st, sp) = s.state();
        let mut r = Stream::from_state(st, sp);
        for _ in 0..10 {
            assert_eq!(s.normal().to_bits(), r.normal().to_bits());
        }
    }

    fn mean_var(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        (m, v)
    }

    #[test]
    fn normal_gamma_binomial_poisson_moments() {
        let mut s = Stream::new(42, 0, Purpose::Simulate);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| s.normal()).collect();
        let (m, v) = mean_var(&xs);
        assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.01, "normal {m} {v}");
        for shape in [0.3, 1.0, 4.5, 120.0] {
            let xs: Vec<f64> = (0..n).map(|_| s.gamma(shape)).collect();
            let (m, v) = mean_var(&xs);
            assert!((m / shape - 1.0).abs() < 0.02, "gamma mean {shape} {m}");
            assert!((v / shape - 1.0).abs() < 0.05, "gamma var {shape} {v}");
        }
        for (nn, p) in [(10u64, 0.3), (1000, 0.02), (100_000, 0.37), (50, 0.9)] {
            let xs: Vec<f64> = (0..50_000).map(|_| s.binomial(nn, p) as f64).collect();
            let (m, v) = mean_var(&xs);
            let (em, ev) = (nn as f64 * p, nn as f64 * p * (1.0 - p));
            assert!((m - em).abs() < 0.02 * em.max(1.0), "binomial mean {nn} {p} {m}");
            assert!((v / ev - 1.0).abs() < 0.05, "binomial var {nn} {p} {v}");
            assert!(xs.iter().all(|&x| x <= nn as f64));
        }
        for mean in [0.5, 7.0, 250.0] {
            let xs: Vec<f64> = (0..50_000).map(|_| s.poisson(mean) as f64).collect();
            let (m, v) = mean_var(&xs);
            assert!((m / mean - 1.0).abs() < 0.02, "poisson mean {mean} {m}");
            assert!((v / mean - 1.0).abs() < 0.05, "poisson var {mean} {v}");
        }
    }
}
