//! `tdsm train --devices`: data-parallel training over several devices of one kind gives the
//! single-device loss curve (here on two CPU "devices", which run the same code path as
//! `cuda:0,cuda:1`), and bad device lists are refused with one-line errors.

use std::path::Path;
use std::process::{Command, Output};

fn tdsm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tdsm")).args(args).output().expect("run tdsm")
}

fn ok(args: &[&str]) -> String {
    let o = tdsm(args);
    assert!(o.status.success(), "tdsm {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Without dropout the split batch gives the same gradients, so the curves agree to rounding.
const CONFIG: &str = r#"{
  "net": {"embed_dim": 16, "hidden_dim": 32, "n_layers": 1, "n_heads": 2, "dropout": 0.0, "block": "class-token", "fourier_scale": 30.0},
  "sde": {"kind": "vp", "beta_min": 0.1, "beta_max": 20.0},
  "train": {"lr": 0.003, "warmup_steps": 5, "steps": 60, "batch_size": 32, "checkpoint_every": 60, "log_every": 10, "seed": 4}
}"#;

/// (train loss, validation loss) per logged step of a model directory.
fn curve(model: &Path) -> Vec<(f64, f64)> {
    std::fs::read_to_string(model.join("train_log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["train_loss"].as_f64().unwrap(), v["val_loss"].as_f64().unwrap())
        })
        .collect()
}

#[test]
fn two_devices_follow_the_single_device_loss_curve() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("train.h5");
    let cfg = dir.path().join("c.json");
    std::fs::write(&cfg, CONFIG).unwrap();
    ok(&["simulate", "--geometry", "ds1-photons", "--events", "300", "--seed", "5", "--out", s(&data)]);
    let (one, two, three) = (dir.path().join("one"), dir.path().join("two"), dir.path().join("three"));
    ok(&["train", "--device", "cpu", "--data", s(&data), "--config", s(&cfg), "--out", s(&one)]);
    let log = ok(&["train", "--devices", "cpu,cpu", "--data", s(&data), "--config", s(&cfg), "--out", s(&two)]);
    assert!(log.contains("devices: cpu, cpu"), "{log}");
    ok(&["train", "--devices", "cpu,cpu,cpu", "--data", s(&data), "--config", s(&cfg), "--out", s(&three)]);
    let (c1, c2, c3) = (curve(&one), curve(&two), curve(&three));
    assert_eq!(c1.len(), 6);
    assert!(c1[5].0 < c1[0].0, "the loss falls: {c1:?}");
    for (k, ((a, b), c)) in c1.iter().zip(&c2).zip(&c3).enumerate() {
        for (x, y) in [(a.0, b.0), (a.0, c.0), (a.1, b.1), (a.1, c.1)] {
            assert!((x - y).abs() < 1e-4 * x.abs(), "log line {k}: {a:?} (one device) vs {b:?} (two) vs {c:?} (three)");
        }
    }
}

#[test]
fn bad_device_lists_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    for (args, needle) in [
        (vec!["--devices", "cpu,tpu"], "tpu"),
        (vec!["--device", "cpu", "--devices", "cpu,cpu"], "cannot be used with"),
    ] {
        let o = tdsm(&[&["train", "--data", "missing.h5", "--out", s(&out)], &args[..]].concat());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && o.status.code() != Some(101), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert!(!out.exists());
}
