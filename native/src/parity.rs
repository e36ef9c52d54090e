//! Parity of a device with the CPU: the same weights and the same host-drawn inputs and noise
//! give the same numbers (a matmul, a permute/reshape/powf chain, a score-net forward pass and
//! one Euler–Maruyama step). Used by `tdsm doctor` and by the wgpu parity tests.

use std::time::Instant;

use anyhow::Result;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use tdsm_core::bundle::{load_weights, weights_to_bytes, Precision};
use tdsm_core::model::{ScoreNet, ScoreNetConfig};
use tdsm_core::rng::{Purpose, Stream};
use tdsm_core::sampler::euler_maruyama;
use tdsm_core::sde::{time_grid, SdeConfig};

/// The reference backend.
type Ref = burn::backend::NdArray<f32>;

/// Largest absolute differences from the CPU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParityReport {
    /// `[64, 48] x [48, 32]` matmul.
    pub matmul: f32,
    /// permute -> reshape -> powf (scalar and tensor exponents) -> swap_dims -> sum chain.
    pub ops: f32,
    /// Score-net forward pass on a padded batch.
    pub forward: f32,
    /// One Euler–Maruyama step with host-drawn noise.
    pub euler: f32,
    /// Seconds the device took (including shader compilation on first use).
    pub seconds: f64,
}

impl ParityReport {
    /// The largest of the differences.
    pub fn max(&self) -> f32 {
        self.matmul.max(self.ops).max(self.forward).max(self.euler)
    }
}

fn normal(seed: u64, n: usize) -> Vec<f32> {
    let mut v = vec![0f32; n];
    Stream::new(seed, 0, Purpose::Evaluate).fill_normal_f32(&mut v);
    v
}

fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().expect("f32 tensor")
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn matmul<B: Backend>(dev: &B::Device) -> Vec<f32> {
    let a = Tensor::<B, 2>::from_data(TensorData::new(normal(1, 64 * 48), [64, 48]), dev);
    let b = Tensor::<B, 2>::from_data(TensorData::new(normal(2, 48 * 32), [48, 32]), dev);
    host(a.matmul(b))
}

fn ops<B: Backend>(dev: &B::Device) -> Vec<f32> {
    let x = Tensor::<B, 4>::from_data(TensorData::new(normal(3, 2 * 3 * 4 * 5), [2, 3, 4, 5]), dev);
    let y = Tensor::<B, 3>::from_data(TensorData::new(normal(4, 2 * 4 * 15), [2, 4, 15]), dev);
    let z = x.permute([0, 2, 1, 3]).reshape([2, 4, 15]).abs().add_scalar(0.5).powf_scalar(1.7);
    let w = z.powf(y.abs().mul_scalar(0.5)).swap_dims(1, 2).reshape([2, 60]);
    host(w.clone().sum_dim(1).reshape([2]).unsqueeze_dim::<2>(1).mul(w))
}

/// The small network of the checks.
fn net_config() -> ScoreNetConfig {
    ScoreNetConfig { embed_dim: 16, hidden_dim: 32, n_layers: 2, n_heads: 2, dropout: 0.0, block: Default::default(), fourier_scale: 30.0 }
}

const SDE: SdeConfig = SdeConfig::Vp { beta_min: 0.1, beta_max: 20.0 };
const ROWS: [usize; 3] = [10, 7, 3];

/// Padded inputs: points, mask, times and conditions.
fn inputs<B: Backend>(dev: &B::Device) -> (Tensor<B, 3>, Tensor<B, 2>, Tensor<B, 1>, Tensor<B, 1>) {
    let (b, n) = (ROWS.len(), 10);
    let mut mask = vec![0f32; b * n];
    for (r, &k) in ROWS.iter().enumerate() {
        mask[r * n..r * n + k].iter_mut().for_each(|m| *m = 1.0);
    }
    let x: Vec<f32> = normal(5, b * n * 4).iter().enumerate().map(|(i, v)| v * mask[i / 4]).collect();
    (
        Tensor::from_data(TensorData::new(x, [b, n, 4]), dev),
        Tensor::from_data(TensorData::new(mask, [b, n]), dev),
        Tensor::from_data(TensorData::new(vec![0.9f32, 0.5, 0.05], [b]), dev),
        Tensor::from_data(TensorData::new(vec![0.1f32, 0.5, 0.9], [b]), dev),
    )
}

fn forward_and_step<B: Backend>(weights: &[u8], dev: &B::Device) -> Result<(Vec<f32>, Vec<f32>)> {
    let net = load_weights(ScoreNet::<B>::new(&net_config(), SDE, dev)?, weights, dev)?;
    let (x, mask, t, c) = inputs::<B>(dev);
    let out = host(net.forward(x.clone(), mask.clone(), t, c.clone()));
    let score = |x: Tensor<B, 3>, t: Tensor<B, 1>| net.forward(x, mask.clone(), t, c.clone());
    let noise_host = normal(6, x.dims().iter().product());
    let dims = x.dims();
    let mut noise = || Tensor::<B, 3>::from_data(TensorData::new(noise_host.clone(), dims), dev);
    let grid = time_grid(1.0, 1e-3, 1);
    let mask3 = mask.clone().unsqueeze_dim::<3>(2);
    let stepped = euler_maruyama(&score, &SDE, x, mask3, &grid[..2], &mut noise, &mut |_| {});
    Ok((out, host(stepped)))
}

/// Runs the checks on `dev` and on the CPU and returns the largest differences.
pub fn compare<B: Backend>(dev: &B::Device) -> Result<ParityReport> {
    let cpu = Default::default();
    <Ref as Backend>::seed(&cpu, 11);
    let weights = weights_to_bytes(ScoreNet::<Ref>::new(&net_config(), SDE, &cpu)?, Precision::Full)?;
    let (f_ref, s_ref) = forward_and_step::<Ref>(&weights, &cpu)?;
    let (m_ref, o_ref) = (matmul::<Ref>(&cpu), ops::<Ref>(&cpu));
    let t0 = Instant::now();
    let (f, s) = forward_and_step::<B>(&weights, dev)?;
    let (m, o) = (matmul::<B>(dev), ops::<B>(dev));
    Ok(ParityReport { matmul: max_diff(&m, &m_ref), ops: max_diff(&o, &o_ref), forward: max_diff(&f, &f_ref), euler: max_diff(&s, &s_ref), seconds: t0.elapsed().as_secs_f64() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parity_of_the_cpu_with_itself_is_exact() {
        let r = compare::<Ref>(&Default::default()).unwrap();
        assert_eq!(r.max(), 0.0, "{r:?}");
    }

    #[test]
    fn parity_inputs_are_not_trivial() {
        // the checks compare real numbers: non-zero, finite, and the step moves the points
        let cpu = Default::default();
        <Ref as Backend>::seed(&cpu, 11);
        let weights = weights_to_bytes(ScoreNet::<Ref>::new(&net_config(), SDE, &cpu).unwrap(), Precision::Full).unwrap();
        let (f, s) = forward_and_step::<Ref>(&weights, &cpu).unwrap();
        assert!(f.iter().all(|v| v.is_finite()) && f.iter().any(|v| v.abs() > 1e-3));
        let (x, ..) = inputs::<Ref>(&cpu);
        assert!(max_diff(&s, &host(x)) > 1e-2);
        let o = ops::<Ref>(&cpu);
        assert!(o.iter().all(|v| v.is_finite()) && o.iter().any(|v| v.abs() > 1.0));
    }

    /// wgpu (in CI: Mesa's lavapipe software Vulkan driver) agrees with the CPU within 1e-4.
    /// Without an adapter the test fails when `TDSM_TEST_WGPU=1` (as `.ci/run` sets, after
    /// installing lavapipe) and otherwise says why it checked nothing.
    #[cfg(feature = "wgpu")]
    #[test]
    fn parity_wgpu_matches_the_cpu() {
        let dev = match crate::device::resolve(crate::device::DeviceSpec::Wgpu(None)) {
            Ok(crate::device::Resolved::Wgpu { device, .. }) => device,
            other if std::env::var("TDSM_TEST_WGPU").as_deref() == Ok("1") => panic!("no wgpu adapter for the parity test: {other:?} (install mesa-vulkan-drivers libvulkan1)"),
            other => {
                eprintln!("wgpu parity not checked: no adapter ({other:?}); set TDSM_TEST_WGPU=1 to make this a failure");
                return;
            }
        };
        let r = compare::<burn::backend::Wgpu<f32, i32>>(&dev).unwrap();
        eprintln!("wgpu parity: {r:?}");
        assert!(r.max() < 1e-4, "{r:?}");
    }
}
