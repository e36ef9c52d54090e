//! The CLI on a wgpu device (in CI: Mesa's lavapipe software Vulkan driver): `tdsm doctor`
//! finds and checks the adapter, training runs on it, and sampling on it gives the CPU's
//! showers (the noise is drawn on the host, so only f32 rounding differs). Needs a build with
//! `--features wgpu`; without an adapter the tests fail when `TDSM_TEST_WGPU=1` (as `.ci/run`
//! sets) and otherwise say why they checked nothing.
#![cfg(feature = "wgpu")]

use std::path::Path;
use std::process::{Command, Output};

fn tdsm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tdsm")).args(args).output().expect("run tdsm")
}

fn ok(args: &[&str]) -> String {
    let o = tdsm(args);
    assert!(o.status.success(), "tdsm {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Whether a wgpu adapter is there (`tdsm doctor --list`); panics without one under
/// `TDSM_TEST_WGPU=1`.
fn have_adapter() -> bool {
    let out = ok(&["doctor", "--list"]);
    let found = out.lines().any(|l| l.trim_start().starts_with("wgpu:0:"));
    if !found {
        assert!(std::env::var("TDSM_TEST_WGPU").as_deref() != Ok("1"), "TDSM_TEST_WGPU=1 but no wgpu adapter (install mesa-vulkan-drivers libvulkan1):\n{out}");
        eprintln!("wgpu CLI tests not checked: no adapter\n{out}");
    }
    found
}

const CONFIG: &str = r#"{
  "net": {"embed_dim": 16, "hidden_dim": 32, "n_layers": 1, "n_heads": 2, "dropout": 0.0, "block": "class-token", "fourier_scale": 30.0},
  "sde": {"kind": "vp", "beta_min": 0.1, "beta_max": 20.0},
  "train": {"lr": 0.003, "warmup_steps": 5, "steps": 300, "batch_size": 16, "checkpoint_every": 300, "log_every": 10, "seed": 4}
}"#;

#[test]
fn doctor_checks_the_wgpu_adapter_against_the_cpu() {
    if !have_adapter() {
        return;
    }
    let out = ok(&["doctor"]);
    let line = out.lines().find(|l| l.trim_start().starts_with("wgpu:0: ok")).unwrap_or_else(|| panic!("no passing wgpu check:\n{out}"));
    assert!(line.contains("max |difference| from the CPU"), "{line}");
    assert!(out.contains("backends built in: cpu, wgpu"), "{out}");
}

#[test]
fn training_and_sampling_run_on_wgpu_and_sampling_matches_the_cpu() {
    if !have_adapter() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("train.h5");
    let cfg = dir.path().join("tiny.json");
    std::fs::write(&cfg, CONFIG).unwrap();
    ok(&["simulate", "--geometry", "ds1-photons", "--events", "400", "--seed", "3", "--out", s(&data)]);

    // training runs on the device (a short run: lavapipe takes ~0.25 s per step)
    let log = ok(&["train", "--device", "wgpu", "--data", s(&data), "--config", s(&cfg), "--steps", "30", "--out", s(&dir.path().join("wgpu-model"))]);
    assert!(log.contains("device: wgpu"), "{log}");
    let losses: Vec<f64> = log.lines().filter_map(|l| l.split_whitespace().skip_while(|w| *w != "loss").nth(1)).map(|v| v.parse().unwrap()).collect();
    assert_eq!(losses.len(), 3, "{log}");
    assert!(losses.iter().all(|l| l.is_finite()) && losses[2] < losses[0], "losses {losses:?}");

    // data-parallel over two wgpu devices (the same adapter twice): the same loss curve
    let log2 = ok(&["train", "--devices", "wgpu:0,wgpu:0", "--data", s(&data), "--config", s(&cfg), "--steps", "30", "--out", s(&dir.path().join("wgpu2-model"))]);
    let losses2: Vec<f64> = log2.lines().filter_map(|l| l.split_whitespace().skip_while(|w| *w != "loss").nth(1)).map(|v| v.parse().unwrap()).collect();
    assert_eq!(losses2.len(), 3, "{log2}");
    for (a, b) in losses.iter().zip(&losses2) {
        assert!((a - b).abs() <= 2e-4 * a.abs() + 1e-4, "one device {losses:?} vs two {losses2:?}");
    }
    // devices of different kinds are refused
    let o = tdsm(&["train", "--devices", "cpu,wgpu", "--data", s(&data), "--config", s(&cfg), "--out", s(&dir.path().join("mixed"))]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("one kind"), "{}", String::from_utf8_lossy(&o.stderr));

    // a model trained a little longer on the CPU (raw outputs of a 30-step model overflow)
    let model = dir.path().join("model");
    ok(&["train", "--device", "cpu", "--data", s(&data), "--config", s(&cfg), "--out", s(&model)]);

    // the same seed gives the same showers on the device and on the CPU: the generated points
    // (`TDSM_DUMP_POINTS` writes the first showers' points before binning) agree to f32
    // rounding, since the noise is drawn on the host
    let common = ["--model", s(&model), "--n", "4", "--seed", "9", "--steps", "12", "--sampler", "em", "--batch-size", "4"];
    // (NaN is written as null)
    let points = |device: &str, precision: &str| -> Vec<(f64, Vec<[Option<f32>; 4]>)> {
        let (out, dump) = (dir.path().join(format!("{device}-{precision}.h5")), dir.path().join(format!("{device}-{precision}.json")));
        let o = Command::new(env!("CARGO_BIN_EXE_tdsm"))
            .args([&["sample", "--device", device, "--precision", precision, "--out", s(&out)], &common[..]].concat())
            .env("TDSM_DUMP_POINTS", &dump)
            .output()
            .unwrap();
        assert!(o.status.success(), "sample on {device}: {}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_str(&std::fs::read_to_string(&dump).unwrap()).unwrap()
    };
    let (gpu, cpu) = (points("wgpu", "f32"), points("cpu", "f32"));
    assert_eq!(gpu.len(), 4);
    let mut worst = 0f32;
    for (r, ((eg, pg), (ec, pc))) in gpu.iter().zip(&cpu).enumerate() {
        assert_eq!(eg, ec);
        assert_eq!(pg.len(), pc.len(), "shower {r}: point counts");
        assert!(!pc.is_empty());
        for (a, b) in pg.iter().zip(pc) {
            for k in 0..4 {
                match (a[k], b[k]) {
                    (Some(x), Some(y)) if x.is_finite() && y.is_finite() => worst = worst.max((x - y).abs() / y.abs().max(1.0)),
                    (x, y) => assert_eq!(x, y, "shower {r}: {a:?} vs {b:?}"),
                }
            }
        }
    }
    eprintln!("wgpu vs cpu sampling: largest point difference {worst:e} (relative, floor 1)");
    assert!(worst < 1e-3, "largest point difference {worst}");

    // half precision on the device (lavapipe has shader-f16): the same points to f16 rounding,
    // amplified by the inverse transforms (median ~0.3 %, 90th percentile ~3 %), and really
    // computed in f16 (not equal to f32)
    let half = points("wgpu", "f16");
    let mut rel = Vec::new();
    for ((_, ph), (_, pc)) in half.iter().zip(&cpu) {
        assert_eq!(ph.len(), pc.len());
        for (a, b) in ph.iter().zip(pc) {
            for k in 0..4 {
                if let (Some(x), Some(y)) = (a[k], b[k]) {
                    if x.is_finite() && y.is_finite() {
                        rel.push((x - y).abs() / y.abs().max(1.0));
                    }
                }
            }
        }
    }
    rel.sort_by(f32::total_cmp);
    let median = rel[rel.len() / 2];
    eprintln!("wgpu f16 vs cpu f32: median point difference {median:e} over {} values", rel.len());
    assert!(rel.len() > 100 && median < 2e-2 && median > 1e-5, "median {median}");

    // f16 on the CPU and bf16 on wgpu are refused with a reason
    for (device, precision, needle) in [("cpu", "f16", "needs a GPU"), ("wgpu", "bf16", "no bf16")] {
        let o = tdsm(&[&["sample", "--device", device, "--precision", precision, "--out", s(&dir.path().join("x.h5"))], &common[..]].concat());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(needle), "{device} {precision}: {err}");
        assert!(!dir.path().join("x.h5").exists());
    }
}
