//! The paper's tables and figures: experiment specs (`experiments/*.yaml`) and
//! the runner of each target, which trains through the one training loop,
//! evaluates, and writes `reports/<target>/<profile>/`.

pub mod anomaly;
pub mod celeba;
pub mod classifier;
pub mod fig2;
pub mod fig3;
pub mod launch;
pub mod parity;
pub mod profile;
pub mod results;
pub mod samples;
pub mod spec;
pub mod table1;
pub mod table2;
pub mod table3;
pub mod table4;
pub mod target;

pub use profile::Profile;

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use tch::Device;

/// Targets this build can reproduce.
pub const TARGETS: &[&str] = &[
    "table1", "table2", "table3", "table4", "fig2", "fig3", "celeba",
];

/// Targets outside `all` and the smoke hashes (`cargo xtask verify`):
/// `parity` compares with PyTorch, so its numbers depend on PyTorch too.
pub const EXTRA_TARGETS: &[&str] = &["parity"];

/// Every target the reports index lists.
pub fn indexed_targets() -> Vec<&'static str> {
    TARGETS.iter().chain(EXTRA_TARGETS).copied().collect()
}

/// How to reproduce a target.
#[derive(Debug, Clone)]
pub struct Options {
    /// The size profile.
    pub profile: Profile,
    pub device: Device,
    /// Root of the reports tree (the workspace's `reports/` by default).
    pub reports_dir: PathBuf,
    /// Seeds per multi-seed run, overriding the spec (`--seeds N`).
    pub seeds: Option<u64>,
    /// A checkout of the authors' repository for the `parity` target's
    /// reference side (`--reference DIR`); without it, the project's own
    /// PyTorch code.
    pub reference: Option<PathBuf>,
    /// Train and evaluate, only evaluate, or only train one run.
    pub mode: Mode,
}

/// What [`reproduce`] does with a target's runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// Train (or resume, or find finished) every run, then evaluate and report.
    #[default]
    All,
    /// Evaluate and report runs trained elsewhere (a Slurm array, `--jobs`);
    /// fails, naming them, if any run is unfinished. Trains nothing.
    EvaluateOnly,
    /// Train (or resume) the one run with this id, with the target's
    /// in-training evaluations, and nothing else: no target lock, no report.
    /// What a Slurm array element and a `--jobs` child run.
    TrainRun(String),
}

/// The workspace's `reports/` directory.
pub fn default_reports_dir() -> PathBuf {
    meg_plumbing::workspace_root().join("reports")
}

/// Reproduces `target` (or `all`, every target in turn); returns the
/// directories written.
pub fn reproduce(target: &str, opts: &Options) -> Result<Vec<PathBuf>> {
    if target == "all" {
        let mut out = Vec::new();
        let mut failed = Vec::new();
        for t in TARGETS {
            match reproduce_one(t, opts) {
                Ok(p) => out.push(p),
                Err(e) => {
                    eprintln!("error: {t}: {e:#}");
                    failed.push(*t);
                }
            }
        }
        if !failed.is_empty() {
            bail!(
                "{} of {} targets failed: {} (the others finished; see the messages above)",
                failed.len(),
                TARGETS.len(),
                failed.join(", ")
            );
        }
        return Ok(out);
    }
    Ok(vec![reproduce_one(target, opts)?])
}

/// The spec of `target` (one of [`TARGETS`] or [`EXTRA_TARGETS`]), with `opts.profile` checked
/// to exist in it.
pub(crate) fn load_target(target: &str, opts: &Options) -> Result<spec::Experiment> {
    if !TARGETS.contains(&target) && !EXTRA_TARGETS.contains(&target) {
        bail!(
            "unknown target `{target}`: expected one of {}, {}, or all",
            TARGETS.join(", "),
            EXTRA_TARGETS.join(", ")
        );
    }
    if opts.reference.is_some() && target != "parity" {
        bail!("--reference is for the parity target only, not `{target}`");
    }
    if EXTRA_TARGETS.contains(&target) && opts.mode != Mode::All {
        bail!(
            "`{target}` trains both of its implementations here, side by side: \
             --train-run and --evaluate-only are for the paper's targets ({})",
            TARGETS.join(", ")
        );
    }
    let exp = spec::Experiment::load(target)?;
    exp.profile(opts.profile)?;
    Ok(exp)
}

/// Reproduces one target (not `all`) in `opts.mode`.
pub(crate) fn reproduce_one(target: &str, opts: &Options) -> Result<PathBuf> {
    let exp = load_target(target, opts)?;
    if let Mode::TrainRun(_) = opts.mode {
        return match target {
            "table1" => table1::train_run(&exp, opts),
            "table3" => table3::train_run(&exp, opts),
            "table4" => table4::train_run(&exp, opts),
            _ => with_target(&exp, opts, |t| {
                let runs = t.runs()?;
                let run = runs.first().context("the run was selected")?;
                t.train(run, &mut |_, _| {})?;
                Ok(run.dir.clone())
            }),
        };
    }
    match target {
        "table1" => table1::run(&exp, opts),
        "table2" => table2::run(&exp, opts),
        "table3" => table3::run(&exp, opts),
        "table4" => table4::run(&exp, opts),
        "fig2" => fig2::run(&exp, opts),
        "fig3" => fig3::run(&exp, opts),
        "celeba" => celeba::run(&exp, opts),
        "parity" => parity::run(&exp, opts),
        _ => unreachable!("checked against TARGETS"),
    }
}

/// Calls `f` with the target of `exp` under `opts`, its evaluation settings
/// read into the target's own type (and so checked) but not used.
pub(crate) fn with_target<R>(
    exp: &spec::Experiment,
    opts: &Options,
    f: impl FnOnce(&target::Target) -> Result<R>,
) -> Result<R> {
    fn go<E: spec::EvalSettings, R>(
        exp: &spec::Experiment,
        opts: &Options,
        f: impl FnOnce(&target::Target) -> Result<R>,
    ) -> Result<R> {
        let (t, _) = target::Target::new::<E>(exp, opts)?;
        f(&t)
    }
    match exp.target.as_str() {
        "table1" => go::<table1::Eval, R>(exp, opts, f),
        "table2" => go::<table2::Eval, R>(exp, opts, f),
        "table3" | "table4" => go::<anomaly::Eval, R>(exp, opts, f),
        "fig2" => go::<fig2::Eval, R>(exp, opts, f),
        "fig3" => go::<fig3::Eval, R>(exp, opts, f),
        "celeba" => go::<celeba::Eval, R>(exp, opts, f),
        other => bail!("unknown target `{other}` in {}", exp.path.display()),
    }
}
