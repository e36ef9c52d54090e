//! Generating a batch of showers: the core's planning and sampler, an asynchronous read-back of
//! the final state, then the same voxelisation and voxel-level calibration as `tdsm sample`.

use burn::tensor::backend::Backend;
use tdsm_core::bundle::ModelCard;
use tdsm_core::generate::{plan_showers, sample_batch, to_physical, SampleSettings};
use tdsm_core::model::ScoreNet;
use tdsm_core::pointcloud::{Point, Voxelizer};
use tdsm_core::sampler::{SamplerKind, Step};

/// One generated shower.
#[derive(Debug, Clone)]
pub struct Shower {
    /// Global index of the shower in its run (with the seed, it fixes the shower).
    pub index: u64,
    /// Incident energy, MeV.
    pub incident_energy: f64,
    /// Points `[E (MeV), x (mm), y (mm), layer id]`, before binning.
    pub points: Vec<Point>,
    /// Voxel energies (MeV) in the official voxel order, calibrated as by `tdsm sample`.
    pub voxels: Vec<f32>,
    /// Points outside the geometry, dropped when binning.
    pub dropped: usize,
}

/// Generates showers with global indices `first..first + energies.len()` in one batch, with
/// a single asynchronous read-back at the end (the step callback runs as the sampler
/// records its steps; on WebGPU the work itself is queued and finishes by the read-back).
pub async fn generate<B: Backend>(
    model: &ScoreNet<B>,
    card: &ModelCard,
    settings: &SampleSettings,
    first: u64,
    energies: &[f64],
    device: &B::Device,
    on_step: &mut dyn FnMut(Step),
) -> Result<Vec<Shower>, String> {
    if energies.is_empty() {
        return Ok(vec![]);
    }
    if let Some(e) = energies.iter().find(|e| !(e.is_finite() && **e > 0.0)) {
        return Err(format!("incident energy {e} MeV is not a positive number"));
    }
    if settings.steps == 0 {
        return Err("the number of steps must be at least 1".into());
    }
    let indices: Vec<u64> = (0..energies.len() as u64).map(|i| first + i).collect();
    let plans = plan_showers(card, settings, &indices, energies);
    let n_hits: Vec<usize> = plans.iter().map(|p| p.n_hits).collect();
    let x = sample_batch(
        model, card, settings, &indices, energies, &n_hits, device, on_step,
    );
    let n_points = x.dims()[1];
    let data = x
        .into_data_async()
        .await
        .map_err(|e| format!("cannot read the generated showers back from the device: {e:?}"))?;
    let state: Vec<f32> = data
        .convert::<f32>()
        .to_vec()
        .map_err(|e| format!("unexpected state data: {e:?}"))?;
    let points = to_physical(card, &state, n_points, energies, &plans);
    let vox = Voxelizer::new(&card.geometry.geometry());
    Ok(points
        .into_iter()
        .zip(&plans)
        .zip(indices.iter().zip(energies))
        .map(|((points, plan), (&index, &incident_energy))| {
            let mut voxels = vec![0f32; vox.n_voxels()];
            let st = vox.add_points(&points, &mut voxels);
            // as `tdsm sample`: with calibration, the energy inside the geometry is the planned total
            if let Some(total) = plan.total_energy {
                let sum: f64 = voxels.iter().map(|&v| v as f64).sum();
                if sum > 0.0 {
                    let f = (total / sum) as f32;
                    voxels.iter_mut().for_each(|v| *v *= f);
                }
            }
            Shower {
                index,
                incident_energy,
                points,
                voxels,
                dropped: st.dropped,
            }
        })
        .collect())
}

/// Whether `sampler` can run on a device whose read-backs must be asynchronous (the adaptive
/// ODE solver reads per-shower error norms back synchronously at every step).
pub fn runs_without_sync_readback(sampler: &SamplerKind) -> bool {
    !matches!(sampler, SamplerKind::OdeAdaptive { .. })
}
