//! The self-contained HTML report of `tdsm evaluate` (plots embedded as base64 PNG) and a
//! plain-text summary for the terminal.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

/// A plot to embed in the report.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Section title.
    pub title: String,
    /// PNG file.
    pub file: PathBuf,
    /// One-sentence description.
    pub caption: String,
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if c.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    out
}

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// `value ± error` with `digits` decimals, or "–".
fn pm(v: &Value, e: &Value, digits: usize) -> String {
    match (num(v), num(e)) {
        (Some(v), Some(e)) => format!("{v:.digits$} ± {e:.digits$}"),
        (Some(v), None) => format!("{v:.digits$}"),
        _ => "–".into(),
    }
}

/// Rows (metric, value, ideal) of the headline table.
fn headline(m: &Value) -> Vec<(String, String, &'static str)> {
    let mut rows = Vec::new();
    for (key, name) in [("low", "Classifier AUC, low-level (voxels)"), ("high", "Classifier AUC, high-level features")] {
        let c = &m["classifier"][key];
        if !c.is_null() {
            rows.push((name.to_string(), pm(&c["auc"], &c["auc_std"], 4), "0.5"));
            rows.push((name.replace("AUC", "JSD"), pm(&c["jsd"], &c["jsd_std"], 4), "0"));
        }
    }
    if !m["fpd"].is_null() {
        rows.push(("FPD × 10³".into(), pm(&m["fpd"]["value_x1e3"], &m["fpd"]["error_x1e3"], 4), "0 (within error)"));
    }
    if !m["kpd"].is_null() {
        rows.push(("KPD × 10³".into(), pm(&m["kpd"]["value_x1e3"], &m["kpd"]["error_x1e3"], 4), "0 (within error)"));
    }
    let s = &m["separation_power"];
    rows.push(("Separation power E_tot/E_inc".into(), pm(&s["etot_einc"], &Value::Null, 5), "0"));
    for (key, name) in [
        ("e_layer", "E_layer"),
        ("ec_x", "EC_x"),
        ("ec_y", "EC_y"),
        ("width_x", "W_x"),
        ("width_y", "W_y"),
        ("ec_r", "EC_r"),
        ("width_r", "W_r"),
        ("sparsity", "sparsity"),
    ] {
        if let Some(v) = s[key]["mean"].as_f64() {
            rows.push((format!("Separation power {name} (mean over layers)"), format!("{v:.5}"), "0"));
        }
    }
    if let Some(v) = s["voxel_energy"].as_f64() {
        rows.push(("Separation power voxel energies".into(), format!("{v:.5}"), "0"));
    }
    rows
}

/// A short plain-text summary of the metrics (the headline table).
pub fn summary_text(m: &Value) -> String {
    let rows = headline(m);
    let w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let mut s = format!(
        "{} vs {} ({}, threshold {} MeV)\n",
        m["generated"]["path"].as_str().unwrap_or("?"),
        m["reference"]["path"].as_str().unwrap_or("?"),
        m["geometry"].as_str().unwrap_or("?"),
        m["threshold_mev"]
    );
    for (name, value, ideal) in rows {
        s += &format!("  {name:<w$}  {value}   (ideal {ideal})\n");
    }
    s.trim_end().to_string()
}

/// Per-layer separation powers as an HTML table.
fn layer_table(m: &Value) -> String {
    let s = &m["separation_power"];
    let keys = ["e_layer", "ec_x", "ec_y", "width_x", "width_y", "ec_r", "width_r", "sparsity"];
    let mut layers: Vec<u64> = s["e_layer"]["per_layer"].as_object().map(|o| o.keys().filter_map(|k| k.parse().ok()).collect()).unwrap_or_default();
    layers.sort();
    let mut h = String::from("<table><tr><th>layer</th>");
    for k in keys {
        h += &format!("<th>{k}</th>");
    }
    h += "</tr>\n";
    for l in layers {
        h += &format!("<tr><td>{l}</td>");
        for k in keys {
            let v = &s[k]["per_layer"][l.to_string()];
            h += &match v.as_f64() {
                Some(x) => format!("<td>{x:.5}</td>"),
                None => "<td>–</td>".into(),
            };
        }
        h += "</tr>\n";
    }
    h + "</table>"
}

/// Classifier runs as an HTML table.
fn runs_table(c: &Value) -> String {
    let mut h = String::from("<table><tr><th>seed</th><th>AUC</th><th>JSD</th><th>AUC (uncalibrated)</th><th>test accuracy</th><th>epoch kept / run</th><th>showers per class (train/test/val)</th></tr>\n");
    for r in c["runs"].as_array().into_iter().flatten() {
        h += &format!(
            "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{} / {}</td><td>{}</td></tr>\n",
            r["seed"],
            r["auc"].as_f64().unwrap_or(f64::NAN),
            r["jsd"].as_f64().unwrap_or(f64::NAN),
            r["auc_uncalibrated"].as_f64().unwrap_or(f64::NAN),
            r["test_accuracy"].as_f64().unwrap_or(f64::NAN),
            r["best_epoch"],
            r["epochs_run"],
            r["per_class"].as_array().map(|a| a.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" / ")).unwrap_or_default()
        );
    }
    h + "</table>"
}

/// Writes the report to `path` (atomically), embedding every figure.
pub fn write(path: &Path, m: &Value, figures: &[Figure]) -> Result<()> {
    let mut h = String::new();
    h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tdsm evaluate</title>\n<style>\n";
    h += "body{font-family:sans-serif;max-width:1900px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}\
th{background:#eee}td:first-child{text-align:left}img{max-width:100%;border:1px solid #ddd}\
.note{color:#555;font-size:90%}figure{margin:2em 0}h2{border-bottom:1px solid #ccc}\n";
    h += "</style></head><body>\n<h1>CaloChallenge evaluation</h1>\n";
    h += &format!(
        "<table><tr><th>generated</th><td>{}</td><td>{} showers</td></tr><tr><th>reference</th><td>{}</td><td>{} showers</td></tr>\
<tr><th>geometry</th><td colspan=2>{}</td></tr><tr><th>voxel threshold</th><td colspan=2>{} MeV (voxels below it set to 0 in both files)</td></tr></table>\n",
        escape(m["generated"]["path"].as_str().unwrap_or("")),
        m["generated"]["showers"],
        escape(m["reference"]["path"].as_str().unwrap_or("")),
        m["reference"]["showers"],
        escape(m["geometry"].as_str().unwrap_or("")),
        m["threshold_mev"]
    );
    h += "<h2>Headline metrics</h2>\n<table><tr><th>metric</th><th>value</th><th>ideal</th></tr>\n";
    for (name, value, ideal) in headline(m) {
        h += &format!("<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n", escape(&name), escape(&value), ideal);
    }
    h += "</table>\n<p class=\"note\">Definitions as in the CaloChallenge 2022 evaluation (arXiv:2410.21611). \
Separation power S = ½ Σ (p−q)²/(p+q) of the normalised histograms: 0 for identical, 1 for disjoint distributions. \
Classifier: an MLP trained to tell reference (label 1) from generated (label 0) showers, calibrated by isotonic regression on the \
test set; AUC and JSD = (ln 2 − BCE)/ln 2 on the validation set, mean ± std over runs; AUC 0.5 means indistinguishable. \
FPD (extrapolated to infinite sample size) and KPD (median ± half the 16–84% range over batches) on the high-level features normalised \
by the reference maximum, both × 10³. Compare with the Geant4-vs-Geant4 row of the challenge tables, which measures the statistical floor. \
Every metric has a finite-sample floor: two independent samples of one distribution give separation powers of about \
(number of bins)/4 × (1/n₁ + 1/n₂) and an FPD that grows like (number of features)/n, so small files must be compared with \
two reference samples of the same sizes rather than with zero.</p>\n";

    for (key, name) in [("high", "High-level classifier"), ("low", "Low-level classifier")] {
        let c = &m["classifier"][key];
        if c.is_null() {
            continue;
        }
        h += &format!(
            "<h3>{name}</h3><p>{} inputs; {} hidden layers of {} units, batch {}, up to {} epochs, preprocessing: {}.</p>\n{}\n",
            c["inputs"],
            c["config"]["hidden_layers"],
            c["config"]["hidden"],
            c["config"]["batch_size"],
            c["config"]["epochs"],
            c["config"]["preprocess"].as_str().unwrap_or("?"),
            runs_table(c)
        );
    }
    if !m["fpd"].is_null() {
        let pts = m["fpd"]["points"].as_array().map(|a| {
            a.iter().map(|p| format!("N = {}: {:.5}", p[0], p[1].as_f64().unwrap_or(f64::NAN) * 1e3)).collect::<Vec<_>>().join("; ")
        });
        h += &format!("<p class=\"note\">FPD × 10³ per batch size: {}.</p>\n", escape(&pts.unwrap_or_default()));
    }

    h += "<h2>Distributions</h2>\n";
    for f in figures {
        let bytes = std::fs::read(&f.file).with_context(|| format!("cannot read {}", f.file.display()))?;
        h += &format!(
            "<figure><h3>{}</h3><img alt=\"{}\" src=\"data:image/png;base64,{}\"><figcaption class=\"note\">{}</figcaption></figure>\n",
            escape(&f.title),
            escape(&f.title),
            base64(&bytes),
            escape(&f.caption)
        );
    }
    h += "<h2>Separation power per layer</h2>\n";
    h += &layer_table(m);
    h += &format!(
        "\n<h2>Run</h2><pre>{}</pre>\n</body></html>\n",
        escape(&serde_json::to_string_pretty(&m["timing_s"]).unwrap_or_default())
    );
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, h).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        for (i, o) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
