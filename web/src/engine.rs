//! The compute device a model runs on: WebGPU (Burn's wgpu backend with the WGSL compiler) or
//! the CPU (Burn's single-threaded NdArray backend).

use burn::backend::wgpu::{graphics::AutoGraphicsApi, init_setup_async, WgpuDevice};
use burn::backend::{NdArray, WebGpu};
use tdsm_core::bundle::{load_model, ModelCard};
use tdsm_core::model::ScoreNet;

/// The CPU backend.
pub type Cpu = NdArray<f32>;
/// The WebGPU backend.
pub type Gpu = WebGpu<f32, i32, u32>;

/// A loaded network on its device.
// one engine per loaded model, held once behind an `Rc`: the size difference does not matter
#[allow(clippy::large_enum_variant)]
pub enum Engine {
    /// On WebGPU.
    Gpu {
        /// The network.
        model: ScoreNet<Gpu>,
        /// Its device.
        device: WgpuDevice,
    },
    /// On the CPU.
    Cpu {
        /// The network.
        model: ScoreNet<Cpu>,
    },
}

impl Engine {
    /// Loads the network of `card` with `weights` on WebGPU (the caller has checked that
    /// `navigator.gpu` gives an adapter) or on the CPU.
    pub async fn load(card: &ModelCard, weights: &[u8], webgpu: bool) -> Result<Self, String> {
        if weights.is_empty() {
            return Err("the weights file is empty".into());
        }
        if webgpu {
            let device = WgpuDevice::default();
            init_setup_async::<AutoGraphicsApi>(&device, Default::default()).await;
            let model = load_model::<Gpu>(card, weights, &device).map_err(|e| e.to_string())?;
            Ok(Self::Gpu { model, device })
        } else {
            let model =
                load_model::<Cpu>(card, weights, &Default::default()).map_err(|e| e.to_string())?;
            Ok(Self::Cpu { model })
        }
    }

    /// `"webgpu"` or `"cpu"`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Gpu { .. } => "webgpu",
            Self::Cpu { .. } => "cpu",
        }
    }
}
