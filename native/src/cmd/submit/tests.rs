//! Unit tests of `tdsm submit`: option parsing, the job plan, and the text of the files written
//! for each scheduler. (The Slurm files are run by a real Slurm in `tests/slurm.rs`; the
//! HTCondor files are expanded by HTCondor's own parser in `tests/htcondor.rs`.)

use super::*;
use clap::Parser;
use tdsm_core::bundle::{ModelCard, FORMAT_VERSION};
use tdsm_core::hitcount::HitCountModel;
use tdsm_core::model::ScoreNetConfig;
use tdsm_core::sde::SdeConfig;
use tdsm_core::train::TrainConfig;
use tdsm_core::transform::Transform;
use tdsm_core::GeometryKind;

fn card() -> ModelCard {
    let pairs: Vec<(f32, usize)> = (0..100).map(|i| ((i % 10) as f32 / 10.0, 3 + i % 20)).collect();
    ModelCard {
        format_version: FORMAT_VERSION,
        geometry: GeometryKind::Ds1Photons,
        net: ScoreNetConfig { embed_dim: 8, hidden_dim: 8, n_layers: 1, n_heads: 2, dropout: 0.0, block: Default::default(), fourier_scale: 30.0 },
        sde: SdeConfig::default(),
        transform: Transform::for_geometry(GeometryKind::Ds1Photons),
        hitcount: HitCountModel::fit(&pairs, 5, 5).unwrap(),
        response: None,
        hit_threshold_mev: 1.0,
        sample_eps: 1e-3,
        train: TrainConfig::default(),
        trained_steps: 0,
    }
}

/// A working directory with a model directory `model/`, a data file `train.h5` and a fake binary.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        crate::model_dir::save(&dir.path().join("model"), &card(), b"weights").unwrap();
        std::fs::write(dir.path().join("train.h5"), b"data").unwrap();
        std::fs::write(dir.path().join("tdsm"), b"binary").unwrap();
        Sandbox { dir }
    }

    fn cwd(&self) -> &Path {
        self.dir.path()
    }

    fn plan(&self, line: &str) -> Result<JobSpec> {
        let words = std::iter::once("tdsm").chain(line.split_whitespace());
        let cli = Cli::try_parse_from(words).map_err(|e| anyhow!("{}", clap_line(&e)))?;
        let Command::Submit(a) = cli.command else { panic!("not a submit command") };
        plan(&a, self.cwd(), Path::new("tdsm"), &self.cwd().join("jobs"))
    }
}

#[test]
fn memory_sizes_parse_to_mib() {
    assert_eq!(parse_memory_mb("8GB"), Ok(8192));
    assert_eq!(parse_memory_mb("8G"), Ok(8192));
    assert_eq!(parse_memory_mb("1.5GiB"), Ok(1536));
    assert_eq!(parse_memory_mb("2000MB"), Ok(2000));
    assert_eq!(parse_memory_mb("2000"), Ok(2000));
    assert_eq!(parse_memory_mb("65536K"), Ok(64));
    assert_eq!(parse_memory_mb("1T"), Ok(1_048_576));
    assert!(parse_memory_mb("8 parsecs").is_err());
    assert!(parse_memory_mb("0").is_err());
    assert!(parse_memory_mb("-1G").is_err());
}

#[test]
fn time_limits_parse_to_seconds_and_print_in_slurm_form() {
    assert_eq!(parse_time_s("90"), Ok(5400));
    assert_eq!(parse_time_s("90m"), Ok(5400));
    assert_eq!(parse_time_s("2h"), Ok(7200));
    assert_eq!(parse_time_s("1d"), Ok(86_400));
    assert_eq!(parse_time_s("45s"), Ok(45));
    assert_eq!(parse_time_s("02:30:00"), Ok(9000));
    assert_eq!(parse_time_s("1-12:00:00"), Ok(129_600));
    assert_eq!(parse_time_s("2-06"), Ok(194_400));
    assert!(parse_time_s("0").is_err());
    assert!(parse_time_s("soon").is_err());
    assert!(parse_time_s("1:2").is_err());
    assert_eq!(slurm_time(9000), "02:30:00");
    assert_eq!(slurm_time(129_600 + 61), "1-12:01:01");
}

#[test]
fn flavours_are_the_lxplus_names() {
    assert_eq!(parse_flavour("espresso").unwrap().seconds(), 20 * 60);
    assert_eq!(parse_flavour("Workday").unwrap(), Flavour::Workday);
    assert_eq!(parse_flavour("nextweek").unwrap().seconds(), 7 * 86_400);
    let e = parse_flavour("cappuccino").unwrap_err();
    assert!(e.contains("espresso (20 min)") && e.contains("nextweek (7 d)"), "{e}");
}

#[test]
fn shell_words_are_quoted_and_the_index_expands() {
    assert_eq!(sh_word("plain-word_1.h5", "i"), "plain-word_1.h5");
    assert_eq!(sh_word("two words", "i"), "'two words'");
    assert_eq!(sh_word("it's", "i"), "'it'\\''s'");
    assert_eq!(sh_word("gen_{i}.h5", "i"), "\"gen_${i}.h5\"");
    assert_eq!(sh_word("$HOME/gen_{i}.h5", "i"), "\"\\$HOME/gen_${i}.h5\"");
    assert_eq!(sh_word("", "i"), "''");
}

#[test]
fn htcondor_arguments_use_the_new_quoting() {
    assert_eq!(htcondor::condor_arg("gen_{i}.h5"), "gen_$(ProcId).h5");
    assert_eq!(htcondor::condor_arg("a b"), "'a b'");
    assert_eq!(htcondor::condor_arg("it's"), "'it''s'");
    assert_eq!(htcondor::condor_arg("say\"hi\""), "say\"\"hi\"\"");
    assert_eq!(htcondor::condor_arg("$x"), "$(DOLLAR)x");
}

#[test]
fn a_sample_array_on_slurm() {
    let sb = Sandbox::new();
    let spec = sb
        .plan("submit --scheduler slurm --shards 4 --memory 2G --time 1h --partition gpu --gpus 1 -- sample --model model --n 1000 --seed 7 --out out/gen_{i}.h5")
        .unwrap();
    assert_eq!(spec.kind, JobKind::Sample);
    assert_eq!(spec.jobs, 4);
    assert_eq!(spec.memory_mb, 2048);
    assert_eq!(spec.time_s, 3600);
    assert_eq!(spec.workdir, sb.cwd());
    assert_eq!(
        spec.args,
        ["sample", "--model", "model", "--n", "1000", "--seed", "7", "--out", "out/gen_{i}.h5", "--device", "auto", "--shard", "{i}/4"]
    );
    let text = slurm::script(&spec);
    for line in [
        "#SBATCH --array=0-3",
        "#SBATCH --mem=2048M",
        "#SBATCH --time=01:00:00",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --partition=gpu",
        "#SBATCH --cpus-per-task=1",
        "export HDF5_USE_FILE_LOCKING=FALSE",
        "\"$TDSM\" sample --model model --n 1000 --seed 7 --out \"out/gen_${i}.h5\" --device auto --shard \"${i}/4\"",
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
    }
    assert!(text.contains("\"$TDSM\" doctor --list ||"), "the job lists its devices first");
    assert!(text.contains(&format!("#SBATCH --chdir={}", sb.cwd().display())));
    assert!(!text.contains("--requeue"), "sample jobs are not requeued");
}

#[test]
fn a_sample_array_on_htcondor_transfers_its_inputs_and_outputs() {
    let sb = Sandbox::new();
    let spec = sb.plan("submit --scheduler htcondor --shards 3 --flavour workday --memory 4GB -- sample --model model --n 300 --out out/gen_{i}.h5").unwrap();
    let model = sb.cwd().join("model");
    assert_eq!(spec.inputs, vec![model]);
    assert_eq!(spec.outputs, vec!["gen_{i}.h5".to_string(), "gen_{i}.h5.json".to_string()]);
    assert_eq!(spec.workdir, sb.cwd().join("out"));
    // inside the sandbox the command uses the transferred names
    assert_eq!(spec.args, ["sample", "--model", "model", "--n", "300", "--out", "gen_{i}.h5", "--shard", "{i}/3"]);
    let sub = htcondor::submit_file(&spec);
    for (k, v) in [
        ("queue 3", ""),
        ("request_memory", "4096"),
        ("+JobFlavour", "\"workday\""),
        ("transfer_output_files", "gen_$(ProcId).h5, gen_$(ProcId).h5.json"),
        ("arguments", "\"$(ProcId) sample --model model --n 300 --out gen_$(ProcId).h5 --shard $(ProcId)/3\""),
    ] {
        let want = if v.is_empty() { k.to_string() } else { format!("{k:<25} = {v}") };
        assert!(sub.lines().any(|l| l == want), "no line {want:?} in\n{sub}");
    }
    assert!(!sub.contains("request_GPUs"), "no GPUs asked for");
    let wrapper = htcondor::wrapper(&spec);
    assert!(wrapper.contains("export HDF5_USE_FILE_LOCKING=FALSE"));
    assert!(wrapper.contains("\"$TDSM\" doctor --list"));
    assert!(wrapper.contains("\"$TDSM\" \"$@\""));
}

#[test]
fn eos_paths_are_read_in_place_and_outputs_staged_out() {
    let sb = Sandbox::new();
    let spec = sb.plan("submit --scheduler htcondor --shards 2 -- sample --model model --n 10 --out /eos/user/x/gen_{i}.h5").unwrap();
    assert!(spec.outputs.is_empty(), "EOS outputs are not transferred by the schedd");
    assert_eq!(spec.stage_out[0], ("gen_{i}.h5".to_string(), PathBuf::from("/eos/user/x/gen_{i}.h5")));
    let wrapper = htcondor::wrapper(&spec);
    assert!(wrapper.contains("stage_out \"gen_${i}.h5\" \"/eos/user/x/gen_${i}.h5\""), "{wrapper}");
}

#[test]
fn a_training_job_checkpoints_and_restarts() {
    let sb = Sandbox::new();
    let spec = sb.plan("submit --scheduler htcondor --gpus 1 --checkpoint-minutes 20 -- train --data train.h5 --preset demo --out run1").unwrap();
    assert_eq!(spec.kind, JobKind::Train);
    let c = spec.checkpoint.clone().unwrap();
    assert_eq!((c.exit_code, c.max_seconds), (85, 1200));
    assert_eq!(c.files, vec!["run1".to_string()]);
    assert_eq!(
        spec.args,
        ["train", "--data", "train.h5", "--preset", "demo", "--out", "run1", "--device", "auto", "--resume", "auto", "--max-seconds", "1200", "--exit-code-after-checkpoint", "85"]
    );
    let sub = htcondor::submit_file(&spec);
    assert!(sub.lines().any(|l| l == format!("{:<25} = 85", "checkpoint_exit_code")), "{sub}");
    assert!(sub.lines().any(|l| l == format!("{:<25} = run1", "transfer_checkpoint_files")), "{sub}");
    assert!(sub.lines().any(|l| l == format!("{:<25} = 1", "request_GPUs")), "{sub}");

    // Slurm: stop shortly before the time limit and requeue
    let spec = sb.plan("submit --scheduler slurm --time 2h -- train --data train.h5 --out run1").unwrap();
    assert_eq!(spec.checkpoint.as_ref().unwrap().max_seconds, 7200 - 720);
    let text = slurm::script(&spec);
    assert!(text.contains("#SBATCH --requeue"));
    assert!(text.contains("scontrol requeue \"${SLURM_JOB_ID}\""));
}

#[test]
fn impossible_submissions_are_refused_with_a_reason() {
    let sb = Sandbox::new();
    let err = |line: &str| format!("{:#}", sb.plan(line).unwrap_err());
    assert!(err("submit --scheduler slurm --shards 4 -- sample --model model --n 10 --out gen.h5").contains("put {i} where the shard index goes"));
    assert!(err("submit --scheduler slurm --shards 2 -- train --data train.h5 --out m").contains("--shards must be 1"));
    assert!(err("submit --scheduler slurm --shards 0 -- sample --model model --n 10").contains("at least 1"));
    assert!(err("submit --scheduler slurm -- evaluate --reference a --generated b").contains("not 'evaluate'"));
    assert!(err("submit --scheduler slurm").contains("give the tdsm command"));
    assert!(err("submit --scheduler slurm --shards 2 -- sample --model nowhere --n 10 --out g_{i}.h5").contains("--model nowhere"));
    assert!(err("submit --scheduler slurm -- train --data missing.h5 --out m").contains("--data missing.h5: no such file"));
    assert!(err("submit --scheduler slurm --shards 2 -- sample --model model --n 10 --shard 0/2 --out g_{i}.h5").contains("sets --shard itself"));
    assert!(err("submit --scheduler htcondor --time 2h -- sample --model model --n 10").contains("--time is for Slurm"));
    assert!(err("submit --scheduler slurm -- sample --model model --n 10 --sampler magic").contains("the sample command after --"));
    assert!(err("submit --scheduler slurm -- train --data train.h5 --out m --resume auto").contains("sets --resume itself"));
}
