//! Frozen Gaussian Fourier projection of a scalar (time or energy).

use burn::module::{Module, Param};
use burn::tensor::{backend::Backend, Distribution, Tensor};

/// `s -> [sin(2 pi s w), cos(2 pi s w)]` with `w ~ N(0, scale^2)` drawn once, not trained,
/// saved with the weights.
#[derive(Module, Debug)]
pub struct GaussianFourier<B: Backend> {
    /// Frequencies `w`, shape `[dim / 2]` (frozen).
    pub weights: Param<Tensor<B, 1>>,
}

impl<B: Backend> GaussianFourier<B> {
    /// A projection to `dim` features with frequency scale `scale`.
    pub fn new(dim: usize, scale: f64, device: &B::Device) -> Self {
        let w = Tensor::<B, 1>::random([dim / 2], Distribution::Normal(0.0, 1.0), device).mul_scalar(scale);
        Self { weights: Param::from_tensor(w).set_require_grad(false) }
    }

    /// # Shapes
    /// - `s`: `[batch]` -> `[batch, dim]`
    pub fn forward(&self, s: Tensor<B, 1>) -> Tensor<B, 2> {
        let w = self.weights.val().unsqueeze_dim::<2>(0); // [1, dim/2]
        let proj = s.unsqueeze_dim::<2>(1).mul(w).mul_scalar(2.0 * std::f64::consts::PI); // [batch, dim/2]
        Tensor::cat(vec![proj.clone().sin(), proj.cos()], 1)
    }
}
