//! Figure 3: MCMC in visible space against MCMC in latent space. From the
//! same starting images x_0 = G(z_0), MALA runs on U(x) = β·E(x) in pixel
//! space and on U(z) = β·E(G(z)) (+ ||z||²/2) in latent space; sample grids
//! after 0, 10 and 100 steps (by default), with energy and acceptance traces.

use crate::results::TrainedRun;
use crate::samples::{exact_mala, grid};
use crate::spec::{EvalSettings, Experiment};
use crate::target::Target;
use crate::Options;
use anyhow::{bail, Result};
use meg_models::mcmc::{Chain, MalaConfig};
use meg_reports::markdown;
use meg_reports::plot::{self, LinePlot, Series};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use tch::Device;

fn trace(name: &str, v: &[f64], first: usize) -> Series {
    Series {
        name: name.into(),
        points: v
            .iter()
            .enumerate()
            .map(|(i, &y)| ((i + first) as f64, y))
            .collect(),
    }
}

/// The evaluation settings a profile may give (`profiles.<name>.eval`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Eval {
    /// The sampler of both spaces.
    pub mala: MalaConfig,
    /// Steps after which the chains' states are drawn.
    pub snapshots: Vec<usize>,
    /// Chains per space.
    pub chains: i64,
    /// Seed of the starting points.
    pub seed: i64,
}

impl Default for Eval {
    fn default() -> Self {
        Eval {
            mala: exact_mala(100, 0.01, 0.1),
            snapshots: vec![0, 10, 100],
            chains: 64,
            seed: 1234,
        }
    }
}

impl EvalSettings for Eval {
    fn validate(&self) -> Result<()> {
        self.mala.validate()
    }
}

/// One space's chains in the summary of `results.json`.
#[derive(Debug, Serialize)]
pub struct ChainStats {
    /// Acceptance rate averaged over steps.
    pub mean_acceptance: f64,
    /// Mean energy after each snapshot's number of steps (keyed by it).
    pub energy_at: BTreeMap<String, f64>,
}

impl ChainStats {
    fn new(c: &Chain, snaps: &[usize]) -> Self {
        ChainStats {
            mean_acceptance: c.accept_rate.iter().sum::<f64>() / c.accept_rate.len().max(1) as f64,
            energy_at: snaps
                .iter()
                .map(|&s| (s.to_string(), c.mean_e[s]))
                .collect(),
        }
    }
}

/// The summary of `results.json`.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub mala: &'a MalaConfig,
    pub chains: i64,
    pub visible: ChainStats,
    pub latent: ChainStats,
}

/// Trains the run, runs both chains and writes the figure.
pub fn run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let (t, cfg) = Target::new::<Eval>(exp, opts)?;
    let runs = t.runs()?;
    if runs.len() != 1 {
        bail!(
            "{}: fig3 expects exactly one run, got {}",
            exp.path.display(),
            runs.len()
        );
    }
    let run = &runs[0];
    let Eval {
        mala,
        snapshots: snaps,
        chains: n,
        seed,
    } = cfg;
    let trained = t.train(run, &mut |_, _| {})?;
    let model = &trained.model;

    tch::manual_seed(seed);
    let z0 = model.sample_z(n);
    let x0 = tch::no_grad(|| model.generate(&z0, false));
    let visible = mala.sample_visible(model, &x0, &snaps)?;
    let latent = mala.sample_latent(model, &z0, &snaps)?;

    let mut body = String::new();
    let mut header = vec!["space".to_string()];
    header.extend(snaps.iter().map(|s| format!("after {s} steps")));
    let mut cells = Vec::new();
    for (space, chain) in [("visible", &visible), ("latent", &latent)] {
        let mut row = vec![space.to_string()];
        for (step, x) in &chain.snapshots {
            let img = if space == "latent" {
                tch::no_grad(|| model.generate(x, false))
            } else {
                x.shallow_clone()
            };
            let name = format!("{space}_{step}.png");
            grid(
                &t.out,
                &name,
                &format!("{space} MCMC, {step} steps"),
                &img.to_device(Device::Cpu),
                n,
            )?;
            row.push(format!("![{space} {step}]({name})"));
        }
        cells.push(row);
    }
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    body += &markdown::table(&h, &cells);
    plot::lines_png(
        &t.out.join("traces.png"),
        &[
            LinePlot {
                title: "mean energy E".into(),
                x_label: "MALA step".into(),
                series: vec![
                    trace("visible", &visible.mean_e, 0),
                    trace("latent", &latent.mean_e, 0),
                ],
            },
            LinePlot {
                title: "acceptance rate".into(),
                x_label: "MALA step".into(),
                series: vec![
                    trace("visible", &visible.accept_rate, 1),
                    trace("latent", &latent.accept_rate, 1),
                ],
            },
        ],
        400,
    )?;
    body += "\n";
    body += &markdown::image("energy and acceptance traces", "traces.png");
    body += &t.loss_plot(&[run])?;
    let summary = Summary {
        mala: &mala,
        chains: n,
        visible: ChainStats::new(&visible, &snaps),
        latent: ChainStats::new(&latent, &snaps),
    };
    let per_run = BTreeMap::from([(run.id.clone(), TrainedRun::new(run, &trained))]);
    body = format!(
        "MALA with α {}, β {}, latent prior {}, {} chains; both spaces start from the same G(z_0). \
         Mean acceptance: visible {:.3}, latent {:.3}.\n\n{body}",
        mala.alpha,
        mala.beta,
        mala.prior_on(),
        n,
        summary.visible.mean_acceptance,
        summary.latent.mean_acceptance,
    );
    t.finish(&per_run, &summary, &[], &body)
}
