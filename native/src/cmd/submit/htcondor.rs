//! HTCondor back end of `tdsm submit`: a submit file with `queue N` (job `$(ProcId)` runs shard
//! `$(ProcId)`) and the wrapper script it runs in the job's sandbox.

use super::{sh_word, JobKind, JobSpec, INDEX};

/// Makes `s` safe from submit-file macro expansion (`$` is written `$(DOLLAR)`); [`INDEX`]
/// becomes `$(ProcId)`.
fn macro_text(s: &str) -> String {
    s.replace('$', "$(DOLLAR)").replace(INDEX, "$(ProcId)")
}

/// One argument in HTCondor's `arguments = "..."` syntax: single quotes group a word with spaces
/// (`''` is a literal single quote), `""` is a literal double quote.
pub fn condor_arg(s: &str) -> String {
    let t = macro_text(s).replace('"', "\"\"");
    if t.is_empty() || t.contains(char::is_whitespace) || t.contains('\'') {
        format!("'{}'", t.replace('\'', "''"))
    } else {
        t
    }
}

/// The value of `arguments`: the shard index, then the tdsm command.
pub fn arguments(spec: &JobSpec) -> String {
    let words: Vec<String> = std::iter::once("$(ProcId)".to_string()).chain(spec.args.iter().map(|w| condor_arg(w))).collect();
    format!("\"{}\"", words.join(" "))
}

/// The submit file (`job.sub`).
pub fn submit_file(spec: &JobSpec) -> String {
    let dir = &spec.job_dir;
    let logs = dir.join("logs");
    let path = |p: &std::path::Path| macro_text(&p.to_string_lossy());
    let mut s = String::new();
    let mut kv = |k: &str, v: String| s.push_str(&format!("{k:<25} = {v}\n"));
    let header = format!(
        "# Written by tdsm submit: {} tdsm {} job(s) for HTCondor.\n# Submit with: condor_submit {}\n",
        spec.jobs,
        spec.kind.name(),
        path(&dir.join("job.sub"))
    );
    kv("universe", "vanilla".into());
    kv("executable", path(&dir.join("job.sh")));
    kv("arguments", arguments(spec));
    kv("initialdir", path(&spec.workdir));
    kv("output", format!("{}/job_$(ClusterId)_$(ProcId).out", path(&logs)));
    kv("error", format!("{}/job_$(ClusterId)_$(ProcId).err", path(&logs)));
    kv("log", format!("{}/job_$(ClusterId).log", path(&logs)));
    kv("request_cpus", spec.cpus.to_string());
    kv("request_memory", spec.memory_mb.to_string());
    if spec.gpus > 0 {
        kv("request_GPUs", spec.gpus.to_string());
    }
    kv("+JobFlavour", format!("\"{}\"", spec.flavour.name()));
    kv("should_transfer_files", "YES".into());
    kv("when_to_transfer_output", "ON_EXIT".into());
    let inputs: Vec<String> = std::iter::once(&spec.tdsm).chain(&spec.inputs).map(|p| path(p)).collect();
    kv("transfer_input_files", inputs.join(", "));
    if !spec.outputs.is_empty() {
        kv("transfer_output_files", spec.outputs.iter().map(|o| macro_text(o)).collect::<Vec<_>>().join(", "));
    }
    let mut s = header + &s;
    if let Some(c) = &spec.checkpoint {
        s.push_str(&format!(
            "# Self-checkpointing: after --max-seconds {} the job writes a checkpoint and exits with {};\n\
             # HTCondor then saves transfer_checkpoint_files and restarts it (in the same sandbox, or\n\
             # with the saved checkpoint after an eviction), and it resumes (--resume auto).\n\
             # (Pools older than HTCondor 8.9.7 spell this +WantFTOnCheckpoint = True and\n\
             # +SuccessCheckpointExitCode = {}.)\n",
            c.max_seconds, c.exit_code, c.exit_code
        ));
        s.push_str(&format!("{:<25} = {}\n", "checkpoint_exit_code", c.exit_code));
        if !c.files.is_empty() {
            s.push_str(&format!("{:<25} = {}\n", "transfer_checkpoint_files", c.files.iter().map(|o| macro_text(o)).collect::<Vec<_>>().join(", ")));
        }
    }
    s.push_str(&format!("queue {}\n", spec.jobs));
    s
}

/// The job wrapper (`job.sh`): `job.sh SHARD_INDEX TDSM_ARGS...`.
pub fn wrapper(spec: &JobSpec) -> String {
    let mut s = format!(
        "#!/bin/bash\n\
         # Written by tdsm submit: HTCondor job wrapper, run in the job's sandbox as\n\
         #   job.sh SHARD_INDEX TDSM_ARGS...\n\
         set -u\n\
         i=${{1:?usage: job.sh SHARD_INDEX TDSM_ARGS...}}\n\
         shift\n\
         # EOS and AFS do not support the file locks HDF5 takes by default\n\
         export HDF5_USE_FILE_LOCKING=FALSE\n\
         TDSM=./tdsm\n\
         chmod +x \"$TDSM\" 2>/dev/null || true\n\
         echo \"tdsm {kind} job $i of {n} on $(hostname) in $(pwd) at $(date -u +%Y-%m-%dT%H:%M:%SZ)\"\n\
         # the devices this job sees\n\
         \"$TDSM\" doctor --list || echo \"tdsm doctor --list failed (status $?); continuing\" >&2\n",
        kind = spec.kind.name(),
        n = spec.jobs
    );
    if !spec.stage_out.is_empty() || !spec.stage_in.is_empty() {
        s.push_str(
            "# copy $1 to $2 through a temporary name, then remove $1 (so it is not transferred back)\n\
             stage_out() {\n    \
                 local tmp\n    \
                 tmp=\"$(dirname \"$2\")/.$(basename \"$2\").part$$\"\n    \
                 mkdir -p \"$(dirname \"$2\")\" && rm -rf \"$tmp\" && cp -r \"$1\" \"$tmp\" && rm -rf \"$2\" && mv \"$tmp\" \"$2\" && rm -rf \"$1\"\n\
             }\n",
        );
    }
    for (name, src) in &spec.stage_in {
        let (n, p) = (sh_word(name, "i"), sh_word(&src.to_string_lossy(), "i"));
        s.push_str(&format!("# continue a run already on EOS\nif [ ! -e {n} ] && [ -d {p} ]; then cp -r {p} {n} || exit 1; fi\n"));
    }
    s.push_str("\"$TDSM\" \"$@\"\nrc=$?\n");
    if !spec.stage_out.is_empty() {
        s.push_str("if [ $rc -eq 0 ]; then\n");
        for (name, dst) in &spec.stage_out {
            s.push_str(&format!("    stage_out {} {} || rc=1\n", sh_word(name, "i"), sh_word(&dst.to_string_lossy(), "i")));
        }
        s.push_str("fi\n");
    }
    if let (JobKind::Train, Some(c)) = (spec.kind, &spec.checkpoint) {
        s.push_str(&format!(
            "if [ $rc -eq {code} ]; then echo \"checkpoint written; exiting with {code} so that HTCondor saves it and restarts the job\"; fi\n",
            code = c.exit_code
        ));
    }
    s.push_str("exit $rc\n");
    s
}
