//! Sharded generation: the merged shards equal a one-process run bit for bit; `merge` refuses
//! incomplete or mixed shard sets. Also: `train --resume` continues a stopped run to the same
//! weights as an uninterrupted one.

use std::path::Path;
use std::process::Command;

fn tdsm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tdsm")).args(args).output().expect("run tdsm")
}

fn ok(args: &[&str]) {
    let o = tdsm(args);
    assert!(o.status.success(), "tdsm {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
}

fn read(path: &Path) -> (Vec<f64>, Vec<f32>) {
    let f = hdf5::File::open(path).unwrap();
    let e = f.dataset("incident_energies").unwrap().read_raw::<f64>().unwrap();
    let s = f.dataset("showers").unwrap().read_raw::<f32>().unwrap();
    (e, s)
}

const CONFIG: &str = r#"{
  "net": {"embed_dim": 8, "hidden_dim": 16, "n_layers": 1, "n_heads": 2, "dropout": 0.0, "block": "class-token", "fourier_scale": 30.0},
  "sde": {"kind": "vp", "beta_min": 0.1, "beta_max": 20.0},
  "train": {"lr": 0.002, "warmup_steps": 1, "steps": 6, "batch_size": 8, "checkpoint_every": 2, "log_every": 2, "seed": 4}
}"#;

fn tiny_model(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = dir.join("train.h5");
    let cfg = dir.join("tiny.json");
    std::fs::write(&cfg, CONFIG).unwrap();
    ok(&["simulate", "--geometry", "ds1-photons", "--events", "120", "--seed", "3", "--out", data.to_str().unwrap()]);
    let model = dir.join("model");
    ok(&["train", "--data", data.to_str().unwrap(), "--config", cfg.to_str().unwrap(), "--out", model.to_str().unwrap()]);
    (data, model)
}

#[test]
fn merged_shards_equal_one_run_and_resume_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (data, model) = tiny_model(d);
    let m = model.to_str().unwrap();
    let one = d.join("one.h5");
    let common = ["sample", "--model", m, "--n", "13", "--sampler", "em", "--steps", "4", "--seed", "9", "--batch-size", "5"];
    ok(&[&common[..], &["--out", one.to_str().unwrap()]].concat());
    let mut shards = vec![];
    for i in 0..3 {
        let p = d.join(format!("shard_{i}.h5"));
        let sh = format!("{i}/3");
        // other batch sizes per shard: a shower depends only on (seed, index)
        let bs = ["2", "7", "13"][i];
        let mut args = common.to_vec();
        let last = args.len() - 1;
        args[last] = bs;
        ok(&[&args[..], &["--shard", &sh, "--out", p.to_str().unwrap()]].concat());
        assert!(Path::new(&format!("{}.json", p.display())).exists());
        shards.push(p);
    }
    let merged = d.join("merged.h5");
    let sh: Vec<&str> = shards.iter().map(|p| p.to_str().unwrap()).collect();
    ok(&[&["merge", "--out", merged.to_str().unwrap()][..], &sh[..]].concat());
    let (e1, s1) = read(&one);
    let (e2, s2) = read(&merged);
    assert_eq!(e1, e2);
    assert_eq!(s1.len(), 13 * 368);
    assert!(s1 == s2, "merged shards differ from the one-process run");
    assert!(s1.iter().any(|&v| v > 0.0));

    // a missing shard and a duplicated shard are errors, and leave no output
    let bad = d.join("bad.h5");
    let o = tdsm(&["merge", "--out", bad.to_str().unwrap(), sh[0], sh[2]]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("missing shard(s) 1 of 3"), "{err}");
    assert_eq!(err.lines().count(), 1);
    let o = tdsm(&["merge", "--out", bad.to_str().unwrap(), sh[0], sh[1], sh[1], sh[2]]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("twice"));
    assert!(!bad.exists());

    // resume: stop after 3 of 6 steps, resume, compare with the uninterrupted run
    let cfg = d.join("tiny.json");
    let part = d.join("part");
    ok(&["train", "--data", data.to_str().unwrap(), "--config", cfg.to_str().unwrap(), "--out", part.to_str().unwrap(), "--stop-after", "3"]);
    ok(&["train", "--data", data.to_str().unwrap(), "--config", cfg.to_str().unwrap(), "--out", part.to_str().unwrap(), "--resume"]);
    let b = std::fs::read_to_string(part.join("checkpoint/state.json")).unwrap();
    assert!(b.contains("\"step\": 6"), "resumed run did not reach step 6");
    // identical sampling weights give identical showers
    let again = d.join("again.h5");
    let args: Vec<&str> = common.iter().map(|s| if *s == m { part.to_str().unwrap() } else { s }).collect();
    ok(&[&args[..], &["--out", again.to_str().unwrap()]].concat());
    assert!(read(&again).1 == s1, "the resumed model generates other showers than the uninterrupted one");
}
