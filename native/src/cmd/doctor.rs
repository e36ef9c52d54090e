//! `tdsm doctor`: which devices this build can use, why the others cannot, and a small
//! matmul and sampler step on each usable one, compared with the CPU.

use anyhow::Result;

use crate::cli::DoctorArgs;
use crate::device::{resolve, DeviceSpec, Resolved};
use crate::parity::{compare, ParityReport};
use crate::probe;

/// Parity tolerance of the checks (absolute, f32).
const TOLERANCE: f32 = 1e-4;

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// Prints the result of a device check.
fn report(name: &str, r: Result<ParityReport>) -> bool {
    match r {
        Ok(p) if p.max() < TOLERANCE => {
            println!(
                "  {name}: ok - matmul and one sampler step in {:.1} s; max |difference| from the CPU: matmul {:.1e}, ops {:.1e}, forward {:.1e}, step {:.1e}",
                p.seconds, p.matmul, p.ops, p.forward, p.euler
            );
            true
        }
        Ok(p) => {
            println!("  {name}: WRONG RESULTS - differences from the CPU above {TOLERANCE:e}: {p:?}");
            false
        }
        Err(e) => {
            println!("  {name}: check failed: {}", format!("{e:#}").replace('\n', " "));
            false
        }
    }
}

/// Runs the command.
pub fn run(a: DoctorArgs) -> Result<()> {
    let mut built = vec!["cpu"];
    if cfg!(feature = "wgpu") {
        built.push("wgpu");
    }
    if cfg!(feature = "cuda") {
        built.push("cuda");
    }
    println!("tdsm {} doctor; backends built in: {}", env!("CARGO_PKG_VERSION"), built.join(", "));

    // CPU
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mem = probe::available_host_memory().map(|m| format!(", {:.1} GiB available", gib(m))).unwrap_or_default();
    println!("cpu: {threads} threads{mem}");
    if !a.list {
        report("cpu", compare::<burn::backend::NdArray<f32>>(&Default::default()));
    }

    // CUDA
    match probe::cuda() {
        Err(e) => println!("cuda: unusable: {e}"),
        Ok(info) => {
            println!("cuda: driver API {}.{}, {} device(s)", info.driver_version.0, info.driver_version.1, info.devices.len());
            for d in &info.devices {
                println!("  cuda:{}: {}, compute capability {}.{}, {:.1} GiB", d.index, d.name, d.compute_capability.0, d.compute_capability.1, gib(d.total_memory));
            }
            if let Err(e) = probe::nvrtc() {
                println!("  unusable: {e}");
            } else if !cfg!(feature = "cuda") {
                println!("  unusable by this build: rebuild with `cargo build --release --features cuda`");
            } else if !a.list {
                #[cfg(feature = "cuda")]
                for d in &info.devices {
                    let dev = burn::backend::cuda::CudaDevice::new(d.index);
                    report(&format!("cuda:{}", d.index), compare::<burn::backend::Cuda<f32, i32>>(&dev));
                }
            }
        }
    }

    // wgpu
    wgpu_section(&a);

    match resolve(DeviceSpec::Auto) {
        Ok(Resolved::Cpu) => println!("--device auto uses: cpu"),
        Ok(d) => println!("--device auto uses: {}", d.label()),
        Err(e) => println!("--device auto: {e:#}"),
    }
    Ok(())
}

#[cfg(feature = "wgpu")]
fn wgpu_section(a: &DoctorArgs) {
    match probe::wgpu_adapters() {
        Err(e) => println!("wgpu: unusable: {e}"),
        Ok(list) => {
            println!("wgpu: {} adapter(s)", list.len());
            for (i, ad) in list.iter().enumerate() {
                println!(
                    "  wgpu:{i}: {} ({}, {}, driver {}), max buffer {:.1} GiB, shader f16: {}",
                    ad.name,
                    ad.kind,
                    ad.backend,
                    if ad.driver.is_empty() { "?" } else { &ad.driver },
                    gib(ad.max_buffer_bytes),
                    if ad.shader_f16 { "yes" } else { "no" }
                );
            }
            if !a.list {
                for i in 0..list.len() {
                    match resolve(DeviceSpec::Wgpu(Some(i))) {
                        Ok(Resolved::Wgpu { device, .. }) => {
                            report(&format!("wgpu:{i}"), compare::<burn::backend::Wgpu<f32, i32>>(&device));
                        }
                        Ok(_) => {}
                        Err(e) => println!("  wgpu:{i}: unusable: {e:#}"),
                    }
                }
            }
        }
    }
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_section(_a: &DoctorArgs) {
    let loader = match probe::vulkan_loader() {
        Ok(()) => "a Vulkan loader is present".to_string(),
        Err(e) => e,
    };
    println!("wgpu: unusable by this build: rebuild with `cargo build --release --features wgpu` ({loader})");
}
