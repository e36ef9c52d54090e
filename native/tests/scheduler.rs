//! Batch schedulers: a real single-node Slurm runs a 4-shard generation written by
//! `tdsm submit --now` (merged result = one-process run, bit for bit); HTCondor's own parser
//! expands the submit file per job, and the wrapper runs a job in a sandbox as HTCondor would;
//! a training run killed with SIGKILL resumes from its checkpoint to the same weights as an
//! uninterrupted one, and so does a run restarted after each `--exit-code-after-checkpoint`.
//!
//! The Slurm test needs a running cluster (`eval "$(tools/slurm-local start)"`, as `.ci/run`
//! does, which also sets `TDSM_TEST_SLURM=1`); the HTCondor test needs the PyPI `htcondor`
//! package (`TDSM_TEST_HTCONDOR=1` makes its absence a failure). Without them these two tests
//! say so on stderr and check nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn tdsm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tdsm")).args(args).output().expect("run tdsm")
}

fn ok(args: &[&str]) {
    let o = tdsm(args);
    assert!(o.status.success(), "tdsm {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn read(path: &Path) -> (Vec<f64>, Vec<f32>) {
    let f = hdf5::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let e = f.dataset("incident_energies").unwrap().read_raw::<f64>().unwrap();
    let v = f.dataset("showers").unwrap().read_raw::<f32>().unwrap();
    (e, v)
}

fn config(steps: usize, checkpoint_every: usize) -> String {
    format!(
        r#"{{
  "net": {{"embed_dim": 8, "hidden_dim": 16, "n_layers": 1, "n_heads": 2, "dropout": 0.0, "block": "class-token", "fourier_scale": 30.0}},
  "sde": {{"kind": "vp", "beta_min": 0.1, "beta_max": 20.0}},
  "train": {{"lr": 0.002, "warmup_steps": 1, "steps": {steps}, "batch_size": 8, "checkpoint_every": {checkpoint_every}, "log_every": 1000000, "seed": 4}}
}}"#
    )
}

/// Simulated data, a config of `steps` steps, and (when `train`) a trained model.
fn setup(dir: &Path, steps: usize, checkpoint_every: usize, train: bool) -> (PathBuf, PathBuf, PathBuf) {
    let data = dir.join("train.h5");
    let cfg = dir.join("tiny.json");
    std::fs::write(&cfg, config(steps, checkpoint_every)).unwrap();
    ok(&["simulate", "--geometry", "ds1-photons", "--events", "120", "--seed", "3", "--out", s(&data)]);
    let model = dir.join("model");
    if train {
        ok(&["train", "--data", s(&data), "--config", s(&cfg), "--out", s(&model)]);
    }
    (data, cfg, model)
}

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

#[test]
fn slurm_array_generation_equals_one_process_run() {
    if std::env::var_os("SLURM_CONF").is_none() && !required("TDSM_TEST_SLURM") {
        eprintln!("no Slurm cluster (SLURM_CONF unset): not testing tdsm submit against Slurm; see tools/slurm-local");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (_, _, model) = setup(d, 4, 4, true);
    let sample = ["sample", "--model", "model", "--n", "22", "--sampler", "em", "--steps", "4", "--seed", "9"];
    let t0 = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_tdsm"))
        .current_dir(d)
        .args(["submit", "--scheduler", "slurm", "--shards", "4", "--memory", "1G", "--time", "10", "--dir", "jobs", "--now", "--wait", "--timeout", "600", "--"])
        .args(sample)
        .args(["--batch-size", "3", "--out", "out/gen_{i}.h5"])
        .output()
        .unwrap();
    let logs: String = std::fs::read_dir(d.join("jobs/logs"))
        .map(|r| r.flatten().map(|e| format!("{}:\n{}", e.path().display(), std::fs::read_to_string(e.path()).unwrap_or_default())).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default();
    assert!(o.status.success(), "tdsm submit --now --wait failed: {}\njob logs:\n{logs}", String::from_utf8_lossy(&o.stderr));
    eprintln!("4 Slurm jobs ran in {:.1} s", t0.elapsed().as_secs_f64());
    assert!(d.join("jobs/job.sbatch").is_file());
    let shards: Vec<PathBuf> = (0..4).map(|i| d.join(format!("out/gen_{i}.h5"))).collect();
    for p in &shards {
        assert!(p.is_file(), "{} missing; job logs:\n{logs}", p.display());
    }
    // each job listed its devices first (tdsm doctor --list)
    assert!(logs.contains("cpu"), "no device listing in the job logs:\n{logs}");
    let merged = d.join("merged.h5");
    let mut args = vec!["merge", "--out", s(&merged)];
    args.extend(shards.iter().map(|p| s(p)));
    ok(&args);
    let one = d.join("one.h5");
    let mut args: Vec<&str> = sample.to_vec();
    args[2] = s(&model);
    ok(&[&args[..], &["--out", s(&one)]].concat());
    let (e1, v1) = read(&one);
    let (e2, v2) = read(&merged);
    assert_eq!(e1.len(), 22);
    assert_eq!(e1, e2);
    assert!(v1 == v2, "the merged Slurm shards differ from the one-process run");
    assert!(v1.iter().any(|&x| x > 0.0));
}

/// Runs tools/condor_expand.py on a submit file; None when htcondor2 is not installed.
fn condor_expand(sub: &Path) -> Option<serde_json::Value> {
    let o = Command::new("python3").arg(repo_root().join("tools/condor_expand.py")).arg(sub).output().expect("run python3");
    if o.status.code() == Some(3) {
        assert!(!required("TDSM_TEST_HTCONDOR"), "TDSM_TEST_HTCONDOR=1 but htcondor2 is missing: {}", String::from_utf8_lossy(&o.stderr));
        eprintln!("htcondor2 not installed (python3 -m pip install 'htcondor>=25,<26'): not checking the submit file with HTCondor's parser");
        return None;
    }
    assert!(o.status.success(), "HTCondor's parser rejected {}: {}", sub.display(), String::from_utf8_lossy(&o.stderr));
    Some(serde_json::from_slice(&o.stdout).unwrap())
}

#[test]
fn htcondor_submit_files_expand_per_job_and_the_wrapper_runs_a_job() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (data, _, _) = setup(d, 4, 4, true);
    let submit = |dir: &str, extra: &[&str], cmd: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_tdsm"))
            .current_dir(d)
            .args(["submit", "--scheduler", "htcondor", "--dir", dir])
            .args(extra)
            .arg("--")
            .args(cmd)
            .output()
            .unwrap();
        assert!(o.status.success(), "tdsm submit failed: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let said = submit(
        "gen",
        &["--shards", "3", "--gpus", "1", "--memory", "2GB", "--flavour", "espresso"],
        &["sample", "--model", "model", "--n", "30", "--sampler", "em", "--steps", "3", "--out", "out/gen_{i}.h5"],
    );
    assert!(said.contains("tdsm merge --out MERGED.h5 out/gen_0.h5 out/gen_1.h5 out/gen_2.h5"), "{said}");
    let jobs = d.join("gen");
    if let Some(x) = condor_expand(&jobs.join("job.sub")) {
        assert_eq!(x["queue"], 3);
        for p in 0..3usize {
            let j = &x["jobs"][p];
            let args: Vec<String> = j["arguments"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
            let want: Vec<String> = [p.to_string().as_str(), "sample", "--model", "model", "--n", "30", "--sampler", "em", "--steps", "3", "--out"]
                .iter()
                .map(|w| w.to_string())
                .chain([format!("gen_{p}.h5"), "--device".into(), "auto".into(), "--shard".into(), format!("{p}/3")])
                .collect();
            assert_eq!(args, want, "job {p}");
            assert_eq!(j["executable"], s(&jobs.join("job.sh")));
            assert_eq!(j["initialdir"], s(&d.join("out")));
            assert_eq!(j["output"], format!("{}/job_1_{p}.out", jobs.join("logs").display()));
            assert_eq!(j["error"], format!("{}/job_1_{p}.err", jobs.join("logs").display()));
            assert_eq!(j["log"], format!("{}/job_1.log", jobs.join("logs").display()));
            assert_eq!(j["request_GPUs"], "1");
            assert_eq!(j["request_memory"], "2048");
            assert_eq!(j["+JobFlavour"], "\"espresso\"");
            assert_eq!(j["transfer_output_files"], format!("gen_{p}.h5, gen_{p}.h5.json"));
            let inputs = j["transfer_input_files"].as_str().unwrap();
            assert!(inputs.ends_with(&format!(", {}", d.join("model").display())), "{inputs}");
            assert_eq!(j["checkpoint_exit_code"], serde_json::Value::Null);
        }
    }

    // Run job 1 as HTCondor would: in an empty sandbox with the transferred inputs.
    let sandbox = d.join("sandbox");
    std::fs::create_dir(&sandbox).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_tdsm"), sandbox.join("tdsm")).unwrap();
    let o = Command::new("cp").arg("-r").arg(d.join("model")).arg(&sandbox).output().unwrap();
    assert!(o.status.success());
    let o = Command::new(jobs.join("job.sh"))
        .current_dir(&sandbox)
        .args(["1", "sample", "--model", "model", "--n", "30", "--sampler", "em", "--steps", "3", "--out", "gen_1.h5", "--shard", "1/3"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "job.sh failed: {out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("tdsm sample job 1 of 3"), "{out}");
    assert!(sandbox.join("gen_1.h5").is_file() && sandbox.join("gen_1.h5.json").is_file());
    assert_eq!(read(&sandbox.join("gen_1.h5")).0.len(), 10);

    // A self-checkpointing training job.
    submit("fit", &["--checkpoint-minutes", "20"], &["train", "--data", s(&data), "--config", "tiny.json", "--out", "run"]);
    if let Some(x) = condor_expand(&d.join("fit/job.sub")) {
        assert_eq!(x["queue"], 1);
        let j = &x["jobs"][0];
        assert_eq!(j["checkpoint_exit_code"], "85");
        assert_eq!(j["transfer_checkpoint_files"], "run");
        assert_eq!(j["transfer_output_files"], "run");
        assert_eq!(j["request_GPUs"], serde_json::Value::Null);
        let args: Vec<&str> = j["arguments"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        assert_eq!(
            args,
            ["0", "train", "--data", "train.h5", "--config", "tiny.json", "--out", "run", "--resume", "auto", "--max-seconds", "1200", "--exit-code-after-checkpoint", "85"]
        );
    }
}

/// The parameter values of a model directory (the weights file itself also holds random
/// parameter ids, so its bytes differ between identical runs).
fn weights(dir: &Path) -> Vec<Vec<f32>> {
    use tdsm_core::bundle::{load_model, parameter_values, ModelCard};
    type B = burn::backend::NdArray<f32>;
    let card = ModelCard::from_json(&std::fs::read_to_string(dir.join("model.json")).unwrap()).unwrap();
    let bytes = std::fs::read(dir.join("weights.mpk")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let model = load_model::<B>(&card, &bytes, &Default::default()).unwrap();
    let v = parameter_values::<B, _>(&model);
    assert!(v.iter().map(Vec::len).sum::<usize>() > 1000);
    v
}

fn checkpoint_step(out: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(out.join("checkpoint/state.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["step"].as_u64().map(|x| x as usize)
}

#[test]
fn training_killed_with_sigkill_resumes_to_the_same_weights() {
    const STEPS: usize = 1500;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (data, cfg, _) = setup(d, STEPS, 10, false);
    let train = |out: &Path| -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tdsm"));
        c.args(["train", "--data", s(&data), "--config", s(&cfg), "--out", s(out)]);
        c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        c
    };
    let full = d.join("full");
    assert!(train(&full).status().unwrap().success());

    let killed = d.join("killed");
    let mut child = train(&killed).spawn().unwrap();
    let t0 = Instant::now();
    let at = loop {
        if let Some(step) = checkpoint_step(&killed).filter(|&k| k >= 30) {
            break step;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed; raise STEPS");
        assert!(t0.elapsed() < Duration::from_secs(300), "no checkpoint after 300 s");
        std::thread::sleep(Duration::from_millis(5));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let left = checkpoint_step(&killed).unwrap();
    assert!(left >= at && left < STEPS, "killed at step {left} of {STEPS}");
    assert!(!killed.join("weights.mpk").exists(), "a killed run left a final model");
    // the re-queued job: same command with --resume auto
    let o = train(&killed).args(["--resume", "auto"]).stderr(std::process::Stdio::piped()).output().unwrap();
    assert!(o.status.success(), "resume failed: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(checkpoint_step(&killed), Some(STEPS));
    assert!(weights(&killed) == weights(&full), "resumed after SIGKILL at step {left}: weights differ from the uninterrupted run");
    eprintln!("killed at step {left} of {STEPS}; resumed run equals the uninterrupted one");
}

#[test]
fn self_checkpointing_restarts_reach_the_same_weights() {
    // --max-seconds 0: every execution does one step, checkpoints and exits with 85, as an
    // HTCondor job does at each checkpoint; the loop restarts it like the schedd.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (data, cfg, _) = setup(d, 5, 100, false);
    let full = d.join("full");
    ok(&["train", "--data", s(&data), "--config", s(&cfg), "--out", s(&full)]);
    let run = d.join("run");
    let mut codes = vec![];
    loop {
        let o = tdsm(&["train", "--data", s(&data), "--config", s(&cfg), "--out", s(&run), "--resume", "auto", "--max-seconds", "0", "--exit-code-after-checkpoint", "85"]);
        let code = o.status.code().unwrap();
        codes.push(code);
        if code != 85 {
            assert_eq!(code, 0, "{}", String::from_utf8_lossy(&o.stderr));
            break;
        }
        assert!(String::from_utf8_lossy(&o.stderr).contains("exiting with code 85"));
        assert!(!run.join("weights.mpk").exists(), "a checkpoint exit wrote a final model");
        assert!(codes.len() < 10, "no end: {codes:?}");
    }
    assert_eq!(codes, [85, 85, 85, 85, 0]);
    assert!(weights(&run) == weights(&full), "restarted run differs from the uninterrupted one");
}
