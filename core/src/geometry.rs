//! CaloChallenge calorimeter geometry, parsed from the official binning XML files.
//!
//! Voxel order (the official one): `flat = layer_offset + alpha_bin * n_r + r_bin` — radius
//! fastest, then angle, then layer. Offsets run over all layers, including empty ones
//! (`r_edges="0"`). Every per-layer table is keyed by the layer **id** from the XML.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::CoreError;

/// One layer of the geometry, as given by a `<Layer>` element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Layer id from the XML (`id` attribute).
    pub id: usize,
    /// Radial bin edges in mm (`r_edges`); a single `0` means the layer has no voxels.
    pub r_edges: Vec<f64>,
    /// Number of equal angular bins over [-pi, pi) (`n_bin_alpha`).
    pub n_alpha: usize,
    /// Flat index of this layer's first voxel.
    pub offset: usize,
}

impl Layer {
    /// Number of radial bins.
    pub fn n_r(&self) -> usize {
        self.r_edges.len().saturating_sub(1)
    }

    /// Number of voxels in this layer (`n_r * n_alpha`).
    pub fn n_voxels(&self) -> usize {
        self.n_r() * self.n_alpha
    }

    /// Whether this layer has voxels ("relevant layer").
    pub fn is_relevant(&self) -> bool {
        self.n_voxels() > 0
    }

    /// Centre of radial bin `r` (mid-point of its edges), mm.
    pub fn r_centre(&self, r: usize) -> f64 {
        0.5 * (self.r_edges[r] + self.r_edges[r + 1])
    }

    /// Centre of angular bin `a`: `-pi + (a + 1/2) 2 pi / n_alpha`, or 0 when `n_alpha == 1`.
    pub fn alpha_centre(&self, a: usize) -> f64 {
        if self.n_alpha == 1 {
            0.0
        } else {
            -PI + (a as f64 + 0.5) * 2.0 * PI / self.n_alpha as f64
        }
    }

    /// Outer radius of the layer, mm.
    pub fn r_max(&self) -> f64 {
        *self.r_edges.last().unwrap_or(&0.0)
    }
}

/// A voxel's position in the geometry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Voxel {
    /// Layer id.
    pub layer: usize,
    /// Angular bin.
    pub alpha_bin: usize,
    /// Radial bin.
    pub r_bin: usize,
    /// Radial centre, mm.
    pub r: f64,
    /// Angular centre, rad.
    pub alpha: f64,
    /// x = r cos(alpha), mm.
    pub x: f64,
    /// y = r sin(alpha), mm.
    pub y: f64,
}

/// The four official CaloChallenge geometries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GeometryKind {
    /// Dataset 1, photons (368 voxels).
    #[serde(rename = "ds1-photons")]
    Ds1Photons,
    /// Dataset 1, pions (533 voxels).
    #[serde(rename = "ds1-pions")]
    Ds1Pions,
    /// Dataset 2, electrons (6480 voxels).
    #[serde(rename = "ds2")]
    Ds2,
    /// Dataset 3, electrons (40500 voxels).
    #[serde(rename = "ds3")]
    Ds3,
}

impl GeometryKind {
    /// All kinds, in dataset order.
    pub const ALL: [GeometryKind; 4] = [Self::Ds1Photons, Self::Ds1Pions, Self::Ds2, Self::Ds3];

    /// The command-line name (`ds1-photons`, `ds1-pions`, `ds2`, `ds3`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ds1Photons => "ds1-photons",
            Self::Ds1Pions => "ds1-pions",
            Self::Ds2 => "ds2",
            Self::Ds3 => "ds3",
        }
    }

    /// The official XML text shipped with tdsm (`data/binning/`).
    pub fn xml(self) -> &'static str {
        match self {
            Self::Ds1Photons => include_str!("../../data/binning/binning_dataset_1_photons.xml"),
            Self::Ds1Pions => include_str!("../../data/binning/binning_dataset_1_pions.xml"),
            Self::Ds2 => include_str!("../../data/binning/binning_dataset_2.xml"),
            Self::Ds3 => include_str!("../../data/binning/binning_dataset_3.xml"),
        }
    }

    /// Number of voxels of this geometry.
    pub fn n_voxels(self) -> usize {
        match self {
            Self::Ds1Photons => 368,
            Self::Ds1Pions => 533,
            Self::Ds2 => 6480,
            Self::Ds3 => 40500,
        }
    }

    /// The official evaluation threshold in MeV (1 MeV for ds1, 0.0151515 MeV for ds2/ds3).
    pub fn eval_threshold_mev(self) -> f64 {
        match self {
            Self::Ds1Photons | Self::Ds1Pions => 1.0,
            Self::Ds2 | Self::Ds3 => 0.5e-3 / 0.033,
        }
    }

    /// The geometries with `n_voxels` voxels (one for every official count, none otherwise).
    pub fn from_voxel_count(n_voxels: usize) -> Vec<GeometryKind> {
        Self::ALL.into_iter().filter(|k| k.n_voxels() == n_voxels).collect()
    }

    /// Loads the built-in geometry.
    pub fn geometry(self) -> Geometry {
        Geometry::from_xml(self.xml()).expect("built-in binning XML is valid")
    }
}

impl fmt::Display for GeometryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GeometryKind {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "ds1-photons" | "ds1-photon" | "1-photons" | "photons" => Ok(Self::Ds1Photons),
            "ds1-pions" | "ds1-pion" | "1-pions" | "pions" => Ok(Self::Ds1Pions),
            "ds2" | "2" => Ok(Self::Ds2),
            "ds3" | "3" => Ok(Self::Ds3),
            _ => Err(CoreError::Invalid(format!(
                "unknown geometry '{s}' (expected ds1-photons, ds1-pions, ds2 or ds3)"
            ))),
        }
    }
}

/// A calorimeter geometry: layers in XML order with their voxel offsets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Geometry {
    /// Particle name from the `<Bin name=...>` attribute.
    pub particle: String,
    /// Particle id from the `<Bin pid=...>` attribute.
    pub pid: i64,
    /// All layers in XML order, including empty ones.
    pub layers: Vec<Layer>,
    /// Total number of voxels.
    pub n_voxels: usize,
}

fn attr<'a>(node: &roxmltree::Node<'a, '_>, name: &str) -> Result<&'a str, CoreError> {
    node.attribute(name).ok_or_else(|| {
        CoreError::Xml(format!(
            "<{}> at line {} has no '{name}' attribute",
            node.tag_name().name(),
            node.document().text_pos_at(node.range().start).row
        ))
    })
}

impl Geometry {
    /// Parses a binning XML (`<Bins><Bin pid name><Layer id r_edges n_bin_alpha/>...`).
    ///
    /// The first `<Bin>` element is used.
    pub fn from_xml(text: &str) -> Result<Self, CoreError> {
        let doc = roxmltree::Document::parse(text).map_err(|e| CoreError::Xml(format!("malformed XML: {e}")))?;
        let root = doc.root_element();
        if root.tag_name().name() != "Bins" {
            return Err(CoreError::Xml(format!("root element is <{}>, expected <Bins>", root.tag_name().name())));
        }
        let bin = root
            .children()
            .find(|n| n.is_element() && n.tag_name().name() == "Bin")
            .ok_or_else(|| CoreError::Xml("no <Bin> element".into()))?;
        let particle = bin.attribute("name").unwrap_or("").to_string();
        let pid = match bin.attribute("pid") {
            Some(p) => p.trim().parse().map_err(|_| CoreError::Xml(format!("bad pid '{p}'")))?,
            None => 0,
        };
        let mut layers = Vec::new();
        let mut offset = 0;
        for node in bin.children().filter(|n| n.is_element() && n.tag_name().name() == "Layer") {
            let id_s = attr(&node, "id")?;
            let id: usize = id_s.trim().parse().map_err(|_| CoreError::Xml(format!("bad layer id '{id_s}'")))?;
            let edges_s = attr(&node, "r_edges")?;
            let r_edges = edges_s
                .split(',')
                .map(|v| v.trim().parse::<f64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| CoreError::Xml(format!("layer {id}: bad r_edges '{edges_s}'")))?;
            if r_edges.iter().any(|r| !r.is_finite() || *r < 0.0) || r_edges.windows(2).any(|w| w[1] <= w[0]) {
                return Err(CoreError::Xml(format!("layer {id}: r_edges must be finite, >= 0 and increasing")));
            }
            let a_s = attr(&node, "n_bin_alpha")?;
            let n_alpha: usize = a_s.trim().parse().map_err(|_| CoreError::Xml(format!("layer {id}: bad n_bin_alpha '{a_s}'")))?;
            if n_alpha == 0 {
                return Err(CoreError::Xml(format!("layer {id}: n_bin_alpha must be >= 1")));
            }
            if layers.iter().any(|l: &Layer| l.id == id) {
                return Err(CoreError::Xml(format!("layer id {id} appears twice")));
            }
            let layer = Layer { id, r_edges, n_alpha, offset };
            offset += layer.n_voxels();
            layers.push(layer);
        }
        if layers.is_empty() {
            return Err(CoreError::Xml("no <Layer> elements".into()));
        }
        if offset == 0 {
            return Err(CoreError::Xml("geometry has no voxels".into()));
        }
        Ok(Self { particle, pid, layers, n_voxels: offset })
    }

    /// The layer with id `id`.
    pub fn layer(&self, id: usize) -> Option<&Layer> {
        self.layers.iter().find(|l| l.id == id)
    }

    /// The layers that have voxels, in order.
    pub fn relevant_layers(&self) -> impl Iterator<Item = &Layer> {
        self.layers.iter().filter(|l| l.is_relevant())
    }

    /// Ids of the layers that have voxels.
    pub fn relevant_layer_ids(&self) -> Vec<usize> {
        self.relevant_layers().map(|l| l.id).collect()
    }

    /// Largest layer id (for scaling the layer coordinate).
    pub fn max_layer_id(&self) -> usize {
        self.relevant_layers().map(|l| l.id).max().unwrap_or(0)
    }

    /// Flat voxel index of (layer id, alpha bin, r bin), if it exists.
    pub fn index(&self, layer: usize, alpha_bin: usize, r_bin: usize) -> Option<usize> {
        let l = self.layer(layer)?;
        (alpha_bin < l.n_alpha && r_bin < l.n_r()).then(|| l.offset + alpha_bin * l.n_r() + r_bin)
    }

    /// Position of the voxel with flat index `flat`.
    pub fn voxel(&self, flat: usize) -> Option<Voxel> {
        let l = self.layers.iter().find(|l| flat >= l.offset && flat < l.offset + l.n_voxels())?;
        let local = flat - l.offset;
        let (alpha_bin, r_bin) = (local / l.n_r(), local % l.n_r());
        let (r, alpha) = (l.r_centre(r_bin), l.alpha_centre(alpha_bin));
        Some(Voxel { layer: l.id, alpha_bin, r_bin, r, alpha, x: r * alpha.cos(), y: r * alpha.sin() })
    }

    /// Positions of all voxels in flat order.
    pub fn voxels(&self) -> Vec<Voxel> {
        (0..self.n_voxels).map(|i| self.voxel(i).expect("index in range")).collect()
    }

    /// Which of the built-in geometries this is, if any.
    pub fn kind(&self) -> Option<GeometryKind> {
        GeometryKind::ALL.into_iter().find(|k| k.geometry().layers == self.layers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voxel_counts() {
        let counts: Vec<usize> = GeometryKind::ALL.iter().map(|k| k.geometry().n_voxels).collect();
        assert_eq!(counts, vec![368, 533, 6480, 40500]);
        for k in GeometryKind::ALL {
            assert_eq!(k.geometry().n_voxels, k.n_voxels());
            assert_eq!(GeometryKind::from_voxel_count(k.n_voxels()), vec![k]);
        }
        assert!(GeometryKind::from_voxel_count(369).is_empty());
    }

    #[test]
    fn ds2_index_order() {
        let g = GeometryKind::Ds2.geometry();
        assert_eq!(g.index(1, 0, 0), Some(144));
        assert_eq!(g.index(0, 1, 0), Some(9));
        assert_eq!(g.index(0, 0, 1), Some(1));
        assert_eq!(g.index(0, 16, 0), None);
        let v = g.voxel(144 + 2 * 9 + 3).unwrap();
        assert_eq!((v.layer, v.alpha_bin, v.r_bin), (1, 2, 3));
    }

    #[test]
    fn ds1_layer_ids_and_known_voxels() {
        let g = GeometryKind::Ds1Photons.geometry();
        assert_eq!(g.relevant_layer_ids(), vec![0, 1, 2, 3, 12]);
        let v = g.voxel(366).unwrap();
        assert_eq!((v.layer, v.r_bin, v.alpha_bin), (12, 3, 0));
        assert_eq!(v.r, 700.0);
        assert_eq!(v.alpha, 0.0);
        assert_eq!(&g.layer(1).unwrap().r_edges[..4], &[0.0, 2.0, 4.0, 6.0]);
        let p = GeometryKind::Ds1Pions.geometry();
        assert_eq!(p.relevant_layer_ids(), vec![0, 1, 2, 3, 12, 13, 14]);
        assert_eq!(&p.layer(1).unwrap().r_edges[..4], &[0.0, 1.0, 4.0, 7.0]);
    }

    #[test]
    fn ds3_radial_step_and_centres() {
        let g = GeometryKind::Ds3.geometry();
        let l = g.layer(0).unwrap();
        assert_eq!((l.n_r(), l.n_alpha), (18, 50));
        for w in l.r_edges.windows(2) {
            assert!((w[1] - w[0] - 2.325).abs() < 1e-9);
        }
        let g2 = GeometryKind::Ds2.geometry();
        let v = g2.voxel(0).unwrap();
        let a0 = -PI + 0.5 * 2.0 * PI / 16.0;
        assert!((v.alpha - a0).abs() < 1e-12);
        assert!((v.x - 2.325 * a0.cos()).abs() < 1e-12 && (v.y - 2.325 * a0.sin()).abs() < 1e-12);
    }

    #[test]
    fn bad_xml_is_a_clear_error() {
        let missing = r#"<Bins><Bin pid="11" name="e"><Layer id="0" n_bin_alpha="1"/></Bin></Bins>"#;
        let e = Geometry::from_xml(missing).unwrap_err().to_string();
        assert!(e.contains("r_edges"), "{e}");
        let e = Geometry::from_xml("<Bins><Bin").unwrap_err().to_string();
        assert!(e.contains("malformed XML"), "{e}");
        let e = Geometry::from_xml(r#"<Bins><Bin><Layer id="0" r_edges="0,x" n_bin_alpha="1"/></Bin></Bins>"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad r_edges"), "{e}");
    }
}
