//! Tests of the adaptive Dormand–Prince solver and the adaptive probability-flow sampler.

use burn::backend::NdArray;
use burn::tensor::{Tensor, TensorData};

use super::*;
use crate::rng::{Purpose, Stream};
use crate::sde::{Sde, SdeConfig};

type B = NdArray<f32>;

fn rows_tensor(v: Vec<f32>, b: usize, m: usize) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(v, [b, m]), &Default::default())
}

/// `dy/dt = -k_r y` with a different rate per row, and a time-dependent forcing on row 2:
/// `dy/dt = cos(t)`; exact solutions at t = 2.
fn rhs(rates: Vec<f64>) -> impl FnMut(Tensor<B, 2>, &[f64], &[usize]) -> Tensor<B, 2> {
    move |y: Tensor<B, 2>, t: &[f64], rows: &[usize]| {
        let [a, m] = y.dims();
        let yv: Vec<f32> = y.into_data().to_vec().unwrap();
        let mut out = vec![0f32; a * m];
        for (i, &r) in rows.iter().enumerate() {
            for j in 0..m {
                out[i * m + j] = if r == 2 { t[i].cos() as f32 } else { (-rates[r] * yv[i * m + j] as f64) as f32 };
            }
        }
        rows_tensor(out, a, m)
    }
}

#[test]
fn dopri5_solves_linear_and_forced_odes_per_row() {
    let rates = vec![0.5, 3.0, 0.0, 10.0];
    let y0 = rows_tensor(vec![1.0, 2.0, 1.0, -1.0, 0.0, 0.0, 1.0, 0.5], 4, 2);
    let w = Tensor::<B, 2>::ones([4, 2], &Default::default());
    let opts = AdaptiveOptions::with_tolerances(1e-6, 1e-6);
    let mut f = rhs(rates.clone());
    let mut iterations = 0;
    let (y, st) = dopri5(&mut f, y0, ErrorNorm::rms(w), 0.0, 2.0, &opts, &mut |s| {
        iterations = s.index + 1;
        assert!(s.t <= 2.0 + 1e-12);
    });
    let v: Vec<f32> = y.into_data().to_vec().unwrap();
    let exact = [
        (-1.0f64).exp(),
        2.0 * (-1.0f64).exp(),
        (-6.0f64).exp(),
        -(-6.0f64).exp(),
        2f64.sin(),
        2f64.sin(),
        (-20.0f64).exp(),
        0.5 * (-20.0f64).exp(),
    ];
    for (i, (&a, &e)) in v.iter().zip(&exact).enumerate() {
        assert!((a as f64 - e).abs() < 2e-5, "entry {i}: {a} vs {e}");
    }
    assert!(st.finished.iter().all(|&f| f));
    // stiffer rows need more evaluations; the rows are counted separately
    assert!(st.nfe[3] > st.nfe[0], "nfe {:?}", st.nfe);
    assert!(iterations >= st.accepted.iter().copied().max().unwrap());
    for r in 0..4 {
        assert_eq!(st.nfe[r], 2 + 6 * (st.accepted[r] + st.rejected[r]), "row {r}: {st:?}");
    }
}

#[test]
fn dopri5_rows_do_not_depend_on_their_batch() {
    let rates = vec![0.5, 3.0, 0.0, 10.0];
    let all = vec![1.0f32, 2.0, 1.0, -1.0, 0.0, 0.0, 1.0, 0.5];
    let opts = AdaptiveOptions::with_tolerances(1e-5, 1e-5);
    let mut f = rhs(rates.clone());
    let (y, st) = dopri5(&mut f, rows_tensor(all.clone(), 4, 2), ErrorNorm::rms(Tensor::ones([4, 2], &Default::default())), 1.0, 0.0, &opts, &mut |_| {});
    let v: Vec<f32> = y.into_data().to_vec().unwrap();
    for r in [1usize, 3] {
        // the same row alone: the rhs sees original row index 0, so give it row r's rate
        let mut g = rhs(vec![rates[r]]);
        let (y1, s1) = dopri5(&mut g, rows_tensor(all[r * 2..r * 2 + 2].to_vec(), 1, 2), ErrorNorm::rms(Tensor::ones([1, 2], &Default::default())), 1.0, 0.0, &opts, &mut |_| {});
        let v1: Vec<f32> = y1.into_data().to_vec().unwrap();
        assert_eq!(v1, v[r * 2..r * 2 + 2].to_vec(), "row {r}");
        assert_eq!(s1.nfe[0], st.nfe[r]);
    }
    // backwards in time: y(0) = y(1) e^{k}
    assert!((v[2] as f64 - 1.0 * 3f64.exp()).abs() < 1e-4 * 3f64.exp());
}

/// `own` columns meet the tolerance themselves: rows of 999 constant entries and one column
/// integrating `40 cos(40 t)` (the likelihood's divergence column has this shape). In the RMS
/// over all 1000 entries the column's error is diluted ~30-fold; controlled on its own, its
/// error stays near the tolerance.
#[test]
fn dopri5_controls_own_columns_on_their_own() {
    let m = 1000;
    let mut f = |y: Tensor<B, 2>, t: &[f64], _rows: &[usize]| {
        let [a, _] = y.dims();
        let mut out = vec![0f32; a * m];
        for (i, &ti) in t.iter().enumerate() {
            out[i * m + m - 1] = (40.0 * (40.0 * ti).cos()) as f32;
        }
        rows_tensor(out, a, m)
    };
    let opts = AdaptiveOptions::with_tolerances(1e-6, 1e-6);
    let err = |own: usize, f: &mut dyn FnMut(Tensor<B, 2>, &[f64], &[usize]) -> Tensor<B, 2>| {
        let mut w = vec![1f32; m];
        if own == 1 {
            w[m - 1] = 0.0;
        }
        let (y, st) = dopri5(f, rows_tensor(vec![0.0; m], 1, m), ErrorNorm { weights: rows_tensor(w, 1, m), own, goal: None }, 0.0, 1.0, &opts, &mut |_| {});
        let v: Vec<f32> = y.into_data().to_vec().unwrap();
        ((v[m - 1] as f64 - 40f64.sin()).abs(), st.nfe[0])
    };
    let (e_own, nfe_own) = err(1, &mut f);
    let (e_rms, nfe_rms) = err(0, &mut f);
    assert!(e_own < 2e-5, "own column: error {e_own:e}");
    assert!(nfe_own > nfe_rms, "nfe own {nfe_own} vs rms {nfe_rms}");
    assert!(e_own * 4.0 < e_rms, "own {e_own:e} vs rms {e_rms:e}");
}

/// A goal functional is controlled itself: 100 entries each integrating `40 cos(40 t)` meet
/// the RMS tolerance entry by entry, but the error of their sum is 100 times an entry's.
/// With the sum as the goal (gradient 1, size 1) its error stays within the tolerance.
#[test]
fn dopri5_controls_a_goal_functional() {
    let m = 100;
    let mut f = |y: Tensor<B, 2>, t: &[f64], _rows: &[usize]| {
        let [a, _] = y.dims();
        let out: Vec<f32> = t.iter().flat_map(|&ti| std::iter::repeat_n((40.0 * (40.0 * ti).cos()) as f32, m)).collect();
        rows_tensor(out, a, m)
    };
    let goal = |y: &Tensor<B, 2>, _k: &Tensor<B, 2>, _t: &[f64], rows: &[usize]| {
        let a = rows.len();
        assert_eq!(y.dims(), [a, m]);
        (Tensor::ones([a, m], &Default::default()), Tensor::ones([a, 1], &Default::default()))
    };
    let opts = AdaptiveOptions::with_tolerances(1e-4, 1e-4);
    let mut run = |with_goal: bool| {
        let norm = ErrorNorm { weights: Tensor::ones([1, m], &Default::default()), own: 0, goal: if with_goal { Some(&goal as &Goal<'_, B>) } else { None } };
        let (y, st) = dopri5(&mut f, rows_tensor(vec![0.0; m], 1, m), norm, 0.0, 1.0, &opts, &mut |_| {});
        let v: Vec<f32> = y.into_data().to_vec().unwrap();
        let sum: f64 = v.iter().map(|&x| x as f64).sum();
        ((sum - m as f64 * 40f64.sin()).abs(), st.nfe[0])
    };
    let (e_goal, nfe_goal) = run(true);
    let (e_rms, nfe_rms) = run(false);
    // measured: 3.3e-5 (470 evaluations) vs 1.7e-3 (236)
    assert!(e_goal < opts.rtol + opts.atol, "goal: error of the sum {e_goal:e}");
    assert!(nfe_goal > nfe_rms, "nfe goal {nfe_goal} vs rms {nfe_rms}");
    assert!(e_goal * 10.0 < e_rms, "goal {e_goal:e} vs rms {e_rms:e}");
}

#[test]
fn dopri5_reports_rows_stopped_at_the_evaluation_limit() {
    let opts = AdaptiveOptions { rtol: 1e-9, atol: 1e-9, h_min: 1e-9, h_max: 1.0, max_nfe: 40 };
    let mut f = rhs(vec![50.0]);
    let (_y, st) = dopri5(&mut f, rows_tensor(vec![1.0], 1, 1), ErrorNorm::rms(Tensor::ones([1, 1], &Default::default())), 0.0, 1.0, &opts, &mut |_| {});
    assert!(!st.finished[0]);
    assert!(st.nfe[0] <= 40, "{st:?}");
    assert!(AdaptiveOptions { rtol: 0.0, ..opts }.validate().is_err());
    assert!(AdaptiveOptions { h_min: 2.0, ..opts }.validate().is_err());
}

const M: f64 = 1.5;
const S: f64 = 0.5;

/// The exact score of data N(M, S^2) under `sde`, per-row times.
fn gaussian_row_score(sde: SdeConfig) -> impl Fn(Tensor<B, 3>, Tensor<B, 1>, &[usize]) -> Tensor<B, 3> {
    move |x: Tensor<B, 3>, t: Tensor<B, 1>, _rows: &[usize]| {
        let [b, _, _] = x.dims();
        let mc = sde.mean_coef_tensor(t.clone()).reshape([b, 1, 1]);
        let sd = sde.std_tensor(t).reshape([b, 1, 1]);
        let var = mc.clone().powi_scalar(2).mul_scalar(S * S) + sd.powi_scalar(2);
        (x - mc.mul_scalar(M)).div(var).neg()
    }
}

#[test]
fn adaptive_probability_flow_reproduces_gaussian_data() {
    let (b, n) = (100, 20);
    let dev = Default::default();
    for sde in [SdeConfig::Vp { beta_min: 0.1, beta_max: 20.0 }, SdeConfig::Ve { sigma_min: 0.01, sigma_max: 50.0 }] {
        let mut v = vec![0f32; b * n * 4];
        Stream::new(3, 0, Purpose::Prior).fill_normal_f32(&mut v);
        let x = Tensor::<B, 3>::from_data(TensorData::new(v, [b, n, 4]), &dev).mul_scalar(sde.prior_std());
        let mask3 = Tensor::<B, 3>::ones([b, n, 1], &dev);
        let score = gaussian_row_score(sde);
        let eps = if sde.is_ve() { 1e-5 } else { 1e-3 };
        let (out, st) = probability_flow_adaptive(&score, &sde, x, mask3, eps, &AdaptiveOptions::with_tolerances(1e-5, 1e-5), &mut |_| {});
        let o: Vec<f32> = out.into_data().to_vec().unwrap();
        let nf = o.len() as f64;
        let mean = o.iter().map(|&a| a as f64).sum::<f64>() / nf;
        let sd = (o.iter().map(|&a| (a as f64 - mean).powi(2)).sum::<f64>() / (nf - 1.0)).sqrt();
        // the ODE maps the prior linearly: x_0 = M mc + (x_T - M mc_T) sqrt(var_eps / var_T), with
        // the marginal variance var_t = mc^2 S^2 + std^2 and the prior N(0, prior_std^2)
        let var = |t: f64| (sde.mean_coef(t) * S).powi(2) + sde.std(t).powi(2);
        let k = (var(eps) / var(1.0)).sqrt();
        let expect_mean = M * sde.mean_coef(eps) - M * sde.mean_coef(1.0) * k;
        let expect_sd = sde.prior_std() * k;
        assert!((mean - expect_mean).abs() < 0.02, "{sde:?}: mean {mean} vs {expect_mean}");
        assert!((sd - expect_sd).abs() < 0.02, "{sde:?}: std {sd} vs {expect_sd}");
        assert!(st.finished.iter().all(|&f| f));
        // a smooth linear problem: few evaluations
        let max_nfe = *st.nfe.iter().max().unwrap();
        assert!(max_nfe < 400, "{sde:?}: nfe {max_nfe}");
    }
}
