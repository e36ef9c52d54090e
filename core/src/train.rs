//! Training: configuration, learning-rate schedule, EMA of the weights, one optimisation
//! step. Backend-agnostic; the CLI adds data loading, checkpoints and logging.

use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::{GradientsAccumulator, GradientsParams, Optimizer};
use burn::tensor::{backend::AutodiffBackend, backend::Backend, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::dataset::HostBatch;
use crate::error::CoreError;
use crate::loss::dsm_loss;
use crate::model::ScoreNet;
use crate::rng::{Purpose, Stream};
use crate::sde::SdeConfig;

/// Optimisation hyper-parameters (saved with the model). Missing fields in a config file take
/// their default values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// Total optimisation steps.
    pub steps: usize,
    /// Final learning rate as a fraction of the peak (cosine decay).
    pub min_lr_fraction: f64,
    /// AdamW weight decay (0 = Adam).
    pub weight_decay: f64,
    /// Gradient-norm clipping (0 = off).
    pub grad_clip: f64,
    /// EMA decay of the weights (Song's warm-up form min(decay, (1+n)/(10+n))).
    pub ema_decay: f64,
    /// Showers per batch.
    pub batch_size: usize,
    /// Smallest diffusion time drawn in training.
    pub eps: f64,
    /// Fraction of showers held out for validation (fixed once by seed).
    pub val_fraction: f64,
    /// Seed for initialisation, split, batch order, times and noise.
    pub seed: u64,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
    /// Steps between validation losses and log lines.
    pub log_every: usize,
    /// Hits per shower are the voxels above this energy, MeV (default: the geometry's
    /// evaluation threshold).
    pub hit_threshold_mev: Option<f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            warmup_steps: 100,
            steps: 2000,
            min_lr_fraction: 0.05,
            weight_decay: 0.0,
            grad_clip: 1.0,
            ema_decay: 0.999,
            batch_size: 64,
            eps: 1e-3,
            val_fraction: 0.1,
            seed: 1,
            checkpoint_every: 500,
            log_every: 50,
            hit_threshold_mev: None,
        }
    }
}

impl TrainConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), CoreError> {
        let bad = |m: &str| Err(CoreError::Invalid(m.to_string()));
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr must be positive");
        }
        if self.steps == 0 || self.batch_size == 0 {
            return bad("steps and batch_size must be positive");
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return bad("ema_decay must be in [0, 1)");
        }
        if !(self.eps > 0.0 && self.eps < 1.0) {
            return bad("eps must be in (0, 1)");
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return bad("val_fraction must be in [0, 1)");
        }
        if self.checkpoint_every == 0 || self.log_every == 0 {
            return bad("checkpoint_every and log_every must be positive");
        }
        Ok(())
    }

    /// Learning rate at `step` (0-based): linear warm-up, then cosine decay to
    /// `min_lr_fraction * lr` at `steps`.
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = (self.steps.saturating_sub(self.warmup_steps)).max(1) as f64;
        let p = ((step - self.warmup_steps) as f64 / span).min(1.0);
        let f = self.min_lr_fraction + (1.0 - self.min_lr_fraction) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos());
        self.lr * f
    }

    /// EMA decay at step `n` (Song's warm-up).
    pub fn ema_decay_at(&self, n: usize) -> f64 {
        self.ema_decay.min((1.0 + n as f64) / (10.0 + n as f64))
    }
}

/// Diffusion times and noise for one training step, drawn on the host from
/// `(seed, step)` only, so resuming reproduces them exactly.
///
/// Returns `(t [batch], z [batch * n_points * 4])`.
pub fn step_randomness(seed: u64, step: usize, batch: &HostBatch, eps: f64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Stream::sub(seed, step as u64, Purpose::Train, 1);
    let t: Vec<f32> = (0..batch.batch).map(|_| (eps + (1.0 - eps) * rng.uniform()) as f32).collect();
    let mut z = vec![0f32; batch.x.len()];
    rng.fill_normal_f32(&mut z);
    (t, z)
}

/// Uploads a host batch.
///
/// Returns `(x [b, n, 4], mask [b, n], cond [b])`.
pub fn upload<B: Backend>(hb: &HostBatch, device: &B::Device) -> (Tensor<B, 3>, Tensor<B, 2>, Tensor<B, 1>) {
    let (b, n) = (hb.batch, hb.n_points);
    (
        Tensor::from_data(TensorData::new(hb.x.clone(), [b, n, 4]), device),
        Tensor::from_data(TensorData::new(hb.mask.clone(), [b, n]), device),
        Tensor::from_data(TensorData::new(hb.cond.clone(), [b]), device),
    )
}

/// The DSM loss of `model` on a host batch with host-drawn `t` and `z`.
///
/// # Shapes
/// - output: `[1]`
pub fn batch_loss<B: Backend>(model: &ScoreNet<B>, sde: &SdeConfig, hb: &HostBatch, t: &[f32], z: &[f32], device: &B::Device) -> Tensor<B, 1> {
    let (x, mask, cond) = upload::<B>(hb, device);
    let t = Tensor::<B, 1>::from_data(TensorData::new(t.to_vec(), [hb.batch]), device);
    let z = Tensor::<B, 3>::from_data(TensorData::new(z.to_vec(), [hb.batch, hb.n_points, 4]), device);
    dsm_loss(|xt, m, tt| model.forward(xt, m, tt, cond.clone()), sde, x, mask, t, z)
}

/// One optimisation step; returns the updated model and the (device) loss.
pub fn train_step<B: AutodiffBackend, O: Optimizer<ScoreNet<B>, B>>(
    model: ScoreNet<B>,
    optim: &mut O,
    hb: &HostBatch,
    cfg: &TrainConfig,
    step: usize,
    device: &B::Device,
) -> (ScoreNet<B>, Tensor<B::InnerBackend, 1>) {
    // Dropout masks come from the backend RNG: seed it from (seed, step) for exact resumption.
    B::seed(device, Stream::sub(cfg.seed, step as u64, Purpose::Train, 2).next_u64());
    let (t, z) = step_randomness(cfg.seed, step, hb, cfg.eps);
    let loss = batch_loss(&model, &model.sde.clone(), hb, &t, &z, device);
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optim.step(cfg.lr_at(step), model, grads);
    (model, loss.inner())
}

/// Splits `batch` rows into at most `k` contiguous, non-empty shards whose sizes differ by at
/// most one (the first ones take the remainder).
pub fn shard_rows(batch: usize, k: usize) -> Vec<std::ops::Range<usize>> {
    let k = k.clamp(1, batch.max(1));
    let (base, extra) = (batch / k, batch % k);
    let mut start = 0;
    (0..k)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// One data-parallel optimisation step on several devices of one backend: the batch (and its
/// host-drawn times and noise) is split into contiguous shards, one per device; each device
/// runs the forward and backward pass of its shard on a copy of the model, with its loss weighted by its share of the batch's non-empty showers, so the summed gradients
/// are those of the whole batch. The gradients are summed on `devices[0]`, which holds the model
/// and the optimiser state. With one device this is [`train_step`]. The loss curve equals the
/// single-device one up to float rounding without dropout, and within noise with it (dropout
/// masks are drawn per device, from `(seed, step, shard)`, so runs stay reproducible).
pub fn train_step_parallel<B: AutodiffBackend, O: Optimizer<ScoreNet<B>, B>>(
    model: ScoreNet<B>,
    optim: &mut O,
    hb: &HostBatch,
    cfg: &TrainConfig,
    step: usize,
    devices: &[B::Device],
) -> (ScoreNet<B>, Tensor<B::InnerBackend, 1>) {
    let main = &devices[0];
    let shards = shard_rows(hb.batch, devices.len());
    if shards.len() <= 1 {
        return train_step(model, optim, hb, cfg, step, main);
    }
    let (t, z) = step_randomness(cfg.seed, step, hb, cfg.eps);
    let per_row = hb.n_points * 4;
    let has = |n: &[usize]| n.iter().filter(|&&k| k > 0).count();
    let has_total = has(&hb.n_real).max(1) as f64;
    // The host loop launches each device's work in turn; GPU backends run it asynchronously,
    // so the devices compute concurrently while the order of random draws (dropout) stays fixed.
    let parts: Vec<(GradientsParams, Tensor<B::InnerBackend, 1>)> = shards
        .iter()
        .zip(devices)
        .enumerate()
        .map(|(i, (r, dev))| {
            B::seed(dev, Stream::sub(cfg.seed, step as u64, Purpose::Train, 3 + i as u64).next_u64());
            let m = model.clone().fork(dev);
            let sub = hb.rows(r.clone());
            let w = has(&sub.n_real) as f64 / has_total;
            let loss = batch_loss(&m, &m.sde.clone(), &sub, &t[r.clone()], &z[r.start * per_row..r.end * per_row], dev).mul_scalar(w);
            let grads = GradientsParams::from_grads(loss.backward(), &m).to_device(main, &m);
            (grads, loss.inner().to_device(main))
        })
        .collect();
    let mut acc = GradientsAccumulator::<ScoreNet<B>>::new();
    let mut loss: Option<Tensor<B::InnerBackend, 1>> = None;
    for (g, l) in parts {
        acc.accumulate(&model, g);
        loss = Some(match loss {
            None => l,
            Some(a) => a + l,
        });
    }
    let model = optim.step(cfg.lr_at(step), model, acc.grads());
    (model, loss.expect("at least one shard"))
}

/// Collects float parameters (flattened) in visiting order.
struct Collect<B: Backend>(Vec<Tensor<B, 1>>);

impl<B: Backend> ModuleVisitor<B> for Collect<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.push(param.val().flatten(0, D - 1));
    }
}

/// Blends collected parameters into a module: `p = decay * p + (1 - decay) * source`.
struct Blend<B: Backend> {
    source: std::vec::IntoIter<Tensor<B, 1>>,
    decay: f64,
}

impl<B: Backend> ModuleMapper<B> for Blend<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let src = self.source.next().expect("EMA and model have the same parameters");
        let decay = self.decay;
        param.map(|p| {
            let shape = p.shape();
            let s = src.reshape(shape);
            p.mul_scalar(decay) + s.mul_scalar(1.0 - decay)
        })
    }
}

/// Updates the EMA weights (a model on the inner backend) towards the current weights.
pub fn ema_update<B: AutodiffBackend>(ema: ScoreNet<B::InnerBackend>, model: &ScoreNet<B>, decay: f64) -> ScoreNet<B::InnerBackend> {
    let mut c = Collect::<B::InnerBackend>(Vec::new());
    model.valid().visit(&mut c);
    ema.map(&mut Blend { source: c.0.into_iter(), decay })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};

    type AB = Autodiff<NdArray<f32>>;

    #[test]
    fn lr_schedule_warms_up_then_decays() {
        let c = TrainConfig { lr: 1e-3, warmup_steps: 10, steps: 110, min_lr_fraction: 0.1, ..Default::default() };
        assert!((c.lr_at(0) - 1e-4).abs() < 1e-12);
        assert!((c.lr_at(9) - 1e-3).abs() < 1e-12);
        assert!((c.lr_at(10) - 1e-3).abs() < 1e-12);
        assert!((c.lr_at(60) - 0.55e-3).abs() < 1e-9);
        assert!((c.lr_at(110) - 1e-4).abs() < 1e-12);
        assert!((c.ema_decay_at(0) - 0.1).abs() < 1e-12);
        assert_eq!(c.ema_decay_at(1_000_000), 0.999);
    }

    #[test]
    fn ema_blends_every_parameter() {
        let dev = Default::default();
        let cfg = crate::model::ScoreNetConfig { embed_dim: 8, hidden_dim: 8, n_layers: 1, n_heads: 2, dropout: 0.0, block: Default::default(), fourier_scale: 30.0 };
        let a = ScoreNet::<AB>::new(&cfg, SdeConfig::default(), &dev).unwrap();
        let b = ScoreNet::<AB>::new(&cfg, SdeConfig::default(), &dev).unwrap();
        let ema = ema_update(a.valid(), &b, 0.25);
        let av: Vec<f32> = a.embed.weight.val().inner().into_data().to_vec().unwrap();
        let bv: Vec<f32> = b.embed.weight.val().inner().into_data().to_vec().unwrap();
        let ev: Vec<f32> = ema.embed.weight.val().into_data().to_vec().unwrap();
        for i in 0..av.len() {
            assert!((ev[i] - (0.25 * av[i] + 0.75 * bv[i])).abs() < 1e-6);
        }
        let cls: Vec<f32> = ema.cls.val().into_data().to_vec().unwrap();
        assert!(cls.iter().all(|v| (*v - 1.0).abs() < 1e-6));
    }

    #[test]
    fn shards_cover_the_batch_in_order() {
        assert_eq!(shard_rows(10, 3), vec![0..4, 4..7, 7..10]);
        assert_eq!(shard_rows(2, 4), vec![0..1, 1..2]);
        assert_eq!(shard_rows(5, 1), vec![0..5]);
        assert!(shard_rows(0, 2).is_empty());
    }

    /// A batch of 5 showers with 3, 1, 0, 2 and 3 real points.
    fn batch() -> HostBatch {
        let n_real = vec![3usize, 1, 0, 2, 3];
        let n = 3;
        let mut x = vec![0f32; 5 * n * 4];
        let mut mask = vec![0f32; 5 * n];
        let mut rng = Stream::new(5, 0, Purpose::Evaluate);
        for (r, &k) in n_real.iter().enumerate() {
            for j in 0..k {
                mask[r * n + j] = 1.0;
                for c in 0..4 {
                    x[(r * n + j) * 4 + c] = rng.normal() as f32;
                }
            }
        }
        HostBatch { batch: 5, n_points: n, x, mask, cond: vec![0.1, 0.3, 0.5, 0.7, 0.9], n_real }
    }

    #[test]
    fn data_parallel_step_equals_the_single_device_step() {
        use burn::optim::AdamWConfig;
        let dev = Default::default();
        let net = crate::model::ScoreNetConfig { embed_dim: 8, hidden_dim: 16, n_layers: 1, n_heads: 2, dropout: 0.0, block: Default::default(), fourier_scale: 30.0 };
        let cfg = TrainConfig { lr: 1e-2, warmup_steps: 1, seed: 3, ..Default::default() };
        let hb = batch();
        <AB as Backend>::seed(&dev, 1);
        let start = ScoreNet::<AB>::new(&net, SdeConfig::default(), &dev).unwrap();
        let params = |m: &ScoreNet<AB>| {
            let mut c = Collect::<NdArray<f32>>(Vec::new());
            m.valid().visit(&mut c);
            c.0.into_iter().flat_map(|t| t.into_data().to_vec::<f32>().unwrap()).collect::<Vec<f32>>()
        };
        let (mut one, mut two) = (start.clone(), start.clone());
        let (mut o1, mut o2) = (AdamWConfig::new().init::<AB, ScoreNet<AB>>(), AdamWConfig::new().init::<AB, ScoreNet<AB>>());
        for step in 0..3 {
            let (m1, l1) = train_step(one, &mut o1, &hb, &cfg, step, &dev);
            let (m2, l2) = train_step_parallel(two, &mut o2, &hb, &cfg, step, &[dev, dev, dev]);
            let (l1, l2): (f32, f32) = (l1.into_scalar(), l2.into_scalar());
            assert!((l1 - l2).abs() < 1e-5 * l1.abs(), "step {step}: loss {l1} vs {l2}");
            (one, two) = (m1, m2);
        }
        let (p0, p1, p2) = (params(&start), params(&one), params(&two));
        let moved = p0.iter().zip(&p1).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let diff = p1.iter().zip(&p2).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(moved > 1e-3, "the steps moved the weights by {moved}");
        assert!(diff < 1e-5, "weights differ by {diff}");
    }
}
