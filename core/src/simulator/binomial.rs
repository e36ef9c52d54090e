//! Fast exact binomial draws for the multinomial spot distribution.
//!
//! Small means go to [`Stream::binomial`] (inversion); large means use Hörmann's
//! transformed rejection with squeeze (BTRS, "The generation of binomial random variates",
//! J. Stat. Comput. Simul. 46 (1993) 101), whose cost does not grow with `n`. Both are exact.

use crate::rng::Stream;

/// `ln k! - [(k + 1/2) ln(k + 1) - (k + 1) + ln sqrt(2 pi)]` for k = 0..9.
const STIRLING_TAIL: [f64; 10] = [
    0.081_061_466_795_327_26,
    0.041_340_695_955_409_29,
    0.027_677_925_684_998_34,
    0.020_790_672_103_765_09,
    0.016_644_691_189_821_19,
    0.013_876_128_823_070_75,
    0.011_896_709_945_891_77,
    0.010_411_265_261_972_09,
    0.009_255_462_182_712_733,
    0.008_330_563_433_362_87,
];

/// The Stirling-series remainder of `ln k!` (see [`STIRLING_TAIL`]).
fn stirling_tail(k: f64) -> f64 {
    if k <= 9.0 {
        return STIRLING_TAIL[k as usize];
    }
    let n = k + 1.0;
    let n2 = n * n;
    (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - 1.0 / (1680.0 * n2)) / n2) / n2) / n
}

/// Binomial(n, p) deviate, exact, in expected O(1) time.
pub(crate) fn binomial(rng: &mut Stream, n: u64, p: f64) -> u64 {
    if n == 0 || p.is_nan() || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    if p > 0.5 {
        return n - binomial(rng, n, 1.0 - p);
    }
    if (n as f64) * p < 10.0 {
        return rng.binomial(n, p); // inversion for small means
    }
    btrs(rng, n, p)
}

/// Transformed rejection with squeeze, for n p >= 10 and p <= 1/2.
fn btrs(rng: &mut Stream, n: u64, p: f64) -> u64 {
    let nf = n as f64;
    let spq = (nf * p * (1.0 - p)).sqrt();
    let b = 1.15 + 2.53 * spq;
    let a = -0.0873 + 0.0248 * b + 0.01 * p;
    let c = nf * p + 0.5;
    let v_r = 0.92 - 4.2 / b;
    let r = p / (1.0 - p);
    let alpha = (2.83 + 5.1 / b) * spq;
    let m = ((nf + 1.0) * p).floor();
    // Constant part of the log acceptance bound.
    let h = (m + 0.5) * ((m + 1.0) / (r * (nf - m + 1.0))).ln() + stirling_tail(m) + stirling_tail(nf - m);
    loop {
        let u = rng.uniform() - 0.5;
        let v = rng.uniform();
        let us = 0.5 - u.abs();
        let k = ((2.0 * a / us + b) * u + c).floor();
        if us >= 0.07 && v <= v_r {
            return k as u64;
        }
        if k < 0.0 || k > nf {
            continue;
        }
        let lv = (v * alpha / (a / (us * us) + b)).ln();
        let bound =
            h + (nf + 1.0) * ((nf - m + 1.0) / (nf - k + 1.0)).ln() + (k + 0.5) * (r * (nf - k + 1.0) / (k + 1.0)).ln()
                - stirling_tail(k)
                - stirling_tail(nf - k);
        if lv <= bound {
            return k as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Purpose;
    use crate::special::ln_gamma;

    fn ln_pmf(n: u64, p: f64, k: u64) -> f64 {
        let (n, k) = (n as f64, k as f64);
        ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0) + k * p.ln() + (n - k) * (1.0 - p).ln()
    }

    #[test]
    fn stirling_tail_is_continuous_at_the_table_end() {
        let exact = |k: f64| {
            ln_gamma(k + 1.0) - ((k + 0.5) * (k + 1.0).ln() - (k + 1.0) + 0.5 * (2.0 * std::f64::consts::PI).ln())
        };
        for (k, &tail) in STIRLING_TAIL.iter().enumerate() {
            assert!((tail - exact(k as f64)).abs() < 1e-12, "{k}");
        }
        for k in [10.0, 11.0, 30.0, 1000.0] {
            assert!((stirling_tail(k) - exact(k)).abs() < 1e-12, "{k}");
        }
    }

    /// Chi-square of the empirical histogram against the exact pmf over the bulk.
    #[test]
    fn matches_the_exact_pmf() {
        let mut rng = Stream::new(11, 0, Purpose::Simulate);
        for (n, p) in [(40u64, 0.4), (1000, 0.3), (1_000_000, 0.01), (200_000, 0.7)] {
            let draws = 200_000usize;
            let mean = n as f64 * p;
            let sd = (mean * (1.0 - p)).sqrt();
            let lo = (mean - 4.0 * sd).max(0.0).floor() as u64;
            let hi = ((mean + 4.0 * sd).ceil() as u64).min(n);
            let mut hist = vec![0usize; (hi - lo + 1) as usize];
            let (mut s1, mut s2) = (0.0, 0.0);
            for _ in 0..draws {
                let k = binomial(&mut rng, n, p);
                assert!(k <= n);
                s1 += k as f64;
                s2 += (k as f64) * (k as f64);
                if (lo..=hi).contains(&k) {
                    hist[(k - lo) as usize] += 1;
                }
            }
            let m = s1 / draws as f64;
            let var = s2 / draws as f64 - m * m;
            assert!((m - mean).abs() < 5.0 * sd / (draws as f64).sqrt(), "mean {n} {p}: {m}");
            assert!((var / (sd * sd) - 1.0).abs() < 0.02, "var {n} {p}: {var}");
            // Pool bins to expected counts >= 50, then chi-square.
            let (mut chi2, mut dof, mut obs, mut exp) = (0.0, 0usize, 0.0, 0.0);
            for k in lo..=hi {
                obs += hist[(k - lo) as usize] as f64;
                exp += draws as f64 * ln_pmf(n, p, k).exp();
                if exp >= 50.0 {
                    chi2 += (obs - exp) * (obs - exp) / exp;
                    dof += 1;
                    obs = 0.0;
                    exp = 0.0;
                }
            }
            let z = (chi2 - dof as f64) / (2.0 * dof as f64).sqrt();
            assert!(z < 4.5, "chi2 {n} {p}: {chi2} on {dof} bins");
        }
    }
}
