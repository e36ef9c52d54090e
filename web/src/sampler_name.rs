//! Sampler names as the page and the `tdsm sample --sampler` flag spell them.

use tdsm_core::sampler::{OdeMethod, SamplerKind};

/// The sampler called `name`: `em`, `pc` (SNR 0.16, one corrector step, as the CLI's
/// defaults), `ode` (Heun), `ode-rk4`, or `ode-adaptive` (rtol = atol = 1e-5).
pub fn sampler_kind(name: &str) -> Result<SamplerKind, String> {
    match name {
        "em" => Ok(SamplerKind::Em),
        "pc" => Ok(SamplerKind::Pc {
            snr: 0.16,
            corrector_steps: 1,
        }),
        "ode" => Ok(SamplerKind::Ode {
            method: OdeMethod::Heun,
        }),
        "ode-rk4" => Ok(SamplerKind::Ode {
            method: OdeMethod::Rk4,
        }),
        "ode-adaptive" => Ok(SamplerKind::OdeAdaptive {
            rtol: 1e-5,
            atol: 1e-5,
        }),
        other => Err(format!(
            "unknown sampler '{other}': expected em, pc, ode, ode-rk4 or ode-adaptive"
        )),
    }
}
