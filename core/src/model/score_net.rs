//! The score network `s_theta(x, t, e, mask)`.

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{activation::silu, backend::Backend, Tensor};

use super::block::{ClassTokenBlock, SelfAttentionBlock};
use super::config::{BlockKind, ScoreNetConfig};
use super::fourier::GaussianFourier;
use crate::error::CoreError;
use crate::sde::SdeConfig;

/// Point-cloud transformer predicting the score of the perturbed data (upstream "Gen").
///
/// Linear(4 -> E) point embedding; time and energy each through a frozen Gaussian Fourier
/// projection, Linear(E -> E), swish and Linear(E -> 1), added to every point before every
/// block; L blocks; output Linear(E -> 4) divided by the SDE's marginal std at t.
#[derive(Module, Debug)]
pub struct ScoreNet<B: Backend> {
    /// Linear(4 -> E) point embedding.
    pub embed: Linear<B>,
    /// Frozen Fourier projection of t.
    pub fourier_t: GaussianFourier<B>,
    /// Frozen Fourier projection of the conditioning energy.
    pub fourier_e: GaussianFourier<B>,
    /// Linear(E -> E) on the time features.
    pub lin_t: Linear<B>,
    /// Linear(E -> E) on the energy features.
    pub lin_e: Linear<B>,
    /// Linear(E -> 1): time offset added to every point.
    pub dense_t: Linear<B>,
    /// Linear(E -> 1): energy offset added to every point.
    pub dense_e: Linear<B>,
    /// Learned class token `[1, 1, E]`, initialised to ones; the same token feeds every block.
    pub cls: Param<Tensor<B, 3>>,
    /// Class-token blocks (empty when `block` is self-attention).
    pub cls_blocks: Vec<ClassTokenBlock<B>>,
    /// Self-attention blocks (empty when `block` is class-token).
    pub sa_blocks: Vec<SelfAttentionBlock<B>>,
    /// Linear(E -> 4) output.
    pub out: Linear<B>,
    /// The SDE whose marginal std scales the output (not a parameter).
    #[module(skip)]
    pub sde: SdeConfig,
}

impl<B: Backend> ScoreNet<B> {
    /// A freshly initialised network.
    pub fn new(cfg: &ScoreNetConfig, sde: SdeConfig, device: &B::Device) -> Result<Self, CoreError> {
        cfg.validate()?;
        sde.validate()?;
        let e = cfg.embed_dim;
        let (cls_blocks, sa_blocks) = match cfg.block {
            BlockKind::ClassToken => (
                (0..cfg.n_layers).map(|_| ClassTokenBlock::new(e, cfg.hidden_dim, cfg.n_heads, cfg.dropout, device)).collect(),
                vec![],
            ),
            BlockKind::SelfAttention => (
                vec![],
                (0..cfg.n_layers).map(|_| SelfAttentionBlock::new(e, cfg.hidden_dim, cfg.n_heads, cfg.dropout, device)).collect(),
            ),
        };
        let net = Self {
            embed: LinearConfig::new(4, e).init(device),
            fourier_t: GaussianFourier::new(e, cfg.fourier_scale, device),
            fourier_e: GaussianFourier::new(e, cfg.fourier_scale, device),
            lin_t: LinearConfig::new(e, e).init(device),
            lin_e: LinearConfig::new(e, e).init(device),
            dense_t: LinearConfig::new(e, 1).init(device),
            dense_e: LinearConfig::new(e, 1).init(device),
            cls: Param::from_tensor(Tensor::ones([1, 1, e], device)),
            cls_blocks,
            sa_blocks,
            out: LinearConfig::new(e, 4).init(device),
            sde,
        };
        // Burn initialises parameters lazily on first use; materialise them now so that clones
        // share their values (and the backend RNG is consumed here, deterministically).
        net.visit(&mut Materialize);
        Ok(net)
    }

    /// The largest step an adaptive ODE solver should take in `t`: the shortest period of the
    /// time features (see [`GaussianFourier::shortest_period`]). Longer steps let the solver's
    /// error estimate miss the network's oscillation in `t`. Measured on four small trained
    /// models (Fourier scale 30, periods 0.016 to 0.032), log-likelihoods at rtol = atol = 1e-5:
    /// without the limit a shower alone and in a batch of 8 differed by up to 4.9e-4 relative
    /// (3.4e-4 from a 1e-8 reference), with it by up to 1.3e-4 (7e-5), for 10% fewer to 11% more
    /// network evaluations; half the period gives 1e-5 for 25-75% more. `tdsm likelihood` applies
    /// it; `ode-adaptive` sampling does not: there, at 1e-5, it cost 31% more evaluations without
    /// bringing the points closer to a 1e-8 solve (at 1e-4 it did, 3-4x, for 2.5x the evaluations).
    pub fn time_step_limit(&self) -> f64 {
        self.fourier_t.shortest_period()
    }

    /// The score at `x`.
    ///
    /// # Shapes
    /// - `x`: `[batch, n, 4]` (model space), `mask`: `[batch, n]` (1 = real point, 0 = padding),
    ///   `t`: `[batch]`, `e`: `[batch]` (conditioning value)
    /// - output: `[batch, n, 4]` (padding rows are not zeroed here)
    pub fn forward(&self, x: Tensor<B, 3>, mask: Tensor<B, 2>, t: Tensor<B, 1>, e: Tensor<B, 1>) -> Tensor<B, 3> {
        let [b, _n, _] = x.dims();
        let pad = mask.lower_elem(0.5);
        let mut h = self.embed.forward(x);
        let tau = silu(self.lin_t.forward(self.fourier_t.forward(t.clone())));
        let eps = silu(self.lin_e.forward(self.fourier_e.forward(e)));
        let offset = (self.dense_t.forward(tau) + self.dense_e.forward(eps)).reshape([b, 1, 1]);
        let width = self.cls.val().dims()[2];
        let cls = self.cls.val().expand([b, 1, width]);
        for blk in &self.cls_blocks {
            h = blk.forward(h + offset.clone(), cls.clone(), pad.clone());
        }
        for blk in &self.sa_blocks {
            h = blk.forward(h + offset.clone(), pad.clone());
        }
        let std = self.sde.std_tensor(t).reshape([b, 1, 1]);
        self.out.forward(h).div(std)
    }
}

struct Materialize;

impl<B: Backend> ModuleVisitor<B> for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = param.val();
    }
}

struct TrainableCounter(usize);

impl<B: Backend> ModuleVisitor<B> for TrainableCounter {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if param.is_require_grad() {
            self.0 += param.val().shape().num_elements();
        }
    }
}

/// Number of trainable parameters of a module (frozen parameters excluded).
pub fn count_trainable<B: Backend, M: Module<B>>(module: &M) -> usize {
    let mut c = TrainableCounter(0);
    module.visit(&mut c);
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BlockKind;
    use burn::backend::{Autodiff, NdArray};
    use burn::module::AutodiffModule;
    use burn::tensor::TensorData;

    type B = NdArray<f32>;
    type AB = Autodiff<B>;

    fn small(block: BlockKind, dropout: f64) -> ScoreNetConfig {
        ScoreNetConfig { embed_dim: 16, hidden_dim: 32, n_layers: 2, n_heads: 2, dropout, block, fourier_scale: 30.0 }
    }

    #[test]
    fn upstream_size_has_the_upstream_parameter_count() {
        let cfg = ScoreNetConfig::upstream();
        assert_eq!(cfg.upstream_param_formula(), 11_076_614);
        let dev = Default::default();
        let net = ScoreNet::<AB>::new(&cfg, SdeConfig::default(), &dev).unwrap();
        assert_eq!(count_trainable(&net), 11_076_614);
        // the frozen Fourier weights are parameters too, but not trainable
        assert_eq!(net.num_params(), 11_076_614 + 512);
        for (e, h, l, p) in [(250, 512, 5, 3_961_126), (200, 128, 3, 879_174), (32, 64, 8, 105_414), (16, 128, 16, 155_878)] {
            let c = ScoreNetConfig { embed_dim: e, hidden_dim: h, n_layers: l, n_heads: 2, ..ScoreNetConfig::upstream() };
            assert_eq!(c.upstream_param_formula(), p);
        }
    }

    fn inputs(dev: &burn::tensor::Device<AB>) -> (Tensor<AB, 3>, Tensor<AB, 2>, Tensor<AB, 1>, Tensor<AB, 1>) {
        let x = Tensor::<AB, 3>::from_data(TensorData::new((0..24).map(|i| (i as f32 * 0.37).sin()).collect::<Vec<_>>(), [2, 3, 4]), dev)
            .require_grad();
        // row 0: one real point; row 1: fully padded
        let mask = Tensor::<AB, 2>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0, 0.0, 0.0, 0.0], [2, 3]), dev);
        let t = Tensor::<AB, 1>::from_data(TensorData::new(vec![0.5f32, 0.01], [2]), dev);
        let e = Tensor::<AB, 1>::from_data(TensorData::new(vec![0.2f32, 0.9], [2]), dev);
        (x, mask, t, e)
    }

    #[test]
    fn one_real_point_and_fully_padded_rows_are_finite_with_finite_gradients() {
        for block in [BlockKind::ClassToken, BlockKind::SelfAttention] {
            let dev = Default::default();
            let net = ScoreNet::<AB>::new(&small(block, 0.0), SdeConfig::default(), &dev).unwrap();
            let (x, mask, t, e) = inputs(&dev);
            let out = net.forward(x.clone(), mask.clone(), t, e);
            let vals: Vec<f32> = out.clone().into_data().to_vec().unwrap();
            assert!(vals.iter().all(|v| v.is_finite()), "{block:?}");
            let loss = (out * mask.unsqueeze_dim::<3>(2)).sum();
            let grads = loss.backward();
            let gx: Vec<f32> = x.grad(&grads).unwrap().into_data().to_vec().unwrap();
            assert!(gx.iter().all(|v| v.is_finite()));
            assert!(gx[..4].iter().any(|v| *v != 0.0), "the real point gets a gradient");
            let gw: Vec<f32> = net.embed.weight.val().grad(&grads).unwrap().into_data().to_vec().unwrap();
            assert!(gw.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn padding_does_not_change_real_points_and_dropout_is_off_in_evaluation() {
        let dev = Default::default();
        let net = ScoreNet::<AB>::new(&small(BlockKind::ClassToken, 0.5), SdeConfig::default(), &dev).unwrap();
        let eval = net.valid();
        let bdev = Default::default();
        let pts: Vec<f32> = (0..12).map(|i| (i as f32 * 0.7).cos()).collect();
        let x3 = Tensor::<B, 3>::from_data(TensorData::new(pts.clone(), [1, 3, 4]), &bdev);
        let mut padded = pts.clone();
        padded.extend_from_slice(&[9.0, -9.0, 3.0, 1.0, 0.5, 0.5, 0.5, 0.5]);
        let x5 = Tensor::<B, 3>::from_data(TensorData::new(padded, [1, 5, 4]), &bdev);
        let m3 = Tensor::<B, 2>::ones([1, 3], &bdev);
        let m5 = Tensor::<B, 2>::from_data(TensorData::new(vec![1.0f32, 1.0, 1.0, 0.0, 0.0], [1, 5]), &bdev);
        let t = Tensor::<B, 1>::from_data(TensorData::new(vec![0.3f32], [1]), &bdev);
        let e = Tensor::<B, 1>::from_data(TensorData::new(vec![0.6f32], [1]), &bdev);
        let a: Vec<f32> = eval.forward(x3.clone(), m3.clone(), t.clone(), e.clone()).into_data().to_vec().unwrap();
        let a2: Vec<f32> = eval.forward(x3, m3, t.clone(), e.clone()).into_data().to_vec().unwrap();
        let b: Vec<f32> = eval.forward(x5, m5, t, e).into_data().to_vec().unwrap();
        assert_eq!(a, a2, "evaluation is deterministic (no dropout)");
        for i in 0..12 {
            assert!((a[i] - b[i]).abs() < 1e-5 * a[i].abs().max(1.0), "point entry {i}: {} vs {}", a[i], b[i]);
        }
    }
}
