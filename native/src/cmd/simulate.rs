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
    let threads = super::threads(a.threads);
    // Create the (temporary) output before printing anything, so that a bad --out gives one error line.
    let mut w = ShowerWriter::create(&a.out, a.events, sim.n_voxels())?;
    eprintln!(
        "tdsm simulate: GFlash parametrised showers (a parametrised simulation, NOT Geant4), geometry {}, {} showers, seed {}",
        a.geometry, a.events, a.seed
    );
    let pb = progress::bar(a.events as u64, "simulate");
    // Blocks of at most ~64 MB of voxels; the next block is simulated while this one is written
    // (HDF5 is only touched from this thread).
    let block = (16_000_000 / sim.n_voxels().max(1)).clamp(1, 2000);
    let t0 = std::time::Instant::now();
    let (mut t_sim, mut t_write) = (0f64, 0f64);
    let sim = &sim;
    std::thread::scope(|s| -> Result<()> {
        let spawn_block = |start: usize| {
            let n = block.min(a.events - start);
            let (seed, first, energy) = (a.seed, a.first + start as u64, a.energy);
            s.spawn(move || {
                let ts = std::time::Instant::now();
                let (e, v) = simulate_block(sim, seed, first, n, energy, threads);
                (e, v, ts.elapsed().as_secs_f64())
            })
        };
        let mut pending = Some(spawn_block(0));
        let mut done = 0usize;
        while let Some(h) = pending.take() {
            let (e, v, dt) = h.join().expect("simulation thread panicked");
            t_sim += dt;
            if done + e.len() < a.events {
                pending = Some(spawn_block(done + e.len()));
            }
            let tw = std::time::Instant::now();
            w.write(&e, &v)?;
            t_write += tw.elapsed().as_secs_f64();
            done += e.len();
            pb.set_position(done as u64);
        }
        Ok(())
    })?;
    pb.finish_and_clear();
    let path = w.finish()?;
    let dt = t0.elapsed().as_secs_f64();
    let t_sim = t_sim.max(1e-9);
    eprintln!(
        "wrote {} showers to {} in {:.2} s ({:.0} showers/s overall; simulation {:.2} s = {:.0} showers/s on {threads} threads, {:.0} per thread; gzip writing {:.2} s, overlapped)",
        a.events,
        path.display(),
        dt,
        a.events as f64 / dt,
        t_sim,
        a.events as f64 / t_sim,
        a.events as f64 / t_sim / threads as f64,
        t_write
    );
    Ok(())
}
