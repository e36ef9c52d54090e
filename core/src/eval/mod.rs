//! CaloChallenge evaluation: high-level features, histograms and separation power, the
//! binary classifier test (AUC, JSD) with isotonic calibration, FPD and KPD.
//!
//! Backend-agnostic and free of I/O; the `tdsm evaluate` command streams the files through
//! these types. Formulas follow the official CaloChallenge evaluation (`evaluate.py`,
//! `HighLevelFeatures.py`, jetnet); see the reference specification, section 9.2.

pub mod classifier;
pub mod features;
pub mod fpd;
pub mod histogram;
pub mod isotonic;
pub mod kpd;
pub mod linalg;

pub use classifier::{auc, train_classifier, ClassifierConfig, ClassifierRun, DenseRows, LowLevelRows, Preprocess, Rows};
pub use features::{apply_threshold, HighLevel};
pub use histogram::{density, linear_edges, log_edges, separation_power};
pub use fpd::{fpd, fpd_with_progress, normalise_by_reference, FpdConfig, FpdResult};
pub use isotonic::Isotonic;
pub use kpd::{kpd, kpd_with_progress, KpdConfig, KpdResult};

/// Mean and population standard deviation (numpy's `np.std`, ddof = 0) of `values`;
/// `(NaN, NaN)` when empty.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}
