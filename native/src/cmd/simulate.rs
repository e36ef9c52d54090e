//! `tdsm simulate`: GFlash showers in CaloChallenge format.

use anyhow::{bail, Context, Result};
use tdsm_core::simulator::Simulator;

use crate::cli::SimulateArgs;
use crate::h5io::ShowerWriter;
use crate::progress;

/// Simulates showers `first..first+n` of run `seed` into row-major buffers, in parallel.
/// Returns (energies MeV, showers MeV); the result does not depend on the thread count.
pub fn simulate_block(sim: &Simulator, seed: u64, first: u64, n: usize, energy: Option<f64>, threads: usize) -> (Vec<f64>, Vec<f32>) {
    let nv = sim.n_voxels();
    let mut energies = vec![0.0f64; n];
    let mut showers = vec![0.0f32; n * nv];
    let per = n.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for (t, (es, vs)) in energies.chunks_mut(per).zip(showers.chunks_mut(per * nv)).enumerate() {
            s.spawn(move || {
                for (j, (e, v)) in es.iter_mut().zip(vs.chunks_mut(nv)).enumerate() {
                    let k = first + (t * per + j) as u64;
                    *e = match energy {
                        Some(en) => {
                            sim.shower_at(seed, k, en, v);
                            en
                        }
                        None => sim.shower(seed, k, v),
                    };
                }
            });
        }
    });
    (energies, showers)
}

/// Runs the command.
pub fn run(a: SimulateArgs) -> Result<()> {
    if a.events == 0 {
        bail!("--events must be at least 1");
    }
    if let Some(e) = a.energy {
        if !(e.is_finite() && e > 0.0) {
            bail!("--energy must be a positive number of MeV, got {e}");
        }
    }
    let sim = Simulator::new(a.geometry).with_context(|| format!("cannot simulate geometry {}", a.geometry))?;
    eprintln!(
        "tdsm simulate: GFlash parametrised showers (a parametrised simulation, NOT Geant4), geometry {}, {} showers, seed {}",
        a.geometry, a.events, a.seed
    );
    let threads = super::threads(a.threads);
    let mut w = ShowerWriter::create(&a.out, a.events, sim.n_voxels())?;
    let pb = progress::bar(a.events as u64, "simulate");
    let block = 2000usize;
    let t0 = std::time::Instant::now();
    let mut done = 0usize;
    while done < a.events {
        let n = block.min(a.events - done);
        let (e, v) = simulate_block(&sim, a.seed, a.first + done as u64, n, a.energy, threads);
        w.write(&e, &v)?;
        done += n;
        pb.set_position(done as u64);
    }
    pb.finish_and_clear();
    let path = w.finish()?;
    let dt = t0.elapsed().as_secs_f64();
    eprintln!(
        "wrote {} showers to {} in {:.2} s ({:.0} showers/s on {threads} threads)",
        a.events,
        path.display(),
        dt,
        a.events as f64 / dt
    );
    Ok(())
}
