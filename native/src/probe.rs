//! Detection of GPUs and their drivers without touching a Burn backend: the CUDA driver
//! library is opened and asked directly, wgpu adapters are listed through wgpu itself.
//! Every failure is a one-line reason.

use std::ffi::{c_char, c_int, c_uint};

/// One CUDA device as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaDevice {
    /// Device ordinal.
    pub index: usize,
    /// Device name.
    pub name: String,
    /// Compute capability (major, minor).
    pub compute_capability: (i32, i32),
    /// Total memory in bytes.
    pub total_memory: u64,
}

/// What the CUDA driver reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaInfo {
    /// Driver API version as (major, minor), e.g. (12, 4).
    pub driver_version: (i32, i32),
    /// The devices.
    pub devices: Vec<CudaDevice>,
}

type CuResult = c_int;

/// Opens the first library of `names` that loads.
fn open_any(names: &[&str]) -> Result<libloading::Library, String> {
    let mut first = String::new();
    for n in names {
        // SAFETY: loading a system library runs its initialisers; the CUDA driver, NVRTC and the
        // Vulkan loader are designed to be loaded this way (as cudarc and wgpu do).
        match unsafe { libloading::Library::new(n) } {
            Ok(l) => return Ok(l),
            // report why the first (preferred) name failed
            Err(e) if first.is_empty() => first = e.to_string(),
            Err(_) => {}
        }
    }
    Err(first)
}

/// Asks the CUDA driver for its version and devices.
pub fn cuda() -> Result<CudaInfo, String> {
    let lib = open_any(&["libcuda.so.1", "libcuda.so", "nvcuda.dll"]).map_err(|e| format!("no CUDA driver (libcuda.so.1 cannot be loaded: {e})"))?;
    // SAFETY: the symbols are the CUDA driver API's, with their documented C signatures; every
    // out-pointer points to a live local of the right type.
    unsafe {
        let sym = |name: &[u8]| -> Result<(), String> { lib.get::<*const ()>(name).map(|_| ()).map_err(|e| format!("CUDA driver lacks {}: {e}", String::from_utf8_lossy(&name[..name.len() - 1]))) };
        for s in [&b"cuInit\0"[..], b"cuDriverGetVersion\0", b"cuDeviceGetCount\0", b"cuDeviceGet\0", b"cuDeviceGetName\0", b"cuDeviceGetAttribute\0", b"cuDeviceTotalMem_v2\0"] {
            sym(s)?;
        }
        let init = lib.get::<unsafe extern "C" fn(c_uint) -> CuResult>(b"cuInit\0").map_err(|e| e.to_string())?;
        let version = lib.get::<unsafe extern "C" fn(*mut c_int) -> CuResult>(b"cuDriverGetVersion\0").map_err(|e| e.to_string())?;
        let count = lib.get::<unsafe extern "C" fn(*mut c_int) -> CuResult>(b"cuDeviceGetCount\0").map_err(|e| e.to_string())?;
        let get = lib.get::<unsafe extern "C" fn(*mut c_int, c_int) -> CuResult>(b"cuDeviceGet\0").map_err(|e| e.to_string())?;
        let name = lib.get::<unsafe extern "C" fn(*mut c_char, c_int, c_int) -> CuResult>(b"cuDeviceGetName\0").map_err(|e| e.to_string())?;
        let attr = lib.get::<unsafe extern "C" fn(*mut c_int, c_int, c_int) -> CuResult>(b"cuDeviceGetAttribute\0").map_err(|e| e.to_string())?;
        let mem = lib.get::<unsafe extern "C" fn(*mut usize, c_int) -> CuResult>(b"cuDeviceTotalMem_v2\0").map_err(|e| e.to_string())?;
        let r = init(0);
        if r != 0 {
            return Err(format!("the CUDA driver failed to initialise (cuInit error {r}{})", if r == 100 { ": no CUDA-capable device" } else { "" }));
        }
        let mut v = 0;
        version(&mut v);
        let mut n = 0;
        let r = count(&mut n);
        if r != 0 {
            return Err(format!("cuDeviceGetCount failed (error {r})"));
        }
        if n == 0 {
            return Err("the CUDA driver reports no device".to_string());
        }
        let mut devices = Vec::new();
        for i in 0..n {
            let mut d = 0;
            if get(&mut d, i) != 0 {
                continue;
            }
            let mut buf = [0 as c_char; 256];
            name(buf.as_mut_ptr(), buf.len() as c_int, d);
            let text = std::ffi::CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
            let (mut major, mut minor) = (0, 0);
            attr(&mut major, 75, d);
            attr(&mut minor, 76, d);
            let mut bytes = 0usize;
            mem(&mut bytes, d);
            devices.push(CudaDevice { index: i as usize, name: text, compute_capability: (major, minor), total_memory: bytes as u64 });
        }
        Ok(CudaInfo { driver_version: (v / 1000, (v % 1000) / 10), devices })
    }
}

/// Checks that NVRTC (the run-time CUDA compiler Burn's CUDA backend needs) can be loaded.
pub fn nvrtc() -> Result<(), String> {
    let mut names: Vec<String> = vec!["libnvrtc.so".into()];
    for major in [13, 12, 11] {
        names.push(format!("libnvrtc.so.{major}"));
        for minor in 0..10 {
            names.push(format!("libnvrtc.so.{major}.{minor}"));
        }
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    open_any(&refs).map(|_| ()).map_err(|_| "NVRTC not found (libnvrtc.so; install the CUDA toolkit's nvrtc or add its lib directory to LD_LIBRARY_PATH)".to_string())
}

/// Checks that a Vulkan loader can be loaded (wgpu's backend on Linux).
pub fn vulkan_loader() -> Result<(), String> {
    open_any(&["libvulkan.so.1", "libvulkan.so"]).map(|_| ()).map_err(|e| format!("no Vulkan loader (libvulkan.so.1: {e}; install libvulkan1 and a driver, e.g. mesa-vulkan-drivers)"))
}

/// One wgpu adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WgpuAdapter {
    /// Adapter name.
    pub name: String,
    /// `discrete`, `integrated`, `virtual`, `cpu` or `other`.
    pub kind: String,
    /// Index among the adapters of the same kind (Burn's `WgpuDevice` numbering).
    pub index_in_kind: usize,
    /// Graphics API backend (e.g. Vulkan).
    pub backend: String,
    /// Driver name and version.
    pub driver: String,
    /// Largest buffer the adapter allows, bytes.
    pub max_buffer_bytes: u64,
    /// Whether it supports f16 in shaders.
    pub shader_f16: bool,
}

/// Lists the wgpu adapters of the platform's primary graphics API, in wgpu's order.
#[cfg(feature = "wgpu")]
pub fn wgpu_adapters() -> Result<Vec<WgpuAdapter>, String> {
    #[cfg(target_os = "linux")]
    vulkan_loader()?;
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor { backends: wgpu::Backends::PRIMARY, ..wgpu::InstanceDescriptor::new_without_display_handle() });
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY));
    if adapters.is_empty() {
        return Err("no wgpu adapter found (a Vulkan loader is present but no driver offers a device; for a software device install mesa-vulkan-drivers)".to_string());
    }
    let mut seen = std::collections::HashMap::new();
    Ok(adapters
        .iter()
        .map(|a| {
            let info = a.get_info();
            let kind = match info.device_type {
                wgpu::DeviceType::DiscreteGpu => "discrete",
                wgpu::DeviceType::IntegratedGpu => "integrated",
                wgpu::DeviceType::VirtualGpu => "virtual",
                wgpu::DeviceType::Cpu => "cpu",
                wgpu::DeviceType::Other => "other",
            };
            let k = seen.entry(kind).or_insert(0usize);
            let index_in_kind = *k;
            *k += 1;
            WgpuAdapter {
                name: info.name.clone(),
                kind: kind.to_string(),
                index_in_kind,
                backend: format!("{:?}", info.backend),
                driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
                max_buffer_bytes: a.limits().max_buffer_size,
                shader_f16: a.features().contains(wgpu::Features::SHADER_F16),
            }
        })
        .collect())
}

/// Memory available to new processes on this host, bytes (`MemAvailable` of /proc/meminfo).
pub fn available_host_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_memory_is_known_on_linux() {
        let m = available_host_memory().expect("/proc/meminfo");
        assert!(m > 64 << 20, "{m}");
    }

    #[test]
    fn cuda_probe_never_panics() {
        // On a machine without a driver this is a one-line reason; with one, a device list.
        match cuda() {
            Ok(info) => assert!(!info.devices.is_empty()),
            Err(e) => assert!(!e.contains('\n') && !e.is_empty()),
        }
    }
}
