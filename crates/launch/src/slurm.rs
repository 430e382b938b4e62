//! `meg reproduce TARGET --launcher slurm`: the target's runs as one Slurm
//! job array and its evaluation as one job that depends on it.
//!
//! Written to `reports/TARGET/PROFILE/slurm/`:
//! - `train.sbatch`: one array element per run (`--requeue`: a preempted or
//!   requeued element resumes from the run's checkpoint), each running
//!   `meg reproduce TARGET ... --train-run ID` (the run's training with the
//!   target's in-training evaluations);
//! - `evaluate.sbatch`: `meg reproduce TARGET ... --evaluate-only`, submitted
//!   with `--dependency=afterok:<array job id>` and `--kill-on-invalid-dep=yes`,
//!   so that a failed element cancels it;
//! - `logs/%A_%a.out` (array elements) and `logs/evaluate_%j.out`.
//!
//! Both use the checkout's `meg` by absolute path and set `MEG_WORKSPACE`;
//! the submitting shell's environment (`MEG_THREADS`, ...) is exported to the
//! jobs, as `sbatch` does by default.

use crate::Invocation;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The sbatch settings a user may give.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--gpus-per-task` (one task per job).
    pub gpus_per_task: Option<u32>,
    /// `--time` limit of each element and of the evaluation (`[D-]HH:MM:SS`).
    pub time: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// Only write and print the scripts and the commands that would submit them.
    pub dry_run: bool,
}

impl SlurmOptions {
    /// Checks the values before anything is written: a bad one is named.
    pub fn validate(&self) -> Result<()> {
        for (flag, v) in [
            ("--partition", &self.partition),
            ("--account", &self.account),
        ] {
            if let Some(v) = v {
                if v.is_empty()
                    || !v
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.,".contains(c))
                {
                    bail!("{flag} `{v}`: expected a Slurm name (letters, digits, - _ . ,)");
                }
            }
        }
        if let Some(t) = &self.time {
            if !valid_time(t) {
                bail!("--time `{t}`: expected HH:MM:SS or D-HH:MM:SS (e.g. 04:00:00)");
            }
        }
        if self.gpus_per_task == Some(0) {
            bail!("--gpus-per-task 0: give at least 1, or leave it out for CPU jobs");
        }
        Ok(())
    }
}

/// `HH:MM:SS` or `D-HH:MM:SS`, minutes and seconds below 60.
fn valid_time(t: &str) -> bool {
    let hms = match t.split_once('-') {
        Some((d, rest)) if !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()) => rest,
        Some(_) => return false,
        None => t,
    };
    let parts: Vec<&str> = hms.split(':').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit()))
        && parts[1].parse::<u32>().is_ok_and(|m| m < 60)
        && parts[2].parse::<u32>().is_ok_and(|s| s < 60)
}

/// The two scripts of a target, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scripts {
    pub train: String,
    pub evaluate: String,
}

/// Where a target's Slurm files go.
pub fn slurm_dir(inv: &Invocation) -> PathBuf {
    inv.reports_dir
        .join(&inv.target)
        .join(&inv.profile)
        .join("slurm")
}

/// The scripts for the runs `ids` of `inv` (the workspace is `workspace`).
pub fn render(inv: &Invocation, ids: &[String], workspace: &Path, s: &SlurmOptions) -> Scripts {
    let dir = slurm_dir(inv);
    let logs = dir.join("logs");
    let name = format!("meg-{}-{}", inv.target, inv.profile);
    let mut common = String::new();
    let mut opt = |k: &str, v: &str| common += &format!("#SBATCH --{k}={v}\n");
    opt("chdir", &workspace.display().to_string());
    opt("ntasks", "1");
    if let Some(p) = &s.partition {
        opt("partition", p);
    }
    if let Some(a) = &s.account {
        opt("account", a);
    }
    if let Some(t) = &s.time {
        opt("time", t);
    }
    if let Some(g) = s.gpus_per_task {
        opt("gpus-per-task", &g.to_string());
    }
    let head = |what: &str| {
        format!(
            "#!/bin/bash\n# {what}\n# Written by `meg reproduce {} --profile {} --launcher slurm`; see the README's\n# section on clusters.\n",
            inv.target, inv.profile
        )
    };
    let env = format!(
        "set -uo pipefail\nexport MEG_WORKSPACE={}\nMEG={}\n",
        quote(&workspace.display().to_string()),
        quote(&inv.meg.display().to_string())
    );
    let args: Vec<String> = inv.args().iter().map(|a| quote(a)).collect();
    let args = args.join(" ");
    let runs: Vec<String> = ids.iter().map(|i| quote(i)).collect();
    let last = ids.len().saturating_sub(1);
    let train = format!(
        "{}#SBATCH --job-name={name}-train\n#SBATCH --array=0-{last}\n#SBATCH --requeue\n#SBATCH --open-mode=append\n#SBATCH --output={}\n{common}\n{env}RUNS=({})\nRUN=\"${{RUNS[$SLURM_ARRAY_TASK_ID]}}\"\n# A requeued element runs without the crash tests' fault injection (MEG_FAULT), once.\nif [ \"${{SLURM_RESTART_COUNT:-0}}\" != 0 ]; then unset MEG_FAULT MEG_FAULT_ACTION; fi\necho \"meg: run $RUN of {} ({}), array element $SLURM_ARRAY_TASK_ID, attempt $(( ${{SLURM_RESTART_COUNT:-0}} + 1 )) on $(hostname)\"\n\"$MEG\" {args} --train-run \"$RUN\" && exit 0\nstatus=$?\necho \"meg: run $RUN of {} ({}) FAILED (exit status $status; array element $SLURM_ARRAY_TASK_ID): the evaluation job will be cancelled\" >&2\nexit $status\n",
        head(&format!("Trains one run of {} ({}) per array element.", inv.target, inv.profile)),
        quote(&logs.join("%A_%a.out").display().to_string()),
        runs.join(" "),
        inv.target,
        inv.profile,
        inv.target,
        inv.profile,
    );
    let evaluate = format!(
        "{}# Submitted with --dependency=afterok:<the array's job id>.\n#SBATCH --job-name={name}-evaluate\n#SBATCH --kill-on-invalid-dep=yes\n#SBATCH --output={}\n{common}\n{env}exec \"$MEG\" {args} --evaluate-only\n",
        head(&format!(
            "Evaluates the trained runs of {} ({}) and writes its report; trains nothing.",
            inv.target, inv.profile
        )),
        quote(&logs.join("evaluate_%j.out").display().to_string()),
    );
    Scripts { train, evaluate }
}

/// Single-quotes `s` for bash when it holds anything but safe characters.
fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=%,+@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The job ids of a submitted target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub array: String,
    pub evaluate: String,
}

/// Writes the scripts for the runs `ids` of `inv` into [`slurm_dir`] and,
/// unless `s.dry_run`, submits them (the array, then the evaluation after
/// it); prints what it did. `workspace` is the checkout the jobs run in.
pub fn submit(
    inv: &Invocation,
    ids: &[String],
    workspace: &Path,
    s: &SlurmOptions,
) -> Result<Option<Submitted>> {
    s.validate()?;
    let target = &inv.target;
    let scripts = render(inv, ids, workspace, s);
    let dir = slurm_dir(inv);
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("creating {}", dir.join("logs").display()))?;
    let (train, evaluate) = (dir.join("train.sbatch"), dir.join("evaluate.sbatch"));
    meg_plumbing::io::write_atomic(&train, scripts.train.as_bytes())?;
    meg_plumbing::io::write_atomic(&evaluate, scripts.evaluate.as_bytes())?;
    println!(
        "{target} ({}): {} runs: {}",
        inv.profile,
        ids.len(),
        ids.iter()
            .enumerate()
            .map(|(i, id)| format!("[{i}] {id}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let sub_eval = |array: &str| {
        format!(
            "sbatch --parsable --dependency=afterok:{array} {}",
            evaluate.display()
        )
    };
    if s.dry_run {
        for (p, text) in [(&train, &scripts.train), (&evaluate, &scripts.evaluate)] {
            println!("==> {} <==\n{text}", p.display());
        }
        println!(
            "dry run: nothing submitted; to submit:\n  ARRAY=$(sbatch --parsable {})\n  {}",
            train.display(),
            sub_eval("$ARRAY")
        );
        return Ok(None);
    }
    let array = sbatch(&[train.as_os_str()])?;
    let dep = format!("--dependency=afterok:{array}");
    let eval_id = sbatch(&[dep.as_ref(), evaluate.as_os_str()]).with_context(|| {
        format!("the training array {array} is submitted; cancel it with `scancel {array}` or submit the evaluation yourself: {}", sub_eval(&array))
    })?;
    println!(
        "submitted: training array {array} ({} elements), evaluation {eval_id} (after the array succeeds)\n\
         watch:     squeue -j {array},{eval_id}\n\
         logs:      {}\n\
         report:    {}",
        ids.len(),
        dir.join("logs").display(),
        dir.parent().unwrap_or(&dir).join("report.md").display()
    );
    Ok(Some(Submitted {
        array,
        evaluate: eval_id,
    }))
}

/// `sbatch --parsable ARGS`; returns the job id.
fn sbatch(args: &[&std::ffi::OsStr]) -> Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .output()
        .context("running sbatch (is Slurm's client installed and on PATH?)")?;
    if !out.status.success() {
        bail!(
            "sbatch {:?} failed ({}): {}",
            args,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // `--parsable` prints `ID` or `ID;CLUSTER`.
    let id = text
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed `{}`, not a job id", text.trim());
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Invocation {
        Invocation {
            meg: "/w s/target/release/meg".into(),
            target: "table3".into(),
            profile: "smoke".into(),
            device: "cuda".into(),
            reports_dir: "/w s/reports".into(),
            seeds: Some(2),
        }
    }

    #[test]
    fn scripts_hold_one_element_per_run_and_quote_paths() {
        let ids = ["meg-s0".to_string(), "meg-s1".to_string()];
        let s = render(
            &inv(),
            &ids,
            Path::new("/w s"),
            &SlurmOptions {
                gpus_per_task: Some(2),
                ..Default::default()
            },
        );
        assert!(s.train.contains("#SBATCH --array=0-1\n"), "{}", s.train);
        assert!(s.train.contains("RUNS=(meg-s0 meg-s1)"));
        assert!(s.train.contains("MEG='/w s/target/release/meg'"));
        assert!(s.train.contains("export MEG_WORKSPACE='/w s'"));
        assert!(s.train.contains("#SBATCH --gpus-per-task=2\n"));
        assert!(s
            .train
            .contains("--output='/w s/reports/table3/smoke/slurm/logs/%A_%a.out'"));
        assert!(s
            .train
            .contains("--device cuda --reports-dir '/w s/reports' --seeds 2 --train-run \"$RUN\""));
        assert!(!s.train.contains("--partition") && !s.train.contains("--time"));
        assert!(s.evaluate.contains("--seeds 2 --evaluate-only"));
        assert!(!s.evaluate.contains("--array"));
        // Every #SBATCH line comes before the first command.
        for text in [&s.train, &s.evaluate] {
            let first_cmd = text.find("\nset -uo").unwrap();
            assert!(text.rfind("#SBATCH").unwrap() < first_cmd, "{text}");
        }
    }

    #[test]
    fn bad_settings_are_named() {
        for t in ["04:00:00", "1-00:30:00", "100:00:00"] {
            assert!(valid_time(t), "{t}");
        }
        for t in ["4h", "04:60:00", "1-", "-04:00:00", "04:00", ""] {
            assert!(!valid_time(t), "{t}");
        }
        let bad = SlurmOptions {
            partition: Some("gpu; rm".into()),
            ..Default::default()
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("--partition `gpu; rm`"), "{err}");
        let zero = SlurmOptions {
            gpus_per_task: Some(0),
            ..Default::default()
        };
        assert!(zero.validate().is_err());
    }
}
