//! End-to-end test of `tdsm evaluate` on small simulated files.

use std::path::Path;
use std::process::Command;

fn tdsm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tdsm"))
}

fn simulate(out: &Path, seed: u64, events: usize) {
    let st = tdsm()
        .args(["simulate", "--geometry", "ds1-photons", "--events", &events.to_string(), "--seed", &seed.to_string(), "--out"])
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success(), "simulate failed");
}

#[test]
fn evaluate_writes_metrics_report_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let (gen, reference, out) = (dir.path().join("gen.h5"), dir.path().join("ref.h5"), dir.path().join("eval"));
    simulate(&gen, 1, 300);
    simulate(&reference, 2, 400);
    let o = tdsm()
        .arg("evaluate")
        .args([&gen, &reference])
        .arg("--out")
        .arg(&out)
        .args(["--classifier-epochs", "2", "--classifier-runs", "2", "--classifier-width", "16"])
        .args(["--fpd-batches", "2", "--kpd-batches", "3", "--kpd-batch-size", "100", "--threads", "2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "evaluate failed: {stderr}");
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(m["geometry"], "ds1-photons");
    assert_eq!(m["threshold_mev"], 1.0);
    assert_eq!(m["generated"]["showers"], 300);
    assert_eq!(m["reference"]["showers"], 400);
    let s = &m["separation_power"];
    for key in ["etot_einc", "voxel_energy"] {
        let v = s[key].as_f64().unwrap_or_else(|| panic!("separation_power.{key}"));
        assert!((0.0..=1.0).contains(&v));
    }
    for key in ["e_layer", "ec_x", "ec_y", "width_x", "width_y", "ec_r", "width_r", "sparsity"] {
        assert!(s[key]["mean"].is_f64(), "separation_power.{key}.mean");
    }
    assert_eq!(s["ec_x"]["per_layer"].as_object().unwrap().len(), 2, "ds1 photons: layers 1 and 2 binned in angle");
    assert_eq!(s["e_layer"]["per_layer"].as_object().unwrap().len(), 5);
    for key in ["low", "high"] {
        let c = &m["classifier"][key];
        let auc = c["auc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&auc), "{key} auc {auc}");
        assert!(c["auc_std"].is_f64() && c["jsd"].is_f64() && c["jsd_std"].is_f64());
        assert_eq!(c["runs"].as_array().unwrap().len(), 2);
    }
    assert_eq!(m["classifier"]["high"]["inputs"], 30);
    assert_eq!(m["classifier"]["low"]["inputs"], 369);
    for key in ["fpd", "kpd"] {
        assert!(m[key]["value_x1e3"].is_f64() && m[key]["error_x1e3"].is_f64(), "{key}");
    }
    assert_eq!(m["kpd"]["values"].as_array().unwrap().len(), 3);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    let plots = [
        "etot_einc", "etot_einc_per_energy", "e_layer", "ec_x", "ec_y", "width_x", "width_y", "ec_r", "width_r", "sparsity",
        "voxel_energy",
    ];
    for p in plots {
        let png = std::fs::read(out.join("plots").join(format!("{p}.png"))).unwrap_or_else(|_| panic!("{p}.png"));
        assert_eq!(&png[1..4], b"PNG");
    }
    assert_eq!(html.matches("data:image/png;base64,").count(), plots.len());
    // No temporary files are left behind.
    for d in [out.clone(), out.join("plots")] {
        for e in std::fs::read_dir(d).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().to_string();
            assert!(!name.contains("tmp"), "leftover {name}");
        }
    }
}

#[test]
fn evaluate_rejects_bad_input_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("ref.h5");
    simulate(&reference, 2, 20);
    let o = tdsm()
        .arg("evaluate")
        .arg(dir.path().join("missing.h5"))
        .arg(&reference)
        .arg("--out")
        .arg(dir.path().join("o"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: ") && err.contains("missing.h5"), "{err}");
    let o = tdsm().arg("evaluate").arg(&reference).arg(&reference).args(["--geometry", "ds2", "--out"]).arg(dir.path().join("o")).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("6480"), "{err}");
}
