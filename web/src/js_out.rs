//! Conversion of generated showers and the geometry to plain JavaScript objects.

use js_sys::{Array, Float32Array, Object, Reflect};
use tdsm_core::geometry::Geometry;
use wasm_bindgen::JsValue;

use crate::showers::Shower;

fn set(o: &Object, key: &str, v: impl Into<JsValue>) {
    // setting a property on a fresh plain object cannot fail
    let _ = Reflect::set(o, &JsValue::from_str(key), &v.into());
}

/// `{ index, incidentEnergy, totalEnergy, nPoints, dropped, points: Float32Array(4 n),
/// voxels: Float32Array }` per shower (energies in MeV, positions in mm).
pub fn showers(list: &[Shower]) -> Array {
    list.iter()
        .map(|s| {
            let o = Object::new();
            set(&o, "index", s.index as f64);
            set(&o, "incidentEnergy", s.incident_energy);
            set(
                &o,
                "totalEnergy",
                s.voxels.iter().map(|&v| v as f64).sum::<f64>(),
            );
            set(&o, "nPoints", s.points.len() as f64);
            set(&o, "dropped", s.dropped as f64);
            let flat: Vec<f32> = s.points.iter().flatten().copied().collect();
            set(&o, "points", Float32Array::from(flat.as_slice()));
            set(&o, "voxels", Float32Array::from(s.voxels.as_slice()));
            JsValue::from(o)
        })
        .collect()
}

/// `{ name, nVoxels, layers: [{ id, offset, nAlpha, rEdges: [mm] }] }` over the layers with
/// voxels, in the official voxel order.
pub fn geometry(name: &str, g: &Geometry) -> Object {
    let o = Object::new();
    set(&o, "name", name);
    set(&o, "nVoxels", g.n_voxels as f64);
    let layers: Array = g
        .relevant_layers()
        .map(|l| {
            let lo = Object::new();
            set(&lo, "id", l.id as f64);
            set(&lo, "offset", l.offset as f64);
            set(&lo, "nAlpha", l.n_alpha as f64);
            let edges: Array = l.r_edges.iter().map(|&r| JsValue::from(r)).collect();
            set(&lo, "rEdges", edges);
            JsValue::from(lo)
        })
        .collect();
    set(&o, "layers", layers);
    o
}
