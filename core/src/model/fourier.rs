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

    /// The shortest period `1 / max |w|` of the features (infinite when every frequency is 0).
    /// An ODE solver step longer than this spans a full oscillation of the fastest feature,
    /// which the solver's error estimate (six evaluations per step) can miss. One small
    /// read-back of the frequencies.
    pub fn shortest_period(&self) -> f64 {
        let w: Vec<f32> = self.weights.val().into_data().convert::<f32>().to_vec().expect("f32 frequencies");
        let fastest = w.iter().fold(0f64, |a, &x| a.max((x as f64).abs()));
        if fastest > 0.0 {
            1.0 / fastest
        } else {
            f64::INFINITY
        }
    }

    /// # Shapes
    /// - `s`: `[batch]` -> `[batch, dim]`
    pub fn forward(&self, s: Tensor<B, 1>) -> Tensor<B, 2> {
        let w = self.weights.val().unsqueeze_dim::<2>(0); // [1, dim/2]
        let proj = s.unsqueeze_dim::<2>(1).mul(w).mul_scalar(2.0 * std::f64::consts::PI); // [batch, dim/2]
        Tensor::cat(vec![proj.clone().sin(), proj.cos()], 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::TensorData;

    #[test]
    fn shortest_period_is_one_over_the_largest_frequency() {
        let device = Default::default();
        let mut f = GaussianFourier::<NdArray>::new(6, 30.0, &device);
        f.weights = Param::from_tensor(Tensor::from_data(TensorData::from([3.0f32, -8.0, 0.5]), &device));
        assert!((f.shortest_period() - 0.125).abs() < 1e-12);
        // the feature really repeats after that period: sin(2 pi 8 (s + 1/8)) = sin(2 pi 8 s)
        let s = Tensor::<NdArray, 1>::from_data(TensorData::from([0.3f32, 0.425]), &device);
        let v: Vec<f32> = f.forward(s).into_data().to_vec().unwrap();
        assert!((v[1] - v[7]).abs() < 1e-5 && (v[4] - v[10]).abs() < 1e-5, "{v:?}");
        f.weights = Param::from_tensor(Tensor::zeros([3], &device));
        assert!(f.shortest_period().is_infinite());
    }
}
