//! Device selection: `--device cpu | wgpu[:N] | cuda[:N] | auto`.
//!
//! GPUs are detected before any backend touches them (a CUDA operation without a driver
//! panics on a device thread), so an unusable device gives a one-line reason and `auto`
//! falls back to the next candidate: CUDA, then wgpu, then the CPU.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Result};

/// A device as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The CPU (Burn's ndarray backend).
    Cpu,
    /// A wgpu adapter (Vulkan on Linux): the default one, or the N-th listed by `tdsm doctor`.
    Wgpu(Option<usize>),
    /// CUDA device N.
    Cuda(usize),
    /// The first usable of CUDA, wgpu and the CPU.
    Auto,
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, index) = match s.split_once(':') {
            Some((n, i)) => {
                let i = i.parse::<usize>().map_err(|_| format!("device '{s}': the index after ':' must be a number"))?;
                (n, Some(i))
            }
            None => (s, None),
        };
        match (name, index) {
            ("cpu", None) => Ok(Self::Cpu),
            ("auto", None) => Ok(Self::Auto),
            ("wgpu", i) => Ok(Self::Wgpu(i)),
            ("cuda", i) => Ok(Self::Cuda(i.unwrap_or(0))),
            ("cpu" | "auto", Some(_)) => Err(format!("device '{s}': {name} takes no index")),
            _ => Err(format!("unknown device '{s}': expected cpu, wgpu[:N], cuda[:N] or auto")),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Wgpu(None) => write!(f, "wgpu"),
            Self::Wgpu(Some(i)) => write!(f, "wgpu:{i}"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
            Self::Auto => write!(f, "auto"),
        }
    }
}

/// A device that was found usable.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// The CPU.
    Cpu,
    /// A wgpu adapter.
    #[cfg(feature = "wgpu")]
    Wgpu {
        /// Burn's device handle.
        device: burn::backend::wgpu::WgpuDevice,
        /// Adapter name and type.
        name: String,
        /// Whether the adapter runs f16 shaders.
        shader_f16: bool,
    },
    /// A CUDA device.
    #[cfg(feature = "cuda")]
    Cuda {
        /// Device index.
        index: usize,
        /// Device name and compute capability.
        name: String,
        /// Compute capability (major, minor).
        capability: (i32, i32),
    },
}

impl Resolved {
    /// Short name for messages and JSON output (`cpu`, `wgpu:<adapter>`, `cuda:<i> <name>`).
    pub fn label(&self) -> String {
        match self {
            Self::Cpu => "cpu".to_string(),
            #[cfg(feature = "wgpu")]
            Self::Wgpu { name, .. } => format!("wgpu ({name})"),
            #[cfg(feature = "cuda")]
            Self::Cuda { index, name, .. } => format!("cuda:{index} ({name})"),
        }
    }

    /// The backend: `cpu`, `wgpu` or `cuda`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            #[cfg(feature = "wgpu")]
            Self::Wgpu { .. } => "wgpu",
            #[cfg(feature = "cuda")]
            Self::Cuda { .. } => "cuda",
        }
    }

    /// Device memory to plan batches with, in bytes (`None`: unknown).
    pub fn memory_bytes(&self) -> Option<u64> {
        match self {
            Self::Cpu => crate::probe::available_host_memory(),
            #[cfg(feature = "wgpu")]
            Self::Wgpu { .. } => crate::probe::wgpu_adapters().ok().and_then(|a| a.first().map(|a| a.max_buffer_bytes)),
            #[cfg(feature = "cuda")]
            Self::Cuda { index, .. } => crate::probe::cuda().ok().and_then(|c| c.devices.get(*index).map(|d| d.total_memory)),
        }
    }
}

/// Why `resolved` cannot compute in `precision`, if it cannot.
pub fn check_precision(resolved: &Resolved, precision: crate::cli::PrecisionName) -> Result<()> {
    use crate::cli::PrecisionName as P;
    match (resolved, precision) {
        (_, P::F32) => Ok(()),
        (Resolved::Cpu, p) => bail!("--precision {} needs a GPU (--device cuda or wgpu): the CPU backend computes in f32", p.name()),
        #[cfg(feature = "wgpu")]
        (Resolved::Wgpu { shader_f16: true, .. }, P::F16) => Ok(()),
        #[cfg(feature = "wgpu")]
        (Resolved::Wgpu { name, .. }, P::F16) => bail!("--precision f16: the wgpu adapter {name} has no shader-f16 support (use f32)"),
        #[cfg(feature = "wgpu")]
        (Resolved::Wgpu { .. }, P::Bf16) => bail!("--precision bf16 is not available on wgpu (WGSL has no bf16); use f16 or --device cuda"),
        #[cfg(feature = "cuda")]
        (Resolved::Cuda { .. }, P::F16) => Ok(()),
        #[cfg(feature = "cuda")]
        (Resolved::Cuda { capability, .. }, P::Bf16) if capability.0 >= 8 => Ok(()),
        #[cfg(feature = "cuda")]
        (Resolved::Cuda { name, .. }, P::Bf16) => bail!("--precision bf16 needs compute capability 8.0 or newer ({name}); use f16"),
    }
}

/// Runs `$body` with `$AD` bound to the autodiff backend type of a list of resolved devices of
/// one kind and `$devs` to their handles (a `Vec`); a mixed list is an error.
#[macro_export]
macro_rules! on_devices {
    ($resolved:expr, |$AD:ident, $devs:ident| $body:block) => {{
        let list: &[$crate::device::Resolved] = $resolved;
        let kinds: Vec<&'static str> = list.iter().map(|r| r.kind()).collect();
        if kinds.iter().any(|k| *k != kinds[0]) {
            anyhow::bail!("--devices must all be of one kind (e.g. cuda:0,cuda:1), got {}", kinds.join(", "));
        }
        match &list[0] {
            $crate::device::Resolved::Cpu => {
                type $AD = burn::backend::Autodiff<burn::backend::NdArray<f32>>;
                let $devs = vec![burn::backend::ndarray::NdArrayDevice::Cpu; list.len()];
                $body
            }
            #[cfg(feature = "wgpu")]
            $crate::device::Resolved::Wgpu { .. } => {
                type $AD = burn::backend::Autodiff<burn::backend::Wgpu<f32, i32>>;
                let $devs: Vec<burn::backend::wgpu::WgpuDevice> = list
                    .iter()
                    .filter_map(|r| match r {
                        $crate::device::Resolved::Wgpu { device, .. } => Some(device.clone()),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    })
                    .collect();
                $body
            }
            #[cfg(feature = "cuda")]
            $crate::device::Resolved::Cuda { .. } => {
                type $AD = burn::backend::Autodiff<burn::backend::Cuda<f32, i32>>;
                let $devs: Vec<burn::backend::cuda::CudaDevice> = list
                    .iter()
                    .filter_map(|r| match r {
                        $crate::device::Resolved::Cuda { index, .. } => Some(burn::backend::cuda::CudaDevice::new(*index)),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    })
                    .collect();
                $body
            }
        }
    }};
}

/// Runs `$body` with `$B` bound to the inference backend type of the resolved device in the
/// given precision (checked by [`check_precision`]) and `$dev` to the device handle.
#[macro_export]
macro_rules! on_device_in {
    ($resolved:expr, $precision:expr, |$B:ident, $dev:ident| $body:block) => {{
        use $crate::cli::PrecisionName as P;
        $crate::device::check_precision($resolved, $precision)?;
        match ($resolved, $precision) {
            (r, P::F32) => $crate::on_device!(r, |AD, $B, $dev| $body),
            #[cfg(feature = "wgpu")]
            ($crate::device::Resolved::Wgpu { device, .. }, P::F16) => {
                type $B = burn::backend::Wgpu<burn::tensor::f16, i32>;
                let $dev = device.clone();
                $body
            }
            #[cfg(feature = "cuda")]
            ($crate::device::Resolved::Cuda { index, .. }, P::F16) => {
                type $B = burn::backend::Cuda<burn::tensor::f16, i32>;
                let $dev = burn::backend::cuda::CudaDevice::new(*index);
                $body
            }
            #[cfg(feature = "cuda")]
            ($crate::device::Resolved::Cuda { index, .. }, P::Bf16) => {
                type $B = burn::backend::Cuda<burn::tensor::bf16, i32>;
                let $dev = burn::backend::cuda::CudaDevice::new(*index);
                $body
            }
            (_, p) => anyhow::bail!("--precision {} is not available on this device", p.name()),
        }
    }};
}

/// Why `spec` cannot be used, or the usable device.
pub fn resolve(spec: DeviceSpec) -> Result<Resolved> {
    match spec {
        DeviceSpec::Cpu => Ok(Resolved::Cpu),
        DeviceSpec::Cuda(i) => resolve_cuda(i),
        DeviceSpec::Wgpu(i) => resolve_wgpu(i),
        DeviceSpec::Auto => {
            let mut why = Vec::new();
            match resolve_cuda(0) {
                Ok(d) => return Ok(announce(d)),
                Err(e) => why.push(format!("{e:#}")),
            }
            match resolve_wgpu(None) {
                Ok(d) => return Ok(announce(d)),
                Err(e) => why.push(format!("{e:#}")),
            }
            eprintln!("device auto: using the CPU ({})", why.join("; "));
            Ok(Resolved::Cpu)
        }
    }
}

fn announce(d: Resolved) -> Resolved {
    eprintln!("device auto: using {}", d.label());
    d
}

#[cfg(feature = "cuda")]
fn resolve_cuda(index: usize) -> Result<Resolved> {
    let info = crate::probe::cuda().map_err(|e| anyhow::anyhow!("cuda unusable: {e}"))?;
    let Some(d) = info.devices.get(index) else {
        bail!("cuda:{index} unusable: the driver reports {} CUDA device(s)", info.devices.len());
    };
    if let Err(e) = crate::probe::nvrtc() {
        bail!("cuda unusable: {e}");
    }
    Ok(Resolved::Cuda { index, name: format!("{}, compute capability {}.{}", d.name, d.compute_capability.0, d.compute_capability.1), capability: d.compute_capability })
}

#[cfg(not(feature = "cuda"))]
fn resolve_cuda(_index: usize) -> Result<Resolved> {
    bail!("cuda unusable: this tdsm was built without CUDA support (rebuild with `cargo build --release --features cuda`)")
}

#[cfg(feature = "wgpu")]
fn resolve_wgpu(index: Option<usize>) -> Result<Resolved> {
    use burn::backend::wgpu::WgpuDevice;
    let adapters = crate::probe::wgpu_adapters().map_err(|e| anyhow::anyhow!("wgpu unusable: {e}"))?;
    let rank = |k: &str| ["discrete", "integrated", "virtual", "cpu"].iter().position(|x| *x == k).unwrap_or(4);
    let a = match index {
        // the preferred adapter: discrete, then integrated, virtual, software
        None => adapters.iter().min_by_key(|a| rank(&a.kind)).expect("at least one adapter"),
        Some(i) => adapters.get(i).ok_or_else(|| anyhow::anyhow!("wgpu:{i} unusable: {} adapter(s) found (see tdsm doctor)", adapters.len()))?,
    };
    let device = match a.kind.as_str() {
        "discrete" => WgpuDevice::DiscreteGpu(a.index_in_kind),
        "integrated" => WgpuDevice::IntegratedGpu(a.index_in_kind),
        "virtual" => WgpuDevice::VirtualGpu(a.index_in_kind),
        "cpu" => WgpuDevice::Cpu,
        _ => WgpuDevice::DefaultDevice,
    };
    Ok(Resolved::Wgpu { device, name: format!("{}, {}", a.name, a.kind), shader_f16: a.shader_f16 })
}

#[cfg(not(feature = "wgpu"))]
fn resolve_wgpu(_index: Option<usize>) -> Result<Resolved> {
    bail!("wgpu unusable: this tdsm was built without wgpu support (rebuild with `cargo build --release --features wgpu`)")
}

/// Runs `$body` with `$AD` bound to the autodiff backend type and `$I` to its inner backend
/// type of the resolved device, and `$dev` to the device handle.
#[macro_export]
macro_rules! on_device {
    ($resolved:expr, |$AD:ident, $I:ident, $dev:ident| $body:block) => {{
        match $resolved {
            $crate::device::Resolved::Cpu => {
                #[allow(dead_code)]
                type $I = burn::backend::NdArray<f32>;
                #[allow(dead_code)]
                type $AD = burn::backend::Autodiff<$I>;
                let $dev = burn::backend::ndarray::NdArrayDevice::Cpu;
                $body
            }
            #[cfg(feature = "wgpu")]
            $crate::device::Resolved::Wgpu { device, .. } => {
                #[allow(dead_code)]
                type $I = burn::backend::Wgpu<f32, i32>;
                #[allow(dead_code)]
                type $AD = burn::backend::Autodiff<$I>;
                let $dev = device.clone();
                $body
            }
            #[cfg(feature = "cuda")]
            $crate::device::Resolved::Cuda { index, .. } => {
                #[allow(dead_code)]
                type $I = burn::backend::Cuda<f32, i32>;
                #[allow(dead_code)]
                type $AD = burn::backend::Autodiff<$I>;
                let $dev = burn::backend::cuda::CudaDevice::new(*index);
                $body
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse() {
        assert_eq!("cpu".parse::<DeviceSpec>(), Ok(DeviceSpec::Cpu));
        assert_eq!("auto".parse::<DeviceSpec>(), Ok(DeviceSpec::Auto));
        assert_eq!("wgpu".parse::<DeviceSpec>(), Ok(DeviceSpec::Wgpu(None)));
        assert_eq!("wgpu:1".parse::<DeviceSpec>(), Ok(DeviceSpec::Wgpu(Some(1))));
        assert_eq!("cuda".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(0)));
        assert_eq!("cuda:3".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(3)));
        assert!("cuda:x".parse::<DeviceSpec>().unwrap_err().contains("must be a number"));
        assert!("cpu:1".parse::<DeviceSpec>().unwrap_err().contains("takes no index"));
        assert!("tpu".parse::<DeviceSpec>().unwrap_err().contains("unknown device"));
        for s in ["cpu", "auto", "wgpu", "wgpu:2", "cuda:1"] {
            assert_eq!(s.parse::<DeviceSpec>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn cpu_always_resolves() {
        assert!(matches!(resolve(DeviceSpec::Cpu).unwrap(), Resolved::Cpu));
    }
}
