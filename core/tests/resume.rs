//! Bit-identical resumption of training (its own test binary: Burn's CPU backend keeps
//! process-wide state that tests in parallel threads would share).

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use tdsm_core::bundle::parameter_values;
use tdsm_core::model::ScoreNet;
use tdsm_core::rng::{Purpose, Stream};
use tdsm_core::sde::SdeConfig;
use tdsm_core::train::{train_step, TrainConfig};
use tdsm_core::bundle::{load_weights, weights_to_bytes, Precision};
use tdsm_core::dataset::{HostBatch, PointDataset};
use tdsm_core::model::ScoreNetConfig;
use tdsm_core::transform::Transform;
use tdsm_core::GeometryKind;
use burn::backend::{Autodiff, NdArray};
use burn::optim::{AdamWConfig, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};

type AB = Autodiff<NdArray<f32>>;

fn data() -> (PointDataset, Transform) {
    let mut s = Stream::new(3, 0, Purpose::Simulate);
    let mut ds = PointDataset::default();
    for i in 0..12 {
        let n = 3 + i % 5;
        ds.showers.push((0..n).map(|_| [1.0 + 20.0 * s.uniform() as f32, (s.normal() * 10.0) as f32, (s.normal() * 10.0) as f32, (s.below(4)) as f32]).collect());
        ds.e_inc.push(1000.0 * (1 + i) as f64);
        ds.source_index.push(i);
    }
    (ds, Transform::for_geometry(GeometryKind::Ds1Photons))
}

fn weights(m: &ScoreNet<AB>) -> Vec<Vec<f32>> {
    parameter_values::<<AB as AutodiffBackend>::InnerBackend, _>(&m.valid())
}

#[test]
fn resume_is_bit_identical() {
    let dev = Default::default();
    let (ds, tf) = data();
    // Dropout 0: Burn's CPU backend keeps one process-wide seeded RNG, which tests running in
    // parallel threads would share (the CLI seeds it from (seed, step) before every step).
    let net = ScoreNetConfig { embed_dim: 8, hidden_dim: 16, n_layers: 2, n_heads: 2, dropout: 0.0, block: Default::default(), fourier_scale: 30.0 };
    let cfg = TrainConfig { steps: 5, warmup_steps: 2, batch_size: 4, ..TrainConfig::default() };
    let batches: Vec<HostBatch> = (0..5).map(|s| HostBatch::collate(&ds, &[s, s + 1, s + 5, s + 7], &tf)).collect();
    let optim_cfg = || AdamWConfig::new().init::<AB, ScoreNet<AB>>();
    AB::seed(&dev, 9);
    let init = ScoreNet::<AB>::new(&net, SdeConfig::default(), &dev).unwrap();
    let init_bytes = weights_to_bytes(init.clone(), Precision::Full).unwrap();
    // 5 steps straight
    let mut m = init.clone();
    let mut o = optim_cfg();
    for s in 0..5 {
        m = train_step(m, &mut o, &batches[s], &cfg, s, &dev).0;
    }
    // 3 steps, save, load into fresh objects, 2 steps
    let mut m2 = init;
    let mut o2 = optim_cfg();
    for s in 0..3 {
        m2 = train_step(m2, &mut o2, &batches[s], &cfg, s, &dev).0;
    }
    let wb = weights_to_bytes(m2.clone(), Precision::Full).unwrap();
    let ob = NamedMpkBytesRecorder::<FullPrecisionSettings>::new().record(o2.to_record(), ()).unwrap();
    drop((m2, o2));
    let fresh = load_weights(ScoreNet::<AB>::new(&net, SdeConfig::default(), &dev).unwrap(), &init_bytes, &dev).unwrap();
    let mut m3 = load_weights(fresh, &wb, &dev).unwrap();
    let mut o3 = optim_cfg().load_record(NamedMpkBytesRecorder::<FullPrecisionSettings>::new().load(ob, &dev).unwrap());
    for s in 3..5 {
        m3 = train_step(m3, &mut o3, &batches[s], &cfg, s, &dev).0;
    }
    let (a, b) = (weights(&m), weights(&m3));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "weights differ after resume");
    }
    // and training did change the weights
    let w0 = weights(&load_weights(ScoreNet::<AB>::new(&net, SdeConfig::default(), &dev).unwrap(), &init_bytes, &dev).unwrap());
    assert_ne!(w0[0], a[0]);
}
