//! `tdsm submit`: writes (and with `--now` submits) a batch job array that runs `tdsm sample`
//! shards or one `tdsm train` job, for HTCondor (CERN's lxplus) or Slurm.
//!
//! The job directory gets a submit description (`job.sub` + wrapper `job.sh` for HTCondor,
//! `job.sbatch` for Slurm) and a `logs/` folder. Sample job `i` of `N` runs
//! `tdsm sample ... --shard i/N --out OUT_i`; merge the shards with `tdsm merge`. A training job
//! runs `tdsm train ... --resume auto --max-seconds S --exit-code-after-checkpoint 85`: after S
//! seconds it writes a checkpoint and exits with 85, upon which HTCondor saves the checkpoint
//! (`checkpoint_exit_code`, `transfer_checkpoint_files`) and restarts it, and the Slurm script
//! requeues itself; so an evicted or preempted job loses at most one checkpoint interval.
//!
//! HTCondor jobs run in a scratch sandbox: the tdsm binary and the inputs are transferred in
//! (`transfer_input_files`) and the outputs back (`transfer_output_files`), except paths under
//! `/eos/`, which the job reads directly and whose outputs the wrapper copies there at the end
//! (the schedds cannot transfer from or to EOS). Slurm jobs run in the submission directory on
//! the cluster's shared file system.

mod htcondor;
mod slurm;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;

use crate::cli::{Cli, Command, Scheduler, SubmitArgs};

/// Exit status with which a training job says "checkpoint written, restart me".
pub const CHECKPOINT_EXIT_CODE: u8 = 85;
/// Minutes of training per execution of an HTCondor training job when not given.
pub const DEFAULT_CHECKPOINT_MINUTES: f64 = 30.0;
/// The placeholder for the shard index in `sample --out`.
pub const INDEX: &str = "{i}";

/// CERN batch run-time classes (HTCondor `+JobFlavour`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// 20 minutes.
    Espresso,
    /// 1 hour.
    Microcentury,
    /// 2 hours.
    Longlunch,
    /// 8 hours.
    Workday,
    /// 1 day.
    Tomorrow,
    /// 3 days.
    Testmatch,
    /// 1 week.
    Nextweek,
}

impl Flavour {
    /// Every flavour, shortest first.
    pub const ALL: [Flavour; 7] = [Self::Espresso, Self::Microcentury, Self::Longlunch, Self::Workday, Self::Tomorrow, Self::Testmatch, Self::Nextweek];

    /// The name used in submit files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Espresso => "espresso",
            Self::Microcentury => "microcentury",
            Self::Longlunch => "longlunch",
            Self::Workday => "workday",
            Self::Tomorrow => "tomorrow",
            Self::Testmatch => "testmatch",
            Self::Nextweek => "nextweek",
        }
    }

    /// The run-time limit, seconds.
    pub fn seconds(self) -> u64 {
        match self {
            Self::Espresso => 20 * 60,
            Self::Microcentury => 3600,
            Self::Longlunch => 2 * 3600,
            Self::Workday => 8 * 3600,
            Self::Tomorrow => 86_400,
            Self::Testmatch => 3 * 86_400,
            Self::Nextweek => 7 * 86_400,
        }
    }
}

/// Parses a flavour name (`--flavour`).
pub fn parse_flavour(s: &str) -> Result<Flavour, String> {
    Flavour::ALL.into_iter().find(|f| f.name() == s.trim().to_ascii_lowercase()).ok_or_else(|| {
        let known: Vec<String> = Flavour::ALL.iter().map(|f| format!("{} ({})", f.name(), human_duration(f.seconds()))).collect();
        format!("unknown flavour '{s}' (known: {})", known.join(", "))
    })
}

/// "20 min", "2 h", "3 d".
fn human_duration(s: u64) -> String {
    match s {
        s if s % 86_400 == 0 && s >= 86_400 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 && s >= 3600 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Parses a memory size (`--memory`) into MiB: `8GB`, `8G`, `8GiB`, `2000MB`, `512M`, `1.5G`,
/// `1T`, `65536K`; a bare number is MB. Must be at least 1 MB.
pub fn parse_memory_mb(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("bad memory size '{s}': expected e.g. 8GB, 2000MB or 1.5G");
    let x: f64 = num.parse().map_err(|_| bad())?;
    let factor = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "M" | "MB" | "MIB" => 1.0,
        "K" | "KB" | "KIB" => 1.0 / 1024.0,
        "G" | "GB" | "GIB" => 1024.0,
        "T" | "TB" | "TIB" => 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let mb = (x * factor).ceil();
    if !(mb.is_finite() && mb >= 1.0) || x <= 0.0 {
        return Err(format!("memory size '{s}' must be at least 1 MB"));
    }
    Ok(mb as u64)
}

/// Parses a time limit (`--time`) into seconds: `90` (minutes), `90m`, `2h`, `1d`, `45s`,
/// `HH:MM:SS`, `D-HH:MM:SS` or `D-HH`.
pub fn parse_time_s(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let bad = || format!("bad time '{s}': expected e.g. 90 (minutes), 2h, 1d, 02:30:00 or 1-12:00:00");
    let num = |x: &str| x.parse::<u64>().map_err(|_| bad());
    let secs = if let Some((d, rest)) = t.split_once('-') {
        let parts: Vec<&str> = rest.split(':').collect();
        let (h, m, sec) = match parts.as_slice() {
            [h] => (num(h)?, 0, 0),
            [h, m] => (num(h)?, num(m)?, 0),
            [h, m, sec] => (num(h)?, num(m)?, num(sec)?),
            _ => return Err(bad()),
        };
        num(d)? * 86_400 + h * 3600 + m * 60 + sec
    } else if t.contains(':') {
        match t.split(':').collect::<Vec<_>>().as_slice() {
            [h, m, sec] => num(h)? * 3600 + num(m)? * 60 + num(sec)?,
            _ => return Err(bad()),
        }
    } else {
        let (n, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
        let n = num(n)?;
        match unit {
            "" | "m" | "min" => n * 60,
            "s" => n,
            "h" => n * 3600,
            "d" => n * 86_400,
            _ => return Err(bad()),
        }
    };
    if secs == 0 {
        return Err(format!("time '{s}' must be positive"));
    }
    Ok(secs)
}

/// Slurm's `--time` format: `D-HH:MM:SS` (or `HH:MM:SS` under a day).
pub fn slurm_time(secs: u64) -> String {
    let (d, r) = (secs / 86_400, secs % 86_400);
    let hms = format!("{:02}:{:02}:{:02}", r / 3600, r % 3600 / 60, r % 60);
    if d > 0 {
        format!("{d}-{hms}")
    } else {
        hms
    }
}

/// What the jobs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// `tdsm sample`, one shard per job.
    Sample,
    /// `tdsm train`, one self-checkpointing job.
    Train,
}

impl JobKind {
    /// The tdsm subcommand.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sample => "sample",
            Self::Train => "train",
        }
    }
}

/// Self-checkpointing of a training job.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpointing {
    /// Exit status meaning "checkpoint written, restart me".
    pub exit_code: u8,
    /// Seconds of training per execution (`tdsm train --max-seconds`).
    pub max_seconds: u64,
    /// Sandbox paths HTCondor saves at each checkpoint exit (the model directory).
    pub files: Vec<String>,
}

/// Everything a scheduler back end needs to write a job array. Paths are absolute. Words and
/// names may contain [`INDEX`], which each back end replaces by its shard-index variable.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// What the jobs run.
    pub kind: JobKind,
    /// Number of jobs (array size).
    pub jobs: usize,
    /// GPUs per job.
    pub gpus: usize,
    /// CPU cores per job.
    pub cpus: usize,
    /// Memory per job, MiB.
    pub memory_mb: u64,
    /// Run-time class.
    pub flavour: Flavour,
    /// Time limit, seconds (Slurm).
    pub time_s: u64,
    /// Slurm partition.
    pub partition: Option<String>,
    /// The job directory (submit file, wrapper, logs).
    pub job_dir: PathBuf,
    /// Directory the jobs start in (Slurm `--chdir`) or where outputs come back (HTCondor
    /// `initialdir`).
    pub workdir: PathBuf,
    /// The tdsm binary.
    pub tdsm: PathBuf,
    /// The tdsm command line, subcommand first.
    pub args: Vec<String>,
    /// HTCondor: files and directories transferred into the sandbox (besides the binary).
    pub inputs: Vec<PathBuf>,
    /// HTCondor: sandbox names transferred back to `workdir` when a job ends.
    pub outputs: Vec<String>,
    /// HTCondor: (sandbox name, EOS path) copied into the sandbox at start when missing there.
    pub stage_in: Vec<(String, PathBuf)>,
    /// HTCondor: (sandbox name, EOS path) copied to EOS when the command succeeds.
    pub stage_out: Vec<(String, PathBuf)>,
    /// Training: self-checkpointing.
    pub checkpoint: Option<Checkpointing>,
}

/// Whether `p` is on EOS (read and written directly by HTCondor jobs, never transferred).
pub fn on_eos(p: &Path) -> bool {
    p.starts_with("/eos")
}

/// The command's value of `--name` (as `--name V` or `--name=V`), if any.
fn option_value<'a>(words: &'a [String], name: &str) -> Option<&'a str> {
    let eq = format!("{name}=");
    words.iter().enumerate().find_map(|(k, w)| {
        if w == name {
            words.get(k + 1).map(|s| s.as_str())
        } else {
            w.strip_prefix(&eq)
        }
    })
}

/// Whether the command has the option `--name`.
fn has_option(words: &[String], name: &str) -> bool {
    let eq = format!("{name}=");
    words.iter().any(|w| w == name || w.starts_with(&eq))
}

/// Replaces the value of `--name` by `f(value)`, normalising `--name=V` to two words.
fn map_option(words: &mut Vec<String>, name: &str, f: &dyn Fn(&str) -> String) {
    let eq = format!("{name}=");
    let mut k = 0;
    while k < words.len() {
        if words[k] == name && k + 1 < words.len() {
            words[k + 1] = f(&words[k + 1]);
            k += 2;
        } else if let Some(v) = words[k].strip_prefix(&eq) {
            let v = f(v);
            words[k] = name.to_string();
            words.insert(k + 1, v);
            k += 2;
        } else {
            k += 1;
        }
    }
}

/// One line of a clap error (as `tdsm` prints its own usage errors).
fn clap_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first: Vec<&str> = text.lines().map(str::trim).take_while(|l| !l.is_empty()).collect();
    let line = first.join(" ");
    line.strip_prefix("error:").unwrap_or(&line).trim().to_string()
}

fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

fn file_name(p: &Path) -> Result<String> {
    p.file_name().map(|s| s.to_string_lossy().into_owned()).ok_or_else(|| anyhow!("{}: not a file or directory name", p.display()))
}

/// Builds the job description from the arguments (`cwd`: where relative paths start; `tdsm`:
/// the binary the jobs run; `job_dir`: absolute job directory). Checks everything that can be
/// checked before submission.
pub fn plan(a: &SubmitArgs, cwd: &Path, tdsm: &Path, job_dir: &Path) -> Result<JobSpec> {
    let words = &a.command;
    let Some(sub) = words.first() else {
        bail!("give the tdsm command the jobs run after --, e.g. tdsm submit --scheduler slurm --shards 4 -- sample --model M --n 100000 --out gen_{{i}}.h5");
    };
    let kind = match sub.as_str() {
        "sample" => JobKind::Sample,
        "train" => JobKind::Train,
        other => bail!("tdsm submit runs sample or train jobs, not '{other}' (the command after -- must start with sample or train)"),
    };
    if a.shards == 0 {
        bail!("--shards must be at least 1");
    }
    if kind == JobKind::Train && a.shards != 1 {
        bail!("train runs as one job: --shards must be 1, got {}", a.shards);
    }
    if a.cpus == 0 {
        bail!("--cpus must be at least 1");
    }
    let htcondor = a.scheduler == Scheduler::Htcondor;
    if htcondor && a.time.is_some() {
        bail!("--time is for Slurm; on HTCondor the run time is set by --flavour");
    }
    if htcondor && a.partition.is_some() {
        bail!("--partition is for Slurm");
    }
    if let Some(m) = a.checkpoint_minutes {
        if kind != JobKind::Train {
            bail!("--checkpoint-minutes is for train jobs");
        }
        if !(m.is_finite() && m > 0.0) {
            bail!("--checkpoint-minutes must be positive, got {m}");
        }
    }
    let own: &[(&str, &str)] = match kind {
        JobKind::Sample => &[("--shard", "one shard per job")],
        JobKind::Train => &[("--resume", "--resume auto"), ("--max-seconds", "--max-seconds from --checkpoint-minutes"), ("--exit-code-after-checkpoint", "--exit-code-after-checkpoint 85")],
    };
    for (opt, what) in own {
        if has_option(words, opt) {
            bail!("tdsm submit sets {opt} itself ({what}); remove {opt} from the {} command", kind.name());
        }
    }

    // validate the command as tdsm itself would parse it
    let mut words: Vec<String> = words.clone();
    if kind == JobKind::Sample && !has_option(&words, "--out") {
        words.push("--out".into());
        words.push(format!("shard_{INDEX}.h5"));
    }
    let parsed = Cli::try_parse_from(std::iter::once("tdsm".to_string()).chain(words.iter().cloned())).map_err(|e| anyhow!("the {} command after --: {}", kind.name(), clap_line(&e)))?;

    if !htcondor {
        for p in [cwd, job_dir] {
            if p.to_string_lossy().contains(|c: char| c.is_whitespace() || c == '%') {
                bail!("{}: Slurm job directives cannot hold paths with spaces or '%'; use another directory", p.display());
            }
        }
    }
    let time_s = a.time.unwrap_or(a.flavour.seconds());
    let mut spec = JobSpec {
        kind,
        jobs: a.shards,
        gpus: a.gpus,
        cpus: a.cpus,
        memory_mb: a.memory,
        flavour: a.flavour,
        time_s,
        partition: a.partition.clone(),
        job_dir: job_dir.to_path_buf(),
        workdir: cwd.to_path_buf(),
        tdsm: absolute(cwd, tdsm),
        args: vec![],
        inputs: vec![],
        outputs: vec![],
        stage_in: vec![],
        stage_out: vec![],
        checkpoint: None,
    };
    if !spec.tdsm.is_file() {
        bail!("--tdsm {}: no such file", spec.tdsm.display());
    }
    // (option, path, is a directory) of every input of the command
    let mut inputs: Vec<(&str, PathBuf, bool)> = vec![];
    let out: PathBuf;
    match parsed.command {
        Command::Sample(s) => {
            let name = file_name(&s.out)?;
            if s.out.parent().is_some_and(|p| p.to_string_lossy().contains(INDEX)) {
                bail!("--out {}: put {INDEX} in the file name, not in a directory", s.out.display());
            }
            if a.shards > 1 && !name.contains(INDEX) {
                let stem = s.out.with_extension("");
                bail!(
                    "--out {}: {} shards write one file each; put {INDEX} where the shard index goes, e.g. --out {}_{INDEX}.h5",
                    s.out.display(),
                    a.shards,
                    stem.display()
                );
            }
            crate::model_dir::read_card(&absolute(cwd, &s.model)).with_context(|| format!("--model {}", s.model.display()))?;
            inputs.push(("--model", s.model.clone(), true));
            if let Some(e) = &s.energies {
                if !absolute(cwd, e).is_file() {
                    bail!("--energies {}: no such file", e.display());
                }
                inputs.push(("--energies", e.clone(), false));
            }
            out = s.out.clone();
        }
        Command::Train(t) => {
            if !absolute(cwd, &t.data).is_file() {
                bail!("--data {}: no such file", t.data.display());
            }
            inputs.push(("--data", t.data.clone(), false));
            if let Some(c) = &t.config {
                if !absolute(cwd, c).is_file() {
                    bail!("--config {}: no such file", c.display());
                }
                inputs.push(("--config", c.clone(), false));
            }
            if t.out.to_string_lossy().contains(INDEX) {
                bail!("--out {}: {INDEX} is for sample shards", t.out.display());
            }
            out = t.out.clone();
        }
        _ => unreachable!("checked above"),
    }
    let out_abs = absolute(cwd, &out);
    let out_dir = out_abs.parent().map(Path::to_path_buf).unwrap_or_else(|| cwd.to_path_buf());

    if htcondor {
        let mut names = vec!["tdsm".to_string(), "job.sh".to_string()];
        let mut claim = |n: &str, what: &str| -> Result<()> {
            if names.iter().any(|m| m == n) {
                bail!("{what}: two inputs or outputs would have the same name '{n}' in the job's sandbox; rename one");
            }
            names.push(n.to_string());
            Ok(())
        };
        for (opt, p, _) in &inputs {
            let abs = absolute(cwd, p);
            if !on_eos(&abs) {
                let name = file_name(&abs)?;
                claim(&name, opt)?;
                check_transferable(&abs)?;
                spec.inputs.push(abs);
                map_option(&mut words, opt, &|_| name.clone());
            } else {
                map_option(&mut words, opt, &|_| abs.to_string_lossy().into_owned());
            }
        }
        let name = file_name(&out_abs)?;
        claim(&name, "--out")?;
        map_option(&mut words, "--out", &|_| name.clone());
        let produced: Vec<String> = match kind {
            JobKind::Sample => vec![name.clone(), format!("{name}.json")],
            JobKind::Train => vec![name.clone()],
        };
        if on_eos(&out_abs) {
            for n in &produced {
                spec.stage_out.push((n.clone(), out_dir.join(n)));
            }
            if kind == JobKind::Train {
                spec.stage_in.push((name.clone(), out_abs.clone()));
            }
            spec.workdir = job_dir.to_path_buf();
        } else {
            check_transferable(&out_abs)?;
            if kind == JobKind::Train && out_abs.is_dir() {
                // continue the run already there (--resume auto)
                spec.inputs.push(out_abs.clone());
            }
            spec.outputs = produced;
            spec.workdir = out_dir.clone();
        }
    }

    // arguments tdsm submit adds
    let mut extra: Vec<String> = vec![];
    if a.gpus > 0 && !has_option(&words, "--device") {
        extra.extend(["--device".into(), "auto".into()]);
    }
    match kind {
        JobKind::Sample => extra.extend(["--shard".into(), format!("{INDEX}/{}", a.shards)]),
        JobKind::Train => {
            let max_seconds = match (a.checkpoint_minutes, htcondor) {
                (Some(m), _) => (m * 60.0).round().max(1.0) as u64,
                (None, true) => (DEFAULT_CHECKPOINT_MINUTES * 60.0) as u64,
                // stop and requeue shortly before the time limit
                (None, false) => time_s.saturating_sub((time_s / 10).clamp(60, 900)).max(time_s / 2).max(1),
            };
            extra.extend(["--resume".into(), "auto".into(), "--max-seconds".into(), max_seconds.to_string()]);
            extra.extend(["--exit-code-after-checkpoint".into(), CHECKPOINT_EXIT_CODE.to_string()]);
            let files = if htcondor { vec![file_name(&out_abs)?] } else { vec![] };
            spec.checkpoint = Some(Checkpointing { exit_code: CHECKPOINT_EXIT_CODE, max_seconds, files });
        }
    }
    words.extend(extra);
    for w in &words {
        if w.contains('\n') || w.contains('\r') {
            bail!("the command after -- has an argument with a line break, which job files cannot carry");
        }
    }
    spec.args = words;
    Ok(spec)
}

/// HTCondor's transfer lists are comma and space separated.
fn check_transferable(p: &Path) -> Result<()> {
    let s = p.to_string_lossy();
    if s.contains(|c: char| c == ',' || c.is_whitespace()) {
        bail!("{s}: HTCondor cannot transfer paths with commas or spaces; move or link it elsewhere");
    }
    Ok(())
}

/// Quotes `s` as one word for a POSIX shell; [`INDEX`] becomes `${var}`.
pub fn sh_word(s: &str, var: &str) -> String {
    if s.contains(INDEX) {
        let mut o = String::from("\"");
        for (k, part) in s.split(INDEX).enumerate() {
            if k > 0 {
                o.push_str(&format!("${{{var}}}"));
            }
            for c in part.chars() {
                if matches!(c, '"' | '\\' | '$' | '`') {
                    o.push('\\');
                }
                o.push(c);
            }
        }
        o.push('"');
        o
    } else if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The files of a job directory, (name, text, executable), the one to submit last.
pub fn job_files(spec: &JobSpec, scheduler: Scheduler) -> Vec<(&'static str, String, bool)> {
    match scheduler {
        Scheduler::Htcondor => vec![("job.sh", htcondor::wrapper(spec), true), ("job.sub", htcondor::submit_file(spec), false)],
        Scheduler::Slurm => vec![("job.sbatch", slurm::script(spec), true)],
    }
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename, so that
/// the file is either absent or complete.
fn write_file(path: &Path, text: &str, executable: bool) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp{}", file_name(path)?, std::process::id()));
    let res = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(if executable { 0o755 } else { 0o644 }))?;
        }
        std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
    })();
    if res.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    res
}

/// Finds `prog` in PATH.
fn in_path(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(prog)).find(|p| p.is_file())
}

/// Runs `cmd`, killing it after `timeout`; returns its exit status.
fn run_with_timeout(cmd: &mut Process, timeout: Option<u64>, what: &str) -> Result<std::process::ExitStatus> {
    let mut child = cmd.spawn().with_context(|| format!("cannot run {what}"))?;
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(st);
        }
        if let Some(t) = timeout {
            if t0.elapsed() >= Duration::from_secs(t) {
                child.kill().ok();
                child.wait().ok();
                bail!("gave up waiting after {t} s; the jobs are still queued");
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The user log's non-zero job return values (HTCondor).
fn condor_failures(log: &Path) -> Vec<String> {
    let mut text = String::new();
    if std::fs::File::open(log).and_then(|mut f| f.read_to_string(&mut text)).is_err() {
        return vec![];
    }
    text.lines()
        .filter_map(|l| l.split("(return value ").nth(1))
        .filter_map(|r| r.split(')').next())
        .filter(|v| v.trim() != "0")
        .map(|v| v.trim().to_string())
        .collect()
}

/// Runs the command.
pub fn run(a: SubmitArgs) -> Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let tdsm = match &a.tdsm {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("cannot locate the tdsm binary; give --tdsm")?,
    };
    let job_dir = absolute(&cwd, &a.dir.clone().unwrap_or_else(|| {
        let kind = a.command.first().map(String::as_str).unwrap_or("job");
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        PathBuf::from("tdsm-jobs").join(format!("{kind}-{t}"))
    }));
    let spec = plan(&a, &cwd, &tdsm, &job_dir)?;
    let (submit_prog, sched) = match a.scheduler {
        Scheduler::Htcondor => ("condor_submit", "HTCondor"),
        Scheduler::Slurm => ("sbatch", "Slurm"),
    };
    let prog = if a.now {
        let p = in_path(submit_prog).ok_or_else(|| anyhow!("--now: {submit_prog} not found in PATH (submit from a host with the {sched} client tools, or drop --now)"))?;
        if a.wait && a.scheduler == Scheduler::Htcondor && in_path("condor_wait").is_none() {
            bail!("--wait: condor_wait not found in PATH");
        }
        Some(p)
    } else {
        None
    };

    let files = job_files(&spec, a.scheduler);
    for (name, _, _) in &files {
        if job_dir.join(name).exists() {
            bail!("{} already holds a job ({name}); choose another --dir", job_dir.display());
        }
    }
    std::fs::create_dir_all(job_dir.join("logs")).with_context(|| format!("cannot create {}", job_dir.join("logs").display()))?;
    // outputs land next to --out: make sure that directory exists (not on EOS from here)
    if !(a.scheduler == Scheduler::Htcondor && !spec.stage_out.is_empty()) {
        let out = option_value(&a.command, "--out").map(|o| absolute(&cwd, Path::new(o)));
        if let Some(dir) = out.as_deref().and_then(Path::parent) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    for (name, text, exec) in &files {
        write_file(&job_dir.join(name), text, *exec)?;
    }
    let main_file = job_dir.join(files[files.len() - 1].0);
    eprintln!("wrote {} tdsm {} job(s) for {sched} to {}", spec.jobs, spec.kind.name(), job_dir.display());
    if spec.kind == JobKind::Sample {
        let out = option_value(&a.command, "--out").unwrap_or("shard_{i}.h5");
        let list: Vec<String> = if spec.jobs <= 8 {
            (0..spec.jobs).map(|i| sh_word(&out.replace(INDEX, &i.to_string()), "i")).collect()
        } else {
            // bash brace expansion
            let (a, b) = out.split_once(INDEX).unwrap_or((out, ""));
            vec![format!("{}{{0..{}}}{}", sh_word(a, "i"), spec.jobs - 1, sh_word(b, "i"))]
        };
        eprintln!("when all jobs have finished: tdsm merge --out MERGED.h5 {}", list.join(" "));
    }
    let Some(prog) = prog else {
        eprintln!("submit with: {submit_prog} {}", main_file.display());
        return Ok(());
    };

    match a.scheduler {
        Scheduler::Slurm => {
            let mut cmd = Process::new(&prog);
            if a.wait {
                cmd.arg("--wait");
            }
            cmd.arg(&main_file).current_dir(&cwd);
            let st = run_with_timeout(&mut cmd, a.timeout, "sbatch").map_err(|e| anyhow!("{e:#} (squeue to see them, scancel to remove them)"))?;
            if !st.success() {
                if a.wait {
                    bail!("a job failed or sbatch failed ({st}); see {}", job_dir.join("logs").display());
                }
                bail!("sbatch failed ({st})");
            }
        }
        Scheduler::Htcondor => {
            let o = Process::new(&prog).arg(&main_file).current_dir(&job_dir).output().context("cannot run condor_submit")?;
            print!("{}", String::from_utf8_lossy(&o.stdout));
            if !o.status.success() {
                bail!("condor_submit failed ({}): {}", o.status, String::from_utf8_lossy(&o.stderr).trim().replace('\n', " "));
            }
            if a.wait {
                let text = String::from_utf8_lossy(&o.stdout);
                let cluster = text
                    .split("submitted to cluster")
                    .nth(1)
                    .and_then(|r| r.trim().trim_end_matches('.').split(|c: char| !c.is_ascii_digit()).next().map(str::to_string))
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| anyhow!("--wait: cannot read the cluster id from condor_submit's output"))?;
                let log = job_dir.join("logs").join(format!("job_{cluster}.log"));
                let mut cmd = Process::new("condor_wait");
                cmd.arg(&log);
                let st = run_with_timeout(&mut cmd, a.timeout, "condor_wait").map_err(|e| anyhow!("{e:#} (condor_q {cluster} to see them, condor_rm {cluster} to remove them)"))?;
                if !st.success() {
                    bail!("condor_wait failed ({st})");
                }
                let bad = condor_failures(&log);
                if !bad.is_empty() {
                    bail!("{} job(s) of cluster {cluster} failed (return values {}); see {}", bad.len(), bad.join(", "), job_dir.join("logs").display());
                }
            }
        }
    }
    if a.wait {
        eprintln!("all {} job(s) finished", spec.jobs);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
