//! Slurm back end of `tdsm submit`: one `sbatch --array=0-(N-1)` script; array task
//! `$SLURM_ARRAY_TASK_ID` runs shard `$SLURM_ARRAY_TASK_ID`.

use super::{sh_word, slurm_time, JobKind, JobSpec};

/// The batch script (`job.sbatch`).
pub fn script(spec: &JobSpec) -> String {
    let dir = &spec.job_dir;
    let logs = dir.join("logs");
    let mut s = format!(
        "#!/bin/bash\n\
         # Written by tdsm submit: {n} tdsm {kind} job(s) as a Slurm job array.\n\
         # Submit with: sbatch {file}\n",
        n = spec.jobs,
        kind = spec.kind.name(),
        file = dir.join("job.sbatch").display()
    );
    let mut d = |line: String| s.push_str(&format!("#SBATCH {line}\n"));
    d(format!("--job-name=tdsm-{}", spec.kind.name()));
    d(format!("--array=0-{}", spec.jobs - 1));
    d("--ntasks=1".into());
    d(format!("--cpus-per-task={}", spec.cpus));
    d(format!("--mem={}M", spec.memory_mb));
    d(format!("--time={}", slurm_time(spec.time_s)));
    if spec.gpus > 0 {
        d(format!("--gres=gpu:{}", spec.gpus));
    }
    if let Some(p) = &spec.partition {
        d(format!("--partition={p}"));
    }
    d(format!("--chdir={}", spec.workdir.display()));
    d(format!("--output={}/tdsm_%A_%a.out", logs.display()));
    d(format!("--error={}/tdsm_%A_%a.err", logs.display()));
    d("--open-mode=append".into());
    if spec.kind == JobKind::Train {
        d("--requeue".into());
    }
    s.push_str(&format!(
        "set -u\n\
         i=${{SLURM_ARRAY_TASK_ID:?not running as a Slurm array task}}\n\
         # network file systems (Lustre, GPFS, NFS, EOS, AFS) may not support HDF5's file locks\n\
         export HDF5_USE_FILE_LOCKING=FALSE\n\
         TDSM={tdsm}\n\
         echo \"tdsm {kind} job $i of {n} (Slurm job ${{SLURM_JOB_ID:-?}}) on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)\"\n\
         # the devices this job sees\n\
         \"$TDSM\" doctor --list || echo \"tdsm doctor --list failed (status $?); continuing\" >&2\n",
        tdsm = sh_word(&spec.tdsm.to_string_lossy(), "i"),
        kind = spec.kind.name(),
        n = spec.jobs
    ));
    let words: Vec<String> = spec.args.iter().map(|w| sh_word(w, "i")).collect();
    s.push_str(&format!("\"$TDSM\" {}\nrc=$?\n", words.join(" ")));
    if let Some(c) = &spec.checkpoint {
        s.push_str(&format!(
            "# {code}: stopped after --max-seconds {secs} with a checkpoint written; run again from it\n\
             if [ $rc -eq {code} ]; then\n    \
                 echo \"checkpoint written; requeueing job ${{SLURM_JOB_ID}}\"\n    \
                 scontrol requeue \"${{SLURM_JOB_ID}}\" && exit 0\n\
             fi\n",
            code = c.exit_code,
            secs = c.max_seconds
        ));
    }
    s.push_str("exit $rc\n");
    s
}
