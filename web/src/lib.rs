//! tdsm in the browser: WebAssembly bindings around `tdsm-core` that generate calorimeter
//! showers on WebGPU, or on the CPU (Burn's NdArray backend) when WebGPU is unavailable.
//!
//! The sampling is the same core code the native `tdsm sample` runs: a shower depends only on
//! the run seed and its global index. Every device read-back is asynchronous, as WebGPU in a
//! browser requires.

mod engine;
mod generator;
mod js_out;
mod sampler_name;
mod showers;

pub use generator::{load_generator, Generator};

use wasm_bindgen::prelude::wasm_bindgen;

/// Installs the panic hook once, so that a Rust panic is logged with its message in the
/// browser console before the instance traps.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}
