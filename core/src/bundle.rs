//! A trained model as data: the card (every constant needed to sample, as JSON) and the
//! weights (Burn record bytes). The CLI stores them as `model.json` + `weights.mpk` in a
//! model directory; the browser receives the same bytes.

use std::panic::{catch_unwind, AssertUnwindSafe};

use burn::module::{Module, ModuleVisitor, Param};
use burn::record::{FullPrecisionSettings, HalfPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::geometry::GeometryKind;
use crate::hitcount::HitCountModel;
use crate::model::{ScoreNet, ScoreNetConfig};
use crate::sde::SdeConfig;
use crate::train::TrainConfig;
use crate::transform::Transform;

/// Version of the card format.
pub const FORMAT_VERSION: u32 = 1;

/// Everything about a model except its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Card format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Calorimeter geometry the model generates.
    pub geometry: GeometryKind,
    /// Score-network hyper-parameters.
    pub net: ScoreNetConfig,
    /// The SDE.
    pub sde: SdeConfig,
    /// Point-cloud preprocessing constants.
    pub transform: Transform,
    /// Hit-count model P(n | E_inc).
    pub hitcount: HitCountModel,
    /// Shower-level calibration model of (n, E_tot / E_inc) given E_inc; when present (and
    /// not switched off when sampling), it sets each shower's hit count and total energy.
    #[serde(default)]
    pub response: Option<crate::response::ResponseModel>,
    /// Voxels above this energy (MeV) were points in training.
    pub hit_threshold_mev: f64,
    /// Smallest diffusion time used when sampling.
    pub sample_eps: f64,
    /// Training hyper-parameters.
    pub train: TrainConfig,
    /// Optimisation steps done.
    pub trained_steps: usize,
}

impl ModelCard {
    /// Parses and checks a card.
    pub fn from_json(text: &str) -> Result<Self, CoreError> {
        let card: ModelCard = serde_json::from_str(text).map_err(|e| CoreError::Data(format!("model card is not valid: {e}")))?;
        if card.format_version != FORMAT_VERSION {
            return Err(CoreError::Data(format!(
                "model card has format version {}, this tdsm reads version {FORMAT_VERSION}",
                card.format_version
            )));
        }
        card.net.validate()?;
        card.sde.validate()?;
        Ok(card)
    }

    /// The card as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("card serialises")
    }
}

/// Precision of stored weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats (training checkpoints, bit-identical resume).
    Full,
    /// 16-bit floats (compact exports, e.g. for the web).
    Half,
}

/// Prefix of half-precision weight files (full precision has none).
const HALF_MAGIC: &[u8; 8] = b"TDSMF16\0";

/// Serialises a module's weights (Burn named-MessagePack record; half precision is prefixed
/// with a marker so the loader knows the element type).
pub fn weights_to_bytes<B: Backend, M: Module<B>>(module: M, precision: Precision) -> Result<Vec<u8>, CoreError> {
    let rec = module.into_record();
    let r = match precision {
        Precision::Full => NamedMpkBytesRecorder::<FullPrecisionSettings>::new().record(rec, ()),
        Precision::Half => NamedMpkBytesRecorder::<HalfPrecisionSettings>::new().record(rec, ()).map(|b| {
            let mut v = HALF_MAGIC.to_vec();
            v.extend_from_slice(&b);
            v
        }),
    };
    r.map_err(|e| CoreError::Data(format!("cannot serialise weights: {e}")))
}

struct Shapes(Vec<Vec<usize>>);

impl<B: Backend> ModuleVisitor<B> for Shapes {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.push(param.val().shape().to_vec());
    }
}

fn shapes<B: Backend, M: Module<B>>(m: &M) -> Vec<Vec<usize>> {
    let mut s = Shapes(vec![]);
    m.visit(&mut s);
    s.0
}

struct Values(Vec<Vec<f32>>);

impl<B: Backend> ModuleVisitor<B> for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.push(param.val().into_data().convert::<f32>().to_vec::<f32>().unwrap_or_default());
    }
}

/// Every float parameter's values (host read-back), in visiting order; for comparing models.
pub fn parameter_values<B: Backend, M: Module<B>>(module: &M) -> Vec<Vec<f32>> {
    let mut v = Values(vec![]);
    module.visit(&mut v);
    v.0
}

/// Loads weights into `module` (full or half precision, told apart by the marker), checking that
/// every parameter keeps its shape. Never panics on bad bytes.
pub fn load_weights<B: Backend, M: Module<B>>(module: M, bytes: &[u8], device: &B::Device) -> Result<M, CoreError> {
    let expected = shapes(&module);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let rec = match bytes.strip_prefix(HALF_MAGIC.as_slice()) {
            Some(half) => NamedMpkBytesRecorder::<HalfPrecisionSettings>::new().load::<M::Record>(half.to_vec(), device),
            None => NamedMpkBytesRecorder::<FullPrecisionSettings>::new().load::<M::Record>(bytes.to_vec(), device),
        };
        rec.map(|r| module.load_record(r))
    }));
    let loaded = match result {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => return Err(CoreError::Data(format!("weights do not match the model card: {e}"))),
        Err(_) => return Err(CoreError::Data("weights file is corrupt or does not match the model card".into())),
    };
    if shapes(&loaded) != expected {
        return Err(CoreError::Data("weights have other shapes than the model card describes".into()));
    }
    Ok(loaded)
}

/// Builds the network a card describes and loads its weights.
pub fn load_model<B: Backend>(card: &ModelCard, weights: &[u8], device: &B::Device) -> Result<ScoreNet<B>, CoreError> {
    let net = ScoreNet::<B>::new(&card.net, card.sde, device)?;
    load_weights(net, weights, device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    type B = NdArray<f32>;

    fn cfg() -> ScoreNetConfig {
        ScoreNetConfig { embed_dim: 8, hidden_dim: 8, n_layers: 1, n_heads: 2, dropout: 0.0, block: Default::default(), fourier_scale: 30.0 }
    }

    #[test]
    fn weights_round_trip_and_bad_bytes_are_errors() {
        let dev = Default::default();
        let a = ScoreNet::<B>::new(&cfg(), SdeConfig::default(), &dev).unwrap();
        let bytes = weights_to_bytes(a.clone(), Precision::Full).unwrap();
        let b = load_weights(ScoreNet::<B>::new(&cfg(), SdeConfig::default(), &dev).unwrap(), &bytes, &dev).unwrap();
        let av: Vec<f32> = a.fourier_t.weights.val().into_data().to_vec().unwrap();
        let bv: Vec<f32> = b.fourier_t.weights.val().into_data().to_vec().unwrap();
        assert_eq!(av, bv);
        let half = weights_to_bytes(a.clone(), Precision::Half).unwrap();
        assert!(half.len() < bytes.len());
        let c = load_weights(ScoreNet::<B>::new(&cfg(), SdeConfig::default(), &dev).unwrap(), &half, &dev).unwrap();
        let cv: Vec<f32> = c.embed.weight.val().into_data().to_vec().unwrap();
        let aw: Vec<f32> = a.embed.weight.val().into_data().to_vec().unwrap();
        assert!(cv.iter().zip(&aw).all(|(x, y)| (x - y).abs() < 1e-3 * y.abs().max(1.0)), "{:?} vs {:?}", &cv[..4], &aw[..4]);
        assert!(load_weights(a.clone(), b"not a model", &dev).is_err());
        let other = ScoreNetConfig { embed_dim: 16, ..cfg() };
        assert!(load_weights(ScoreNet::<B>::new(&other, SdeConfig::default(), &dev).unwrap(), &bytes, &dev).is_err());
    }
}
