//! The JavaScript API: `loadGenerator(cardJson, weights, webgpu)` and `Generator.generate(...)`.

use std::rc::Rc;

use js_sys::{Function, Object, Promise};
use tdsm_core::bundle::ModelCard;
use tdsm_core::generate::SampleSettings;
use tdsm_core::sampler::Step;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::engine::Engine;
use crate::js_out;
use crate::sampler_name::sampler_kind;
use crate::showers::{generate, runs_without_sync_readback};

/// Largest integer a JavaScript number holds exactly (2^53 - 1).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

struct Inner {
    card: ModelCard,
    engine: Engine,
}

/// A model loaded on a device, ready to generate showers.
#[wasm_bindgen]
pub struct Generator {
    inner: Rc<Inner>,
}

/// Loads a model from its card (the text of `model.json`) and weights (the bytes of
/// `weights.mpk`, full or half precision) on WebGPU when `webgpu` is true (check first that
/// `navigator.gpu.requestAdapter()` gives an adapter), otherwise on the CPU.
#[wasm_bindgen(js_name = loadGenerator)]
pub async fn load_generator(
    card_json: String,
    weights: Vec<u8>,
    webgpu: bool,
) -> Result<Generator, JsError> {
    let card = ModelCard::from_json(&card_json).map_err(|e| JsError::new(&e.to_string()))?;
    let engine = Engine::load(&card, &weights, webgpu)
        .await
        .map_err(|e| JsError::new(&e))?;
    Ok(Generator {
        inner: Rc::new(Inner { card, engine }),
    })
}

fn integer(name: &str, v: f64) -> Result<u64, String> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= MAX_SAFE_INTEGER {
        Ok(v as u64)
    } else {
        Err(format!(
            "{name} must be a non-negative integer below 2^53, not {v}"
        ))
    }
}

#[wasm_bindgen]
impl Generator {
    /// The device the model runs on: `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn device(&self) -> String {
        self.inner.engine.name().into()
    }

    /// The model card as JSON text.
    #[wasm_bindgen(js_name = cardJson)]
    pub fn card_json(&self) -> String {
        self.inner.card.to_json()
    }

    /// The model's geometry: `{ name, nVoxels, layers: [{ id, offset, nAlpha, rEdges }] }`.
    pub fn geometry(&self) -> Object {
        let kind = self.inner.card.geometry;
        js_out::geometry(kind.name(), &kind.geometry())
    }

    /// Generates showers with global indices `first, first + 1, ...` for the incident
    /// `energies` (MeV) with run `seed`, sampler `sampler` (`em`, `pc`, `ode`, `ode-rk4`, or on
    /// the CPU `ode-adaptive`) and `steps` time steps, calibrating each shower's total energy
    /// with the model's response model when `calibrate` is true (as `tdsm sample` does unless
    /// given `--no-calibration`). `onStep(done, total)` is called after each sampler step.
    ///
    /// Resolves to an array of `{ index, incidentEnergy, totalEnergy, nPoints, dropped,
    /// points, voxels }`; rejects with an `Error` whose message says what is wrong.
    #[allow(clippy::too_many_arguments)]
    pub fn generate(
        &self,
        energies: Vec<f64>,
        first: f64,
        seed: f64,
        sampler: String,
        steps: usize,
        calibrate: bool,
        on_step: Option<Function>,
    ) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let fail = |m: String| JsValue::from(js_sys::Error::new(&m));
            let first = integer("the first shower index", first).map_err(fail)?;
            let seed = integer("the seed", seed).map_err(fail)?;
            let sampler = sampler_kind(&sampler).map_err(fail)?;
            let settings = SampleSettings {
                sampler,
                steps,
                seed,
                calibrate,
            };
            let mut step = |s: Step| {
                if let Some(f) = &on_step {
                    // a throwing progress callback must not stop the generation
                    let _ = f.call2(
                        &JsValue::NULL,
                        &JsValue::from((s.index + 1) as f64),
                        &JsValue::from(s.total as f64),
                    );
                }
            };
            let card = &inner.card;
            let showers = match &inner.engine {
                Engine::Gpu { model, device } => {
                    if !runs_without_sync_readback(&settings.sampler) {
                        return Err(fail("the adaptive ODE sampler reads back synchronously and runs only on the CPU; choose em, pc or ode on WebGPU".into()));
                    }
                    generate(model, card, &settings, first, &energies, device, &mut step).await
                }
                Engine::Cpu { model } => generate(model, card, &settings, first, &energies, &Default::default(), &mut step).await,
            }
            .map_err(fail)?;
            Ok(JsValue::from(js_out::showers(&showers)))
        })
    }
}
