//! Exact-answer tests of the likelihood (no network): Gaussian data with its exact score,
//! and the Hutchinson estimator on linear maps.

use burn::backend::{Autodiff, NdArray};
use burn::tensor::{Tensor, TensorData};

use super::*;
use crate::sampler::AdaptiveOptions;

type I = NdArray<f32>;
type A = Autodiff<I>;

/// The exact score of data N(m, s^2 I) under `sde`.
fn gaussian_score(sde: SdeConfig, m: f64, s: f64) -> impl Fn(Tensor<A, 3>, Tensor<A, 1>, &[usize]) -> Tensor<A, 3> {
    move |x: Tensor<A, 3>, t: Tensor<A, 1>, _rows: &[usize]| {
        let [b, _, _] = x.dims();
        let mc = sde.mean_coef_tensor(t.clone()).reshape([b, 1, 1]);
        let sd = sde.std_tensor(t).reshape([b, 1, 1]);
        let var = mc.clone().powi_scalar(2).mul_scalar(s * s) + sd.powi_scalar(2);
        (x - mc.mul_scalar(m)).div(var).neg()
    }
}

fn opts(divergence: Divergence, eps: f64) -> LikelihoodOptions {
    LikelihoodOptions { divergence, ode: AdaptiveOptions::with_tolerances(1e-5, 1e-5), eps, seed: 1, max_replicas: 4096 }
}

/// log N(x; m, s^2) summed over entries.
fn gaussian_log_density(x: &[f64], m: f64, s: f64) -> f64 {
    x.iter().map(|&v| -0.5 * (2.0 * std::f64::consts::PI * s * s).ln() - (v - m).powi(2) / (2.0 * s * s)).sum()
}

/// What the ODE must give for Gaussian data N(m, s^2): it maps the marginal at `eps` linearly
/// onto the marginal at T, `x_T = mc_T m + (x - mc_eps m) sqrt(var_T / var_eps)`, so
/// `log p = log p_eps(x) + log prior(x_T) - log p_T(x_T)` (the last two differ by the prior's
/// small mismatch with the true marginal at T).
fn expected_log_p(sde: &SdeConfig, m: f64, s: f64, x: &[f64], eps: f64) -> f64 {
    let var = |t: f64| (sde.mean_coef(t) * s).powi(2) + sde.std(t).powi(2);
    let (m0, m1) = (sde.mean_coef(eps) * m, sde.mean_coef(1.0) * m);
    let k = (var(1.0) / var(eps)).sqrt();
    let xt: Vec<f64> = x.iter().map(|&v| m1 + (v - m0) * k).collect();
    gaussian_log_density(x, m0, var(eps).sqrt()) + gaussian_log_density(&xt, 0.0, sde.prior_std()) - gaussian_log_density(&xt, m1, var(1.0).sqrt())
}

fn one_point(x: [f32; 4]) -> (Tensor<I, 3>, Tensor<I, 2>) {
    let dev = Default::default();
    (Tensor::from_data(TensorData::new(x.to_vec(), [1, 1, 4]), &dev), Tensor::ones([1, 1], &dev))
}

#[test]
fn ve_standard_normal_log_density_is_exact() {
    let sde = SdeConfig::Ve { sigma_min: 0.01, sigma_max: 50.0 };
    let (x, mask) = one_point([0.5, -1.0, 0.3, 2.0]);
    let score = gaussian_score(sde, 0.0, 1.0);
    for div in [Divergence::Exact, Divergence::Hutchinson { probes: 1, kind: ProbeKind::Rademacher }] {
        let r = log_density::<A>(&score, &sde, x.clone(), mask.clone(), &[0], &opts(div, 1e-5), &mut |_| {});
        assert!((r[0].log_p - -6.346).abs() < 0.01, "{div:?}: {:?}", r[0]);
        let exact = expected_log_p(&sde, 0.0, 1.0, &[0.5, -1.0, 0.3, 2.0], 1e-5);
        assert!((r[0].log_p - exact).abs() < 2e-3, "{div:?}: {} vs {exact}", r[0].log_p);
        assert_eq!(r[0].dims, 4);
        assert!(r[0].finished && r[0].nfe > 10);
        assert!((r[0].bits_per_dim() - 6.346 / 4.0 / std::f64::consts::LN_2).abs() < 0.01);
    }
}

#[test]
fn vp_and_subvp_gaussian_log_densities_are_exact() {
    let (m, s) = (1.5, 0.5);
    let xs = [1.2f32, 2.3, 1.5, 0.4];
    let (x, mask) = one_point(xs);
    for sde in [SdeConfig::Vp { beta_min: 0.1, beta_max: 20.0 }, SdeConfig::SubVp { beta_min: 0.1, beta_max: 20.0 }] {
        let eps = 1e-3;
        // the ODE gives the density of the marginal at eps: N(mc m, mc^2 s^2 + std^2)
        let expect = expected_log_p(&sde, m, s, &xs.map(|v| v as f64), eps);
        let score = gaussian_score(sde, m, s);
        for div in [Divergence::Exact, Divergence::Hutchinson { probes: 1, kind: ProbeKind::Rademacher }] {
            let r = log_density::<A>(&score, &sde, x.clone(), mask.clone(), &[0], &opts(div, eps), &mut |_| {});
            assert!((r[0].log_p - expect).abs() < 2e-3, "{sde:?} {div:?}: {} vs {expect}", r[0].log_p);
        }
    }
}

#[test]
fn padding_does_not_change_log_densities() {
    // two clouds of 3 and 1 points in one padded batch vs each alone
    let sde = SdeConfig::Ve { sigma_min: 0.01, sigma_max: 50.0 };
    let dev = Default::default();
    let pts: Vec<f32> = vec![0.5, -1.0, 0.3, 2.0, 0.1, 0.2, -0.3, 0.4, 1.0, 1.0, -1.0, 0.0, /* second */ -0.7, 0.2, 0.9, -1.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let x = Tensor::<I, 3>::from_data(TensorData::new(pts.clone(), [2, 3, 4]), &dev);
    let mask = Tensor::<I, 2>::from_data(TensorData::new(vec![1f32, 1.0, 1.0, 1.0, 0.0, 0.0], [2, 3]), &dev);
    let score = gaussian_score(sde, 0.0, 1.0);
    let o = opts(Divergence::Exact, 1e-5);
    let both = log_density::<A>(&score, &sde, x, mask, &[0, 1], &o, &mut |_| {});
    assert_eq!((both[0].dims, both[1].dims), (12, 4));
    let expect0 = gaussian_log_density(&pts[..12].iter().map(|&v| v as f64).collect::<Vec<_>>(), 0.0, 1.0);
    let expect1 = gaussian_log_density(&pts[12..16].iter().map(|&v| v as f64).collect::<Vec<_>>(), 0.0, 1.0);
    assert!((both[0].log_p - expect0).abs() < 0.02, "{} vs {expect0}", both[0].log_p);
    assert!((both[1].log_p - expect1).abs() < 0.01, "{} vs {expect1}", both[1].log_p);
    let (x1, m1) = one_point([-0.7, 0.2, 0.9, -1.1]);
    let alone = log_density::<A>(&score, &sde, x1, m1, &[1], &o, &mut |_| {});
    assert!((alone[0].log_p - both[1].log_p).abs() < 1e-3 * alone[0].log_p.abs());
}

/// Hutchinson with `v^T A v` for a linear map `f(x) = x A^T`.
fn hutchinson_linear(a: &[f32], m: usize, probes: usize, seed: u64) -> f64 {
    hutchinson_linear_with(ProbeKind::Rademacher, a, m, probes, seed)
}

fn hutchinson_linear_with(kind: ProbeKind, a: &[f32], m: usize, probes: usize, seed: u64) -> f64 {
    let dev = Default::default();
    let at = Tensor::<A, 2>::from_data(TensorData::new(a.to_vec(), [m, m]), &dev).transpose();
    let mut f = |x: Tensor<A, 2>| x.matmul(at.clone());
    let x = Tensor::<I, 2>::from_data(TensorData::new((0..m).map(|i| i as f32 * 0.3 - 0.2).collect::<Vec<_>>(), [1, m]), &dev);
    let v = draw_probes::<I>(kind, probes, seed, &[0], &vec![1.0; m], m, &dev);
    let (value, div) = vjp_divergence::<A>(&mut f, x.clone(), v, 1.0 / probes as f64);
    // the value is f(x) itself
    let fx: Vec<f32> = value.into_data().to_vec().unwrap();
    let xv: Vec<f32> = x.into_data().to_vec().unwrap();
    for i in 0..m {
        let e: f32 = (0..m).map(|j| a[i * m + j] * xv[j]).sum();
        assert!((fx[i] - e).abs() < 1e-5);
    }
    div.into_data().to_vec::<f32>().unwrap()[0] as f64
}

#[test]
fn hutchinson_is_exact_for_diagonal_maps_with_rademacher_probes() {
    let a = [1f32, 0., 0., 0., 0., 2., 0., 0., 0., 0., 3., 0., 0., 0., 0., 4.];
    for k in [1, 16] {
        for seed in 0..3 {
            assert_eq!(hutchinson_linear(&a, 4, k, seed), 10.0, "K = {k}, seed {seed}");
        }
    }
}

#[test]
fn hutchinson_is_unbiased_for_a_full_matrix() {
    let est = hutchinson_linear(&[1.0, 2.0, 3.0, 4.0], 2, 10_000, 7);
    assert!((est - 5.0).abs() < 0.1, "{est}");
    // a single probe gives 5 +- (2 + 3): v^T A v = 1 + 4 + (2 + 3) v1 v2
    let one = hutchinson_linear(&[1.0, 2.0, 3.0, 4.0], 2, 1, 7);
    assert!(one == 0.0 || one == 10.0, "{one}");
    // Gaussian probes are unbiased too, with a larger variance: Var(v^T A v) = 2 |A_sym|_F^2 = 60,
    // so the mean of 10^4 probes has a standard error of 0.08
    let g = hutchinson_linear_with(ProbeKind::Gaussian, &[1.0, 2.0, 3.0, 4.0], 2, 10_000, 7);
    assert!((g - 5.0).abs() < 0.3, "{g}");
    // and for a diagonal map they are not exact: the estimate varies with the probe
    let d = hutchinson_linear_with(ProbeKind::Gaussian, &[1.0, 0.0, 0.0, 4.0], 2, 1, 7);
    assert!(d != 5.0 && d > 0.0, "{d}");
}

#[test]
fn exact_divergence_chunks_agree() {
    // the basis probes split over several network passes give the same answer
    let sde = SdeConfig::Vp { beta_min: 0.1, beta_max: 20.0 };
    let (x, mask) = one_point([0.3, 0.1, -0.2, 0.8]);
    let score = gaussian_score(sde, 0.0, 1.0);
    let mut o = opts(Divergence::Exact, 1e-3);
    let a = log_density::<A>(&score, &sde, x.clone(), mask.clone(), &[0], &o, &mut |_| {});
    o.max_replicas = 1;
    let b = log_density::<A>(&score, &sde, x, mask, &[0], &o, &mut |_| {});
    assert!((a[0].log_p - b[0].log_p).abs() < 1e-5, "{} vs {}", a[0].log_p, b[0].log_p);
}

/// A small untrained score network (randomly initialised: build it once per test) and a
/// padded batch of 8 clouds of 1..8 points.
fn network_batch() -> NetworkBatch {
    let sde = SdeConfig::Vp { beta_min: 0.1, beta_max: 20.0 };
    let cfg = crate::model::ScoreNetConfig { embed_dim: 8, hidden_dim: 16, n_layers: 1, n_heads: 2, dropout: 0.0, block: Default::default(), fourier_scale: 30.0 };
    let net = crate::model::ScoreNet::<A>::new(&cfg, sde, &Default::default()).unwrap();
    let n = 8;
    let sizes: Vec<usize> = (0..8).map(|r| 1 + (r * 5) % 8).collect();
    let mut x = vec![0f32; 8 * n * 4];
    let mut s = Stream::new(5, 0, Purpose::Prior);
    for (r, &k) in sizes.iter().enumerate() {
        s.fill_normal_f32(&mut x[r * n * 4..(r * n + k) * 4]);
    }
    (net, sde, x, sizes, n)
}

type NetworkBatch = (crate::model::ScoreNet<A>, SdeConfig, Vec<f32>, Vec<usize>, usize);

/// Log-densities of rows `rows` of a [`network_batch`] solved together.
fn network_log_p(nb: &NetworkBatch, rows: &[usize], divergence: Divergence) -> Vec<LogDensity> {
    let (net, sde, x, sizes, n) = nb;
    let (sde, n) = (*sde, *n);
    let dev = Default::default();
    let b = rows.len();
    let n_pad = rows.iter().map(|&r| sizes[r]).max().unwrap();
    let mut xs = vec![0f32; b * n_pad * 4];
    let mut mask = vec![0f32; b * n_pad];
    for (i, &r) in rows.iter().enumerate() {
        xs[i * n_pad * 4..(i * n_pad + sizes[r]) * 4].copy_from_slice(&x[r * n * 4..(r * n + sizes[r]) * 4]);
        mask[i * n_pad..i * n_pad + sizes[r]].iter_mut().for_each(|m| *m = 1.0);
    }
    let cond: Vec<f32> = rows.iter().map(|&r| r as f32 / 8.0).collect();
    let x0 = Tensor::<I, 3>::from_data(TensorData::new(xs, [b, n_pad, 4]), &dev);
    let mask = Tensor::<I, 2>::from_data(TensorData::new(mask, [b, n_pad]), &dev);
    let mask_ad = Tensor::<A, 2>::from_inner(mask.clone());
    let cond = Tensor::<A, 1>::from_data(TensorData::new(cond, [b]), &dev);
    let score = |x: Tensor<A, 3>, t: Tensor<A, 1>, r: &[usize]| net.forward(x, select_rows(mask_ad.clone(), r), t, select_rows(cond.clone(), r));
    let idx: Vec<u64> = rows.iter().map(|&r| r as u64).collect();
    log_density::<A>(&score, &sde, x0, mask, &idx, &opts(divergence, 1e-3), &mut |_| {})
}

#[test]
fn a_showers_log_density_does_not_depend_on_its_batch() {
    let div = Divergence::Hutchinson { probes: 2, kind: ProbeKind::Rademacher };
    let nb = network_batch();
    let batch = network_log_p(&nb, &[0, 1, 2, 3, 4, 5, 6, 7], div);
    for r in [0usize, 3, 6] {
        let alone = network_log_p(&nb, &[r], div)[0];
        let rel = (alone.log_p - batch[r].log_p).abs() / alone.log_p.abs();
        assert!(rel < 1e-3, "shower {r}: alone {} vs in batch {} (rel {rel:e})", alone.log_p, batch[r].log_p);
        assert_eq!(alone.dims, batch[r].dims);
        assert!(alone.finished && batch[r].finished);
    }
    // exact divergence: the same property
    let exact = network_log_p(&nb, &[2, 5], Divergence::Exact);
    let alone = network_log_p(&nb, &[5], Divergence::Exact)[0];
    assert!((alone.log_p - exact[1].log_p).abs() < 1e-3 * alone.log_p.abs(), "{} vs {}", alone.log_p, exact[1].log_p);
}
