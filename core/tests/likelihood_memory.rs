//! Memory of a long likelihood solve stays flat: no autodiff graph is kept across
//! right-hand-side evaluations (its own test binary, so that the process's peak resident
//! memory belongs to this test alone).

use burn::backend::{Autodiff, NdArray};
use burn::tensor::{Tensor, TensorData};
use tdsm_core::likelihood::{log_density, Divergence, LikelihoodOptions, ProbeKind};
use tdsm_core::model::{ScoreNet, ScoreNetConfig};
use tdsm_core::rng::{Purpose, Stream};
use tdsm_core::sampler::{select_rows, AdaptiveOptions};
use tdsm_core::sde::SdeConfig;

type I = NdArray<f32>;
type A = Autodiff<I>;

/// Peak resident set size of this process in kB (`VmHWM` of /proc/self/status).
fn peak_rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = s.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs one likelihood solve that stops after `max_nfe` right-hand-side evaluations.
fn solve(net: &ScoreNet<A>, sde: &SdeConfig, max_nfe: usize) -> usize {
    let dev = Default::default();
    let (b, n) = (4, 32);
    let mut x = vec![0f32; b * n * 4];
    Stream::new(9, 0, Purpose::Prior).fill_normal_f32(&mut x);
    let x0 = Tensor::<I, 3>::from_data(TensorData::new(x, [b, n, 4]), &dev);
    let mask = Tensor::<I, 2>::ones([b, n], &dev);
    let mask_ad = Tensor::<A, 2>::from_inner(mask.clone());
    let cond = Tensor::<A, 1>::from_data(TensorData::new(vec![0.2f32, 0.4, 0.6, 0.8], [b]), &dev);
    let score = |x: Tensor<A, 3>, t: Tensor<A, 1>, r: &[usize]| net.forward(x, select_rows(mask_ad.clone(), r), t, select_rows(cond.clone(), r));
    // tolerances far below f32 precision: the solve cannot finish and runs to max_nfe
    let ode = AdaptiveOptions { max_nfe, ..AdaptiveOptions::with_tolerances(1e-12, 1e-12) };
    let opts = LikelihoodOptions { divergence: Divergence::Hutchinson { probes: 4, kind: ProbeKind::Rademacher }, ode, eps: 1e-3, seed: 1, max_replicas: 64 };
    let out = log_density::<A>(&score, sde, x0, mask, &[0, 1, 2, 3], &opts, &mut |_| {});
    assert!(out.iter().all(|d| !d.finished), "the solve was meant to stop at max_nfe");
    out.iter().map(|d| d.nfe).max().unwrap()
}

#[test]
fn memory_after_300_evaluations_equals_memory_after_50() {
    let sde = SdeConfig::Vp { beta_min: 0.1, beta_max: 20.0 };
    let cfg = ScoreNetConfig { embed_dim: 32, hidden_dim: 64, n_layers: 2, n_heads: 4, dropout: 0.0, block: Default::default(), fourier_scale: 30.0 };
    let net = ScoreNet::<A>::new(&cfg, sde, &Default::default()).unwrap();
    let nfe50 = solve(&net, &sde, 50);
    let after50 = peak_rss_kb();
    let nfe300 = solve(&net, &sde, 300);
    let after300 = peak_rss_kb();
    assert!(nfe50 <= 50 && nfe50 > 40, "{nfe50}");
    assert!(nfe300 <= 300 && nfe300 > 290, "{nfe300}");
    let growth = after300 as f64 / after50 as f64 - 1.0;
    eprintln!("peak RSS after {nfe50} evaluations: {after50} kB, after {nfe300}: {after300} kB ({:+.2}%)", 100.0 * growth);
    assert!(growth < 0.05, "peak memory grew by {:.1}% ({after50} kB -> {after300} kB)", 100.0 * growth);
}
