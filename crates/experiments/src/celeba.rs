//! CelebA 64x64: qualitative samples of the generator and of latent MALA.

use crate::samples::{generate, generate_mala, grid, mala_setting};
use crate::spec::Experiment;
use crate::target::Target;
use crate::Options;
use anyhow::Result;
use meg_models::config::DataConfig;
use serde_json::{json, Map};
use std::path::PathBuf;

/// The evaluation settings a profile may give.
const EVAL_KEYS: &[&str] = &["mala", "samples", "seed"];

/// Trains the run(s) and writes sample grids.
pub fn run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let t = Target::new(exp, opts, EVAL_KEYS)?;
    let runs = t.runs()?;
    let mala = mala_setting(&t, 5, 0.01, 0.2)?;
    let n: i64 = t.eval("samples", 64)?;
    let seed: i64 = t.eval("seed", 1234)?;
    let mut per_run = Map::new();
    let mut body = String::new();
    for run in &runs {
        let trained = t.train(run, &mut |_, _| {})?;
        let model = &trained.model;
        tch::manual_seed(seed);
        let x = generate(model, n, n);
        tch::manual_seed(seed);
        let (xm, accept) = generate_mala(model, &mala, n, n)?;
        body += &format!("### {}\n\n", run.id);
        body += &grid(
            &t.out,
            &format!("samples_{}.png", run.id),
            "generator samples",
            &x,
            n,
        )?;
        body += &grid(
            &t.out,
            &format!("samples_{}_mala.png", run.id),
            "latent MALA samples",
            &xm,
            n,
        )?;
        per_run.insert(
            run.id.clone(),
            json!({
                "config": run.cfg,
                "seed": run.cfg.seed,
                "iterations": trained.iterations,
                "train_seconds": trained.seconds,
                "mala_acceptance": accept,
                "final": trained.last,
            }),
        );
    }
    let run_refs: Vec<_> = runs.iter().collect();
    body += &t.loss_plot(&run_refs)?;
    let data = runs.first().map(|r| &r.cfg.data);
    let stand_in = !matches!(data, Some(DataConfig::Celeba { .. }));
    let data = data.map(DataConfig::describe).unwrap_or_default();
    body = format!(
        "Data: {data}{}. {n} generator samples and {n} latent MALA samples ({} steps, α {}, β {}, prior {}) per run.\n\n{body}",
        if stand_in {
            " (a STAND-IN for CelebA, which is not available here: the same protocol at its own resolution)"
        } else {
            ""
        },
        mala.steps,
        mala.alpha,
        mala.beta,
        mala.prior_on()
    );
    t.finish(
        per_run.into(),
        json!({"mala": mala, "samples": n}),
        &[],
        &body,
    )
}
