//! The CaloChallenge binary classifier test: an MLP trained to tell reference showers
//! (label 1) from generated ones (label 0), calibrated by isotonic regression on the test set,
//! scored by AUC and JSD on the validation set. Backend-agnostic (Burn).
//!
//! As the official `evaluate.py`: fully connected layers with LeakyReLU(0.01), BCE with
//! logits, Adam (lr 2e-4, PyTorch's betas and epsilon), batches of 1000, up to `epochs`
//! epochs keeping the one with the best test accuracy (stopping early at accuracy 1), a
//! 0.6 / 0.2 / 0.2 train / test / validation split of equally many showers per class, isotonic
//! calibration of the test-set probabilities clipped to [1e-6, 1 - 1e-6], then AUC and
//! JSD = (ln 2 - BCE) / ln 2 on the validation set.
//!
//! Split, batch order and initialisation are fixed by the seed, but on Burn's CPU backend the
//! gradients are not bit-reproducible from run to run (summation order inside its SIMD
//! kernels), and training amplifies the differences: repeated runs agree statistically (AUC
//! to about the quoted std), as the challenge's GPU runs do, not bit for bit.

use burn::module::{AutodiffModule, Module};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::{leaky_relu, log_sigmoid};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::eval::isotonic::Isotonic;
use crate::rng::{Purpose, Stream};

/// Slope of the LeakyReLU activations (PyTorch's default, used by the challenge).
pub const LEAKY_SLOPE: f64 = 0.01;

/// A table of classifier inputs, one row per shower, produced on demand (so that large
/// low-level inputs need not be materialised as f32 matrices).
pub trait Rows: Sync {
    /// Number of rows (showers).
    fn n_rows(&self) -> usize;
    /// Number of columns (input features).
    fn width(&self) -> usize;
    /// Writes row `i` into `out` (`width()` values).
    fn fill(&self, i: usize, out: &mut [f32]);
}

/// Rows stored as a row-major f64 matrix, e.g. [`crate::eval::HighLevel::feature_matrix`].
#[derive(Debug, Clone, Copy)]
pub struct DenseRows<'a> {
    data: &'a [f64],
    width: usize,
}

impl<'a> DenseRows<'a> {
    /// Wraps `data` (row-major, `width` columns).
    ///
    /// Fails with [`CoreError::Data`] when `data.len()` is not a multiple of `width`.
    pub fn new(data: &'a [f64], width: usize) -> Result<Self, CoreError> {
        if width == 0 || !data.len().is_multiple_of(width) {
            return Err(CoreError::Data(format!("{} values do not form rows of {width}", data.len())));
        }
        Ok(Self { data, width })
    }
}

impl Rows for DenseRows<'_> {
    fn n_rows(&self) -> usize {
        self.data.len() / self.width
    }
    fn width(&self) -> usize {
        self.width
    }
    fn fill(&self, i: usize, out: &mut [f32]) {
        for (o, v) in out.iter_mut().zip(&self.data[i * self.width..(i + 1) * self.width]) {
            *o = *v as f32;
        }
    }
}

/// The challenge's low-level input `[log10 E_inc, 100 E_v / E_inc for every voxel]`
/// (`prepare_low_data_for_classifier`, which scales the fractions by 100), computed from
/// thresholded voxel energies on demand.
#[derive(Debug, Clone, Copy)]
pub struct LowLevelRows<'a> {
    energies: &'a [f64],
    voxels: &'a [f32],
    n_voxels: usize,
}

impl<'a> LowLevelRows<'a> {
    /// Wraps incident energies (MeV) and row-major voxel energies (MeV).
    ///
    /// Fails with [`CoreError::Data`] when the lengths disagree.
    pub fn new(energies: &'a [f64], voxels: &'a [f32], n_voxels: usize) -> Result<Self, CoreError> {
        if n_voxels == 0 || voxels.len() != energies.len() * n_voxels {
            return Err(CoreError::Data(format!(
                "{} voxel values for {} showers of {n_voxels} voxels",
                voxels.len(),
                energies.len()
            )));
        }
        Ok(Self { energies, voxels, n_voxels })
    }
}

impl Rows for LowLevelRows<'_> {
    fn n_rows(&self) -> usize {
        self.energies.len()
    }
    fn width(&self) -> usize {
        self.n_voxels + 1
    }
    fn fill(&self, i: usize, out: &mut [f32]) {
        let e = self.energies[i];
        out[0] = e.log10() as f32;
        let scale = 100.0 / e;
        for (o, v) in out[1..].iter_mut().zip(&self.voxels[i * self.n_voxels..(i + 1) * self.n_voxels]) {
            *o = (*v as f64 * scale) as f32;
        }
    }
}

/// Classifier hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// Units per hidden layer (the challenge: 2048; a CPU-friendly default: 256).
    pub hidden: usize,
    /// Number of hidden layers (the challenge: 3).
    pub hidden_layers: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Showers per batch.
    pub batch_size: usize,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Fractions of each class used for training and testing; the rest is validation.
    pub train_fraction: f64,
    /// See `train_fraction`.
    pub test_fraction: f64,
    /// Seed of the split, the batch order and the initialisation.
    pub seed: u64,
    /// Linear preprocessing of the inputs, fitted on the training set.
    pub preprocess: Preprocess,
}

/// Linear preprocessing of the classifier inputs, fitted on the training set (both classes).
///
/// The challenge feeds the inputs unchanged ([`Preprocess::None`]). An affine map of the
/// inputs can be absorbed into the first linear layer, so the other choices do not change
/// the family of functions the network can represent; they only precondition the training,
/// which matters with the small samples and narrow networks that are affordable on a CPU
/// (e.g. `log10 E_tot` and `log10 E_inc` are correlated at 0.999, and a shift of their
/// difference is invisible to an unpreconditioned narrow MLP after a few thousand steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preprocess {
    /// Inputs as they are (the official procedure).
    None,
    /// Each feature shifted to mean 0 and scaled to standard deviation 1.
    Standardize,
    /// PCA whitening: projected on the eigenvectors of the training covariance and scaled to
    /// unit variance; directions without variance are dropped.
    Whiten,
}

impl Preprocess {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Standardize => "standardize",
            Self::Whiten => "whiten",
        }
    }
}

impl std::str::FromStr for Preprocess {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        match s {
            "none" => Ok(Self::None),
            "standardize" | "standardise" => Ok(Self::Standardize),
            "whiten" => Ok(Self::Whiten),
            _ => Err(CoreError::Invalid(format!("unknown preprocessing '{s}' (expected none, standardize or whiten)"))),
        }
    }
}

/// A fitted affine input map `x -> (x - mean) T` (or `(x - mean) / std`).
#[derive(Debug, Clone)]
struct InputMap {
    mean: Vec<f32>,
    /// Per-feature factors (standardisation).
    scale: Option<Vec<f32>>,
    /// `d_in x d_out` row-major projection (whitening).
    proj: Option<Vec<f32>>,
    d_in: usize,
    d_out: usize,
}

impl InputMap {
    /// Fits the map on the given rows.
    fn fit(kind: Preprocess, reference: &dyn Rows, generated: &dyn Rows, items: &[(bool, usize)]) -> Result<Option<Self>, CoreError> {
        let d = reference.width();
        if kind == Preprocess::None {
            return Ok(None);
        }
        let n = items.len().max(1) as f64;
        let mut row = vec![0.0f32; d];
        let mut sum = vec![0.0f64; d];
        let mut rows64 = Vec::with_capacity(if kind == Preprocess::Whiten { items.len() * d } else { 0 });
        let mut sq = vec![0.0f64; d];
        for &(is_ref, i) in items {
            if is_ref { reference.fill(i, &mut row) } else { generated.fill(i, &mut row) }
            for j in 0..d {
                let v = row[j] as f64;
                sum[j] += v;
                sq[j] += v * v;
            }
            if kind == Preprocess::Whiten {
                rows64.extend(row.iter().map(|&v| v as f64));
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        match kind {
            Preprocess::None => Ok(None),
            Preprocess::Standardize => {
                let scale = (0..d)
                    .map(|j| {
                        let var = (sq[j] / n - mean[j] * mean[j]).max(0.0);
                        if var > 1e-24 { (1.0 / var.sqrt()) as f32 } else { 0.0 }
                    })
                    .collect();
                Ok(Some(Self { mean: mean.iter().map(|&m| m as f32).collect(), scale: Some(scale), proj: None, d_in: d, d_out: d }))
            }
            Preprocess::Whiten => {
                // Covariance (upper triangle accumulated row by row, then mirrored).
                let mut cov = vec![0.0f64; d * d];
                let mut centred = vec![0.0f64; d];
                for r in rows64.chunks_exact(d) {
                    for j in 0..d {
                        centred[j] = r[j] - mean[j];
                    }
                    for a in 0..d {
                        let ca = centred[a];
                        if ca == 0.0 {
                            continue;
                        }
                        let dst = &mut cov[a * d + a..(a + 1) * d];
                        for (c, x) in dst.iter_mut().zip(&centred[a..]) {
                            *c += ca * x;
                        }
                    }
                }
                for a in 0..d {
                    for b in a..d {
                        let v = cov[a * d + b] / n;
                        cov[a * d + b] = v;
                        cov[b * d + a] = v;
                    }
                }
                let eig = crate::eval::linalg::sym_eigen(&cov, d)?;
                let top = eig.values.last().copied().unwrap_or(0.0).max(0.0);
                let keep: Vec<usize> = (0..d).filter(|&k| eig.values[k] > 1e-12 * top && eig.values[k] > 0.0).collect();
                if keep.is_empty() {
                    return Err(CoreError::Data("classifier inputs have no variance".into()));
                }
                let d_out = keep.len();
                let mut proj = vec![0.0f32; d * d_out];
                for (o, &k) in keep.iter().enumerate() {
                    let w = 1.0 / eig.values[k].sqrt();
                    for j in 0..d {
                        proj[j * d_out + o] = (eig.vectors[k * d + j] * w) as f32;
                    }
                }
                Ok(Some(Self { mean: mean.iter().map(|&m| m as f32).collect(), scale: None, proj: Some(proj), d_in: d, d_out }))
            }
        }
    }

    /// Applies the map to a batch.
    ///
    /// # Shapes
    /// - `x`: `[batch, d_in]`
    /// - returns `[batch, d_out]`
    fn apply<B: Backend>(&self, x: Tensor<B, 2>, device: &B::Device) -> Tensor<B, 2> {
        let mean = Tensor::<B, 2>::from_data(TensorData::new(self.mean.clone(), [1, self.d_in]), device);
        let x = x - mean;
        if let Some(s) = &self.scale {
            x * Tensor::<B, 2>::from_data(TensorData::new(s.clone(), [1, self.d_in]), device)
        } else if let Some(p) = &self.proj {
            x.matmul(Tensor::<B, 2>::from_data(TensorData::new(p.clone(), [self.d_in, self.d_out]), device))
        } else {
            x
        }
    }
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            hidden: 256,
            hidden_layers: 3,
            lr: 2e-4,
            batch_size: 1000,
            epochs: 50,
            train_fraction: 0.6,
            test_fraction: 0.2,
            seed: 1,
            preprocess: Preprocess::None,
        }
    }
}

/// The classifier network: `hidden_layers` Linear + LeakyReLU(0.01) layers, then Linear(1).
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// Hidden layers.
    pub hidden: Vec<Linear<B>>,
    /// Output layer (one logit).
    pub out: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    /// A freshly initialised network (PyTorch's default Linear initialisation).
    pub fn new(inputs: usize, hidden: usize, hidden_layers: usize, device: &B::Device) -> Self {
        let mut layers = Vec::with_capacity(hidden_layers);
        let mut d = inputs;
        for _ in 0..hidden_layers.max(1) {
            layers.push(LinearConfig::new(d, hidden).init(device));
            d = hidden;
        }
        Self { hidden: layers, out: LinearConfig::new(d, 1).init(device) }
    }

    /// Logits of a batch.
    ///
    /// # Shapes
    /// - `x`: `[batch, inputs]`
    /// - returns `[batch]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let mut h = x;
        for l in &self.hidden {
            h = leaky_relu(l.forward(h), LEAKY_SLOPE);
        }
        let [b, _] = h.dims();
        self.out.forward(h).reshape([b])
    }
}

/// Mean binary cross-entropy with logits for labels in {0, 1}, computed stably as
/// `-log_sigmoid((2 y - 1) z)`.
///
/// # Shapes
/// - `logits`, `labels`: `[batch]`
/// - returns `[1]`
pub fn bce_with_logits<B: Backend>(logits: Tensor<B, 1>, labels: Tensor<B, 1>) -> Tensor<B, 1> {
    let sign = labels * 2.0 - 1.0;
    log_sigmoid(logits * sign).mean().neg()
}

/// Area under the ROC curve of `scores` for the positives `labels[i] == true`; ties count one
/// half (the trapezoidal ROC, as scikit-learn's `roc_auc_score`). 0.5 when a class is empty.
pub fn auc(labels: &[bool], scores: &[f64]) -> f64 {
    let n_pos = labels.iter().filter(|l| **l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return 0.5;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the (average, 1-based) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

/// Mean binary cross-entropy of probabilities (PyTorch `BCELoss`: logs clamped at -100).
pub fn bce(labels: &[bool], probs: &[f64]) -> f64 {
    let n = labels.len().max(1) as f64;
    labels
        .iter()
        .zip(probs)
        .map(|(&l, &p)| -(if l { p.ln() } else { (1.0 - p).ln() }).max(-100.0))
        .sum::<f64>()
        / n
}

/// JSD estimate from a binary cross-entropy: `(ln 2 - BCE) / ln 2`.
pub fn jsd_from_bce(bce: f64) -> f64 {
    (std::f64::consts::LN_2 - bce) / std::f64::consts::LN_2
}

/// Progress of a classifier run, reported after every epoch.
#[derive(Debug, Clone, Copy)]
pub struct EpochReport {
    /// Epoch just finished (1-based).
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Accuracy on the test set.
    pub test_accuracy: f64,
}

/// Outcome of one classifier run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierRun {
    /// Seed of the run.
    pub seed: u64,
    /// AUC of the calibrated validation scores.
    pub auc: f64,
    /// JSD = (ln 2 - BCE) / ln 2 of the calibrated validation probabilities.
    pub jsd: f64,
    /// AUC of the uncalibrated validation scores.
    pub auc_uncalibrated: f64,
    /// Best test accuracy (the epoch kept).
    pub test_accuracy: f64,
    /// Epoch kept (1-based).
    pub best_epoch: usize,
    /// Epochs trained.
    pub epochs_run: usize,
    /// Showers per class in the train, test and validation sets.
    pub per_class: [usize; 3],
}

/// Sigmoid outputs of `model` for the given (class, row) items.
fn predict<B: Backend>(
    model: &Mlp<B>,
    map: Option<&InputMap>,
    reference: &dyn Rows,
    generated: &dyn Rows,
    items: &[(bool, usize)],
    batch: usize,
    device: &B::Device,
) -> Vec<f64> {
    let width = reference.width();
    let mut out = Vec::with_capacity(items.len());
    let mut buf = Vec::new();
    for chunk in items.chunks(batch.max(1)) {
        fill_batch(reference, generated, chunk, width, &mut buf);
        let mut x = Tensor::<B, 2>::from_data(TensorData::new(buf.clone(), [chunk.len(), width]), device);
        if let Some(m) = map {
            x = m.apply(x, device);
        }
        let z = model.forward(x).into_data();
        out.extend(z.iter::<f64>().map(|z| 1.0 / (1.0 + (-z).exp())));
    }
    out
}

fn fill_batch(reference: &dyn Rows, generated: &dyn Rows, items: &[(bool, usize)], width: usize, buf: &mut Vec<f32>) {
    buf.clear();
    buf.resize(items.len() * width, 0.0);
    for (k, &(is_ref, i)) in items.iter().enumerate() {
        let row = &mut buf[k * width..(k + 1) * width];
        if is_ref {
            reference.fill(i, row);
        } else {
            generated.fill(i, row);
        }
    }
}

/// Fisher-Yates shuffle driven by `rng`.
fn shuffle<T>(v: &mut [T], rng: &mut Stream) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// Trains and evaluates one classifier: reference rows are label 1, generated rows label 0.
/// Equally many showers per class are used (the smaller count), split train / test /
/// validation. `on_epoch` is called after every epoch.
///
/// Fails with [`CoreError::Invalid`] for a bad configuration, mismatched widths or too few
/// showers (fewer than 5 per class).
pub fn train_classifier<B: AutodiffBackend>(
    reference: &dyn Rows,
    generated: &dyn Rows,
    cfg: &ClassifierConfig,
    device: &B::Device,
    on_epoch: &mut dyn FnMut(EpochReport),
) -> Result<ClassifierRun, CoreError> {
    let width = reference.width();
    if generated.width() != width {
        return Err(CoreError::Invalid(format!(
            "classifier inputs differ in width: {width} (reference) and {} (generated)",
            generated.width()
        )));
    }
    if cfg.hidden == 0 || cfg.batch_size == 0 || cfg.epochs == 0 || cfg.lr.is_nan() || cfg.lr <= 0.0 {
        return Err(CoreError::Invalid("classifier: hidden, batch_size, epochs and lr must be positive".into()));
    }
    if !(cfg.train_fraction > 0.0 && cfg.test_fraction > 0.0 && cfg.train_fraction + cfg.test_fraction < 1.0) {
        return Err(CoreError::Invalid("classifier: train and test fractions must be positive and sum to < 1".into()));
    }
    let n = reference.n_rows().min(generated.n_rows());
    let n_train = (n as f64 * cfg.train_fraction) as usize;
    let n_test = (n as f64 * cfg.test_fraction) as usize;
    let n_val = n - n_train - n_test;
    if n_train == 0 || n_test == 0 || n_val == 0 {
        return Err(CoreError::Invalid(format!("classifier: {n} showers per class are too few for a train/test/validation split")));
    }

    // Split: shuffle each class, take n, cut into train / test / validation.
    let mut rng = Stream::sub(cfg.seed, 0, Purpose::Evaluate, 1);
    let mut sets: [Vec<(bool, usize)>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for (is_ref, rows) in [(true, reference), (false, generated)] {
        let mut idx: Vec<usize> = (0..rows.n_rows()).collect();
        shuffle(&mut idx, &mut rng);
        sets[0].extend(idx[..n_train].iter().map(|&i| (is_ref, i)));
        sets[1].extend(idx[n_train..n_train + n_test].iter().map(|&i| (is_ref, i)));
        sets[2].extend(idx[n_train + n_test..n].iter().map(|&i| (is_ref, i)));
    }
    let [mut train, test, val] = sets;

    let map = InputMap::fit(cfg.preprocess, reference, generated, &train)?;
    let d_model = map.as_ref().map_or(width, |m| m.d_out);
    B::seed(device, Stream::sub(cfg.seed, 0, Purpose::Evaluate, 2).next_u64());
    let mut model: Mlp<B> = Mlp::new(d_model, cfg.hidden, cfg.hidden_layers, device);
    let mut optim = AdamConfig::new().with_beta_1(0.9).with_beta_2(0.999).with_epsilon(1e-8).init::<B, Mlp<B>>();
    let test_labels: Vec<bool> = test.iter().map(|t| t.0).collect();
    let eval_batch = cfg.batch_size.max(1000);

    let mut best: Option<(f64, usize, Mlp<B::InnerBackend>)> = None;
    let mut buf = Vec::new();
    let mut epochs_run = 0;
    for epoch in 1..=cfg.epochs {
        let mut order_rng = Stream::sub(cfg.seed, epoch as u64, Purpose::Evaluate, 3);
        shuffle(&mut train, &mut order_rng);
        let (mut loss_sum, mut loss_n) = (0.0, 0usize);
        for chunk in train.chunks(cfg.batch_size) {
            fill_batch(reference, generated, chunk, width, &mut buf);
            let mut x = Tensor::<B, 2>::from_data(TensorData::new(buf.clone(), [chunk.len(), width]), device);
            if let Some(m) = &map {
                x = m.apply(x, device);
            }
            let y: Vec<f32> = chunk.iter().map(|c| if c.0 { 1.0 } else { 0.0 }).collect();
            let y = Tensor::<B, 1>::from_data(TensorData::new(y, [chunk.len()]), device);
            let loss = bce_with_logits(model.forward(x), y);
            let l = loss.clone().into_data().iter::<f64>().next().unwrap_or(f64::NAN);
            if !l.is_finite() {
                return Err(CoreError::Data(format!("classifier: non-finite training loss in epoch {epoch} (non-finite inputs?)")));
            }
            loss_sum += l * chunk.len() as f64;
            loss_n += chunk.len();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(cfg.lr, model, grads);
        }
        epochs_run = epoch;
        let inner = model.valid();
        let p = predict(&inner, map.as_ref(), reference, generated, &test, eval_batch, device);
        // np.round(sigmoid): 0.5 rounds to 0.
        let correct = p.iter().zip(&test_labels).filter(|(p, l)| (**p > 0.5) == **l).count();
        let acc = correct as f64 / test.len() as f64;
        on_epoch(EpochReport { epoch, train_loss: loss_sum / loss_n.max(1) as f64, test_accuracy: acc });
        if best.as_ref().is_none_or(|b| acc > b.0) {
            best = Some((acc, epoch, inner));
        }
        if acc >= 1.0 {
            break;
        }
    }
    let (test_accuracy, best_epoch, best_model) = best.expect("at least one epoch");

    // Calibrate on the test set, evaluate on the validation set.
    let p_test = predict(&best_model, map.as_ref(), reference, generated, &test, eval_batch, device);
    let y_test: Vec<f64> = test_labels.iter().map(|&l| if l { 1.0 } else { 0.0 }).collect();
    let iso = Isotonic::fit(&p_test, &y_test, 1e-6, 1.0 - 1e-6)?;
    let p_val = predict(&best_model, map.as_ref(), reference, generated, &val, eval_batch, device);
    let val_labels: Vec<bool> = val.iter().map(|v| v.0).collect();
    let calibrated = iso.predict_all(&p_val);
    Ok(ClassifierRun {
        seed: cfg.seed,
        auc: auc(&val_labels, &calibrated),
        jsd: jsd_from_bce(bce(&val_labels, &calibrated)),
        auc_uncalibrated: auc(&val_labels, &p_val),
        test_accuracy,
        best_epoch,
        epochs_run,
        per_class: [n_train, n_test, n_val],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::features::{apply_threshold, HighLevel};
    use crate::geometry::GeometryKind;
    use crate::simulator::Simulator;

    type B = burn::backend::Autodiff<burn::backend::NdArray<f32>>;

    #[test]
    fn auc_known_values() {
        let labels = [true, true, false, false];
        assert_eq!(auc(&labels, &[0.9, 0.8, 0.2, 0.1]), 1.0);
        assert_eq!(auc(&labels, &[0.1, 0.2, 0.8, 0.9]), 0.0);
        assert_eq!(auc(&labels, &[0.5; 4]), 0.5);
        // One swapped pair out of four: 3/4.
        assert_eq!(auc(&labels, &[0.9, 0.3, 0.4, 0.1]), 0.75);
        // Ties between classes count one half: pairs (0.9>0.5)=1, (0.9>0.1)=1, (0.5=0.5)=.5, (0.5>0.1)=1.
        assert_eq!(auc(&labels, &[0.9, 0.5, 0.5, 0.1]), 0.875);
    }

    #[test]
    fn bce_and_jsd() {
        assert!((jsd_from_bce(bce(&[true, false], &[0.5, 0.5]))).abs() < 1e-15);
        assert!((jsd_from_bce(bce(&[true, false], &[1.0 - 1e-12, 1e-12])) - 1.0).abs() < 1e-10);
        let device = Default::default();
        let z = Tensor::<burn::backend::NdArray<f32>, 1>::from_data(TensorData::new(vec![0.0f32, 50.0, -50.0], [3]), &device);
        let y = Tensor::<burn::backend::NdArray<f32>, 1>::from_data(TensorData::new(vec![1.0f32, 1.0, 1.0], [3]), &device);
        let l: f32 = bce_with_logits(z.clone(), y).into_scalar();
        assert!((l as f64 - (std::f64::consts::LN_2 + 50.0) / 3.0).abs() < 1e-4, "{l}");
        let y0 = Tensor::<burn::backend::NdArray<f32>, 1>::from_data(TensorData::new(vec![0.0f32, 0.0, 0.0], [3]), &device);
        let l: f32 = bce_with_logits(z, y0).into_scalar();
        assert!((l as f64 - (std::f64::consts::LN_2 + 50.0) / 3.0).abs() < 1e-4, "{l}");
    }

    /// High-level features of `n` simulated ds1-photons showers of run `seed`, voxel energies
    /// scaled by `scale`.
    fn simulated(seed: u64, n: usize, scale: f32) -> Vec<f64> {
        let sim = Simulator::new(GeometryKind::Ds1Photons).unwrap();
        let g = GeometryKind::Ds1Photons.geometry();
        let nv = g.n_voxels;
        let mut showers = vec![0.0f32; n * nv];
        let mut energies = Vec::with_capacity(n);
        for (k, row) in showers.chunks_mut(nv).enumerate() {
            energies.push(sim.shower(seed, k as u64, row));
            row.iter_mut().for_each(|v| *v *= scale);
        }
        apply_threshold(&mut showers, GeometryKind::Ds1Photons.eval_threshold_mev() as f32);
        let mut hl = HighLevel::new(&g);
        hl.push_chunk(&energies, &showers).unwrap();
        hl.feature_matrix()
    }

    #[test]
    fn same_simulation_gives_auc_half_and_scaled_energies_are_detected() {
        let n = 4000;
        let a = simulated(11, n, 1.0);
        let b = simulated(12, n, 1.0);
        let c = simulated(13, n, 1.10);
        let w = a.len() / n;
        let (ra, rb, rc) = (DenseRows::new(&a, w).unwrap(), DenseRows::new(&b, w).unwrap(), DenseRows::new(&c, w).unwrap());
        let device = Default::default();
        let cfg = ClassifierConfig { hidden: 64, epochs: 20, batch_size: 100, preprocess: Preprocess::Whiten, ..ClassifierConfig::default() };
        let mut aucs = Vec::new();
        for seed in 1..=3 {
            let run = train_classifier::<B>(&ra, &rb, &ClassifierConfig { seed, ..cfg.clone() }, &device, &mut |_| {}).unwrap();
            assert_eq!(run.per_class, [2400, 800, 800]);
            aucs.push(run.auc);
        }
        let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
        assert!((mean - 0.5).abs() < 0.03, "same simulation: AUCs {aucs:?}");
        let run = train_classifier::<B>(&ra, &rc, &cfg, &device, &mut |_| {}).unwrap();
        assert!(run.auc > 0.6, "scaled by 1.10: AUC {}", run.auc);
        assert!(run.jsd > 0.05, "scaled by 1.10: JSD {}", run.jsd);
    }
}
