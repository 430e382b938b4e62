//! The PyTorch side of a parity run: `tests/parity/reference.py` with a JSON
//! run config, in `runs/<id>-ref/`, started beside our own training.

use anyhow::{bail, Context, Result};
use meg_models::config::{DataConfig, ModelConfig, Objective};
use meg_models::RunConfig;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// What the reference side was, as `run.json` of reference.py records it.
pub fn script() -> PathBuf {
    meg_plumbing::workspace_root().join("tests/parity/reference.py")
}

/// The JSON config reference.py reads for our run config `cfg`.
pub fn config(
    cfg: &RunConfig,
    eval: &super::Eval,
    reference: Option<&Path>,
    threads: i64,
) -> Result<Value> {
    let ModelConfig::Toy {
        width,
        z_dim,
        hidden,
    } = cfg.model
    else {
        bail!(
            "parity: run `{}`: model.family must be toy (the reference side covers the toy family only)",
            cfg.name
        );
    };
    let DataConfig::Toy { name } = cfg.data else {
        bail!("parity: run `{}`: data.kind must be toy", cfg.name);
    };
    let Some(iterations) = cfg.iterations else {
        bail!(
            "parity: run `{}`: give `iterations`, not `epochs`",
            cfg.name
        );
    };
    Ok(json!({
        "name": cfg.name,
        "family": "toy",
        "data": {"kind": "toy", "name": name.name()},
        "width": width,
        "hidden": hidden,
        "z_dim": z_dim,
        "objective": match cfg.objective { Objective::Meg => "meg", Objective::WganGp => "wgan-gp" },
        "lambda": cfg.lambda,
        "batch_size": cfg.batch_size,
        "iterations": iterations,
        "k_e": cfg.k_e,
        "k_g": cfg.k_g,
        "lr": cfg.lr,
        "betas": [cfg.betas.0, cfg.betas.1],
        "seed": cfg.seed,
        "log_every": cfg.log_every,
        "eval_every": eval.every,
        "eval_samples": eval.samples,
        "eval_seed": eval.seed,
        "reference": reference.map(|p| p.display().to_string()),
        "threads": threads,
    }))
}

/// The `run.json` of a finished reference run in `dir` for exactly `cfg`.
pub fn finished(dir: &Path, cfg: &Value) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join("run.json")).ok()?;
    let rec: Value = serde_json::from_str(&text).ok()?;
    (rec.get("config") == Some(cfg)).then_some(rec)
}

/// A reference run in progress.
pub struct Pending {
    child: Child,
    dir: PathBuf,
    name: String,
}

/// Starts reference.py for `cfg` in `dir` (stdout and stderr to
/// `dir/reference.log`).
pub fn start(dir: &Path, cfg: &Value) -> Result<Pending> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cfg_path = dir.join("config.json");
    meg_plumbing::io::write_atomic(&cfg_path, serde_json::to_string_pretty(cfg)?.as_bytes())?;
    let log = std::fs::File::create(dir.join("reference.log"))
        .with_context(|| format!("creating {}", dir.join("reference.log").display()))?;
    let python = meg_metrics::weights::find_python();
    let child = Command::new(&python)
        .arg(script())
        .arg(&cfg_path)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| {
            format!(
                "starting {} {} (set MEG_PYTHON to a Python with torch 2.11, numpy and safetensors)",
                python.display(),
                script().display()
            )
        })?;
    Ok(Pending {
        child,
        dir: dir.to_path_buf(),
        name: cfg["name"].as_str().unwrap_or("?").to_string(),
    })
}

impl Pending {
    /// Waits for the run; its `run.json`, or an error with the log's tail.
    pub fn wait(mut self) -> Result<Value> {
        let status = self.child.wait()?;
        let log_path = self.dir.join("reference.log");
        if !status.success() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "reference run `{}` failed ({status}); {}:\n{}",
                self.name,
                log_path.display(),
                tail.join("\n")
            );
        }
        let text = std::fs::read_to_string(self.dir.join("run.json"))
            .with_context(|| format!("reference run `{}` wrote no run.json", self.name))?;
        Ok(serde_json::from_str(&text)?)
    }
}
