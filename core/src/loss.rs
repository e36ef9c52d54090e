//! Denoising score-matching loss.

use burn::tensor::{backend::Backend, Tensor};

use crate::sde::SdeConfig;

/// Denoising score matching with one time per shower and the sigma^2 weighting:
/// `x_t = (mean_coef(t) x0 + sigma(t) z) * m`, residual `(sigma(t) s(x_t, t) + z)^2` on real
/// entries, averaged over each shower's real entries, then over the showers that have any.
/// Noise is masked on padding; padding contributes nothing.
///
/// `score(x_t, mask, t)` is the network with its conditioning already bound.
///
/// # Shapes
/// - `x0`, `z`: `[batch, n, 4]`; `mask`: `[batch, n]`; `t`: `[batch]`
/// - output: `[1]`
pub fn dsm_loss<B: Backend>(
    score: impl Fn(Tensor<B, 3>, Tensor<B, 2>, Tensor<B, 1>) -> Tensor<B, 3>,
    sde: &SdeConfig,
    x0: Tensor<B, 3>,
    mask: Tensor<B, 2>,
    t: Tensor<B, 1>,
    z: Tensor<B, 3>,
) -> Tensor<B, 1> {
    let [b, _, _] = x0.dims();
    let m3 = mask.clone().unsqueeze_dim::<3>(2); // [b, n, 1]
    let z = z * m3.clone();
    let mean = sde.mean_coef_tensor(t.clone()).reshape([b, 1, 1]);
    let std = sde.std_tensor(t.clone()).reshape([b, 1, 1]);
    let xt = (x0 * mean + z.clone() * std.clone()) * m3.clone();
    let s = score(xt, mask.clone(), t);
    let r = (s * std + z).powi_scalar(2) * m3;
    let per_shower_sum = r.sum_dims_squeeze::<1, usize>(&[1, 2]); // [b]
    let n_real = mask.sum_dim(1).reshape([b]).mul_scalar(4.0); // [b]
    let has = n_real.clone().greater_elem(0.0).float();
    let per_shower = per_shower_sum / n_real.clamp_min(1.0);
    (per_shower * has.clone()).sum() / has.sum().clamp_min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::TensorData;
    use std::cell::RefCell;

    type B = NdArray<f32>;

    #[test]
    fn network_receives_the_noised_input_and_padding_is_ignored() {
        let dev = Default::default();
        // VE with sigma(t) = 2 at t = ln(200)/ln(5000) (sigma_min 0.01, sigma_max 50); x0 = 0, z = 1.
        let sde = SdeConfig::Ve { sigma_min: 0.01, sigma_max: 50.0 };
        let t_star = (200f64).ln() / (5000f64).ln();
        let x0 = Tensor::<B, 3>::zeros([1, 3, 4], &dev);
        let z = Tensor::<B, 3>::ones([1, 3, 4], &dev);
        let mask = Tensor::<B, 2>::from_data(TensorData::new(vec![1.0f32, 1.0, 0.0], [1, 3]), &dev);
        let t = Tensor::<B, 1>::from_data(TensorData::new(vec![t_star as f32], [1]), &dev);
        let seen = RefCell::new(vec![]);
        let loss = dsm_loss(
            |x: Tensor<B, 3>, _m, _t| {
                *seen.borrow_mut() = x.clone().into_data().to_vec::<f32>().unwrap();
                x.zeros_like()
            },
            &sde,
            x0,
            mask,
            t,
            z,
        );
        let input = seen.borrow().clone();
        for (i, v) in input.iter().enumerate() {
            let expect = if i < 8 { 2.0 } else { 0.0 };
            assert!((v - expect).abs() < 1e-4, "entry {i}: {v}");
        }
        // zero score: residual z^2 = 1 on each of the 8 real entries -> mean 1 (padding excluded)
        let l: f32 = loss.into_scalar();
        assert!((l - 1.0).abs() < 1e-6, "{l}");
    }

    #[test]
    fn exact_score_gives_zero_loss() {
        let dev = Default::default();
        let sde = SdeConfig::Vp { beta_min: 0.1, beta_max: 20.0 };
        let x0 = Tensor::<B, 3>::from_data(TensorData::new((0..24).map(|i| i as f32 * 0.1).collect::<Vec<_>>(), [2, 3, 4]), &dev);
        let z = Tensor::<B, 3>::from_data(TensorData::new((0..24).map(|i| ((i * 7) % 5) as f32 - 2.0).collect::<Vec<_>>(), [2, 3, 4]), &dev);
        let mask = Tensor::<B, 2>::from_data(TensorData::new(vec![1.0f32, 1.0, 1.0, 1.0, 0.0, 0.0], [2, 3]), &dev);
        let t = Tensor::<B, 1>::from_data(TensorData::new(vec![0.3f32, 0.8], [2]), &dev);
        // the score of p(x_t | x0) is -(x_t - mean x0) / sigma^2 = -z / sigma
        let x0c = x0.clone();
        let loss = dsm_loss(
            |xt: Tensor<B, 3>, m: Tensor<B, 2>, tt: Tensor<B, 1>| {
                let mean = sde.mean_coef_tensor(tt.clone()).reshape([2, 1, 1]);
                let std = sde.std_tensor(tt).reshape([2, 1, 1]);
                (xt - x0c.clone() * mean) .div(std.clone() * std) .neg() * m.unsqueeze_dim::<3>(2)
            },
            &sde,
            x0,
            mask,
            t,
            z,
        );
        assert!(loss.into_scalar().abs() < 1e-8);
    }
}
