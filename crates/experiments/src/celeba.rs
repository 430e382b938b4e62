//! CelebA 64x64: qualitative samples of the generator and of latent MALA.

use crate::results::{RunResult, TrainedRun};
use crate::samples::{exact_mala, generate, generate_mala, grid};
use crate::spec::{EvalSettings, Experiment};
use crate::target::Target;
use crate::Options;
use anyhow::Result;
use meg_models::config::DataConfig;
use meg_models::mcmc::MalaConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The evaluation settings a profile may give (`profiles.<name>.eval`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Eval {
    /// The latent MALA sampler.
    pub mala: MalaConfig,
    /// Samples per grid (generator and latent MALA).
    pub samples: i64,
    /// Seed of the samples.
    pub seed: i64,
}

impl Default for Eval {
    fn default() -> Self {
        Eval {
            mala: exact_mala(5, 0.01, 0.2),
            samples: 64,
            seed: 1234,
        }
    }
}

impl EvalSettings for Eval {
    fn validate(&self) -> Result<()> {
        self.mala.validate()
    }
}

/// A run's latent MALA acceptance in `results.json` (beside its
/// [`TrainedRun`] fields).
#[derive(Debug, Serialize)]
pub struct Acceptance {
    /// Mean acceptance rate of each latent MALA step.
    pub mala_acceptance: Vec<f64>,
}

/// The summary of `results.json`.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub mala: &'a MalaConfig,
    pub samples: i64,
}

/// Trains the run(s) and writes sample grids.
pub fn run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let (t, cfg) = Target::new::<Eval>(exp, opts)?;
    let runs = t.runs()?;
    let Eval {
        mala,
        samples: n,
        seed,
    } = cfg;
    let mut per_run = BTreeMap::new();
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
        let acceptance = Acceptance {
            mala_acceptance: accept,
        };
        per_run.insert(
            run.id.clone(),
            TrainedRun::new(run, &trained).with(acceptance),
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
        &per_run,
        &Summary {
            mala: &mala,
            samples: n,
        },
        &[],
        &body,
    )
}
