//! Figure 2: MEG on the 2-D toy densities. Per data set: training data,
//! generator samples, the energy E and the density softmax(-E) on a grid over
//! [-2, 2]², plus the numbers the paper leaves to pictures: mode coverage and
//! KL(p_data || p_E) on the grid.

use crate::results::{RunResult, TrainedRun};
use crate::spec::{EvalSettings, Experiment};
use crate::target::Target;
use crate::Options;
use anyhow::{bail, Result};
use meg_datasets::toy::ToySampler;
use meg_metrics::toy as tm;
use meg_models::config::DataConfig;
use meg_models::data::matrix;
use meg_reports::markdown;
use meg_reports::plot::{self, Grid, Panel};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

const LO: f64 = -2.0;
const HI: f64 = 2.0;

/// The evaluation settings a profile may give (`profiles.<name>.eval`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Eval {
    /// Generator samples per data set.
    pub samples: i64,
    /// Cells per side of the grid over [-2, 2]².
    pub grid: i64,
    /// Data samples behind the swiss roll's histogram.
    pub kl_samples: usize,
    /// Seed of the evaluation samples.
    pub seed: u64,
}

impl Default for Eval {
    fn default() -> Self {
        Eval {
            samples: 10_000,
            grid: 500,
            kl_samples: 1_000_000,
            seed: 1234,
        }
    }
}

impl EvalSettings for Eval {}

/// Mode coverage of a Gaussian mixture's samples, in `results.json`.
#[derive(Debug, Serialize)]
pub struct Coverage {
    pub modes_covered: usize,
    pub modes_total: usize,
    /// Share of samples within 3σ of their nearest centre.
    pub high_quality_share: f64,
    /// High-quality samples per mode.
    pub mode_counts: Vec<usize>,
}

/// A data set's numbers in `results.json` (beside its [`TrainedRun`]
/// fields).
#[derive(Debug, Serialize)]
pub struct ToyMetrics {
    /// KL(p_data || softmax(-E)) on the grid, in nats.
    pub kl_data_model: f64,
    /// For the Gaussian mixtures.
    #[serde(flatten)]
    pub coverage: Option<Coverage>,
    pub eval_seconds: f64,
}

/// The summary of `results.json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub grid: i64,
    pub eval_samples: i64,
    pub eval_seed: u64,
}

/// Runs every data set of the spec and writes the report.
pub fn run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let (t, cfg) = Target::new::<Eval>(exp, opts)?;
    let Eval {
        samples: n_samples,
        grid,
        kl_samples,
        seed: eval_seed,
    } = cfg;
    let runs = t.runs()?;

    let mut results = BTreeMap::new();
    let mut rows = Vec::new();
    let mut images = String::new();
    for run in &runs {
        let DataConfig::Toy { name: toy } = run.cfg.data else {
            bail!("{}: run `{}` must use toy data", exp.path.display(), run.id);
        };
        let trained = t.train(run, &mut |_, _| {})?;
        let te = Instant::now();
        let model = &trained.model;

        tch::manual_seed(eval_seed as i64);
        let samples = tch::no_grad(|| model.generate(&model.sample_z(n_samples), false))
            .to_device(Device::Cpu);
        let data = matrix(
            &ToySampler::new(toy, eval_seed).batch(n_samples as usize),
            Device::Cpu,
        )?;
        let energy = grid_energy(model, grid, opts.device);
        let density = tm::energy_probs(&energy);
        let p_data = match toy.mixture() {
            Some((c, s)) => tm::mixture_cell_probs(&c, s, LO, HI, grid),
            None => tm::histogram_probs(
                &matrix(
                    &ToySampler::new(toy, eval_seed + 1).batch(kl_samples),
                    Device::Cpu,
                )?,
                LO,
                HI,
                grid,
            ),
        };
        let kl = tm::grid_kl(&p_data, &energy);
        let mut coverage = None;
        if let Some((centres, std)) = toy.mixture() {
            let cov = tm::mode_coverage(&samples, &centres, std);
            rows.push(t.row(toy.name(), "modes covered", cov.modes_covered as f64, None));
            rows.push(t.row(
                toy.name(),
                "high-quality share",
                cov.high_quality_share,
                None,
            ));
            coverage = Some(Coverage {
                modes_covered: cov.modes_covered,
                modes_total: cov.modes_total,
                high_quality_share: cov.high_quality_share,
                mode_counts: cov.counts,
            });
        }
        rows.push(t.row(toy.name(), "KL(p_data || p_E)", kl, None));

        let png = format!("{}.png", toy.name());
        let to_pts = |t: &Tensor| -> Result<Vec<[f32; 2]>> {
            let v: Vec<f32> = Vec::try_from(t.reshape([-1]))?;
            Ok(v.chunks(2).map(|c| [c[0], c[1]]).collect())
        };
        let (dp, sp) = (to_pts(&data)?, to_pts(&samples)?);
        let ev: Vec<f64> = Vec::try_from(energy.reshape([-1]))?;
        let dv: Vec<f64> = Vec::try_from(density.reshape([-1]))?;
        let g = grid as usize;
        plot::panels_png(
            &t.out.join(&png),
            &[
                Panel::Scatter {
                    title: &format!("{} data", toy.name()),
                    points: &dp,
                    lo: LO,
                    hi: HI,
                },
                Panel::Scatter {
                    title: "generator samples",
                    points: &sp,
                    lo: LO,
                    hi: HI,
                },
                Panel::Heatmap {
                    title: "energy E(x)",
                    grid: Grid {
                        size: g,
                        values: &ev,
                        lo: LO,
                        hi: HI,
                    },
                },
                Panel::Heatmap {
                    title: "density softmax(-E)",
                    grid: Grid {
                        size: g,
                        values: &dv,
                        lo: LO,
                        hi: HI,
                    },
                },
            ],
            400,
        )?;
        images += &markdown::image(toy.name(), &png);
        let metrics = ToyMetrics {
            kl_data_model: kl,
            coverage,
            eval_seconds: te.elapsed().as_secs_f64(),
        };
        let entry = TrainedRun::new(run, &trained).with(metrics);
        results.insert(toy.name().to_string(), entry);
    }
    let run_refs: Vec<_> = runs.iter().collect();
    let mut body = format!(
        "Numbers from {n_samples} generator samples and a {grid}x{grid} grid over [-2, 2]². A mode is covered when it \
         holds at least 20% of its fair share of the high-quality samples (within 3σ of a centre). KL is \
         KL(p_data || softmax(-E)) on the grid, in nats (p_data: exact cell masses of the mixture; for the swiss roll \
         a histogram of {kl_samples} samples).\n\n"
    );
    body += &images;
    body += &t.loss_plot(&run_refs)?;
    body += "Each figure: training data, generator samples, energy E (dark = low), density softmax(-E).\n";
    let summary = Summary {
        grid,
        eval_samples: n_samples,
        eval_seed,
    };
    t.finish(&results, &summary, &rows, &body)
}

/// E on the cell centres of a `g x g` grid over [-2, 2]², as `[g, g]` float64 on the CPU.
fn grid_energy(model: &meg_models::Model, g: i64, device: Device) -> Tensor {
    let pts = tm::grid_points(LO, HI, g).to_device(device);
    let chunks: Vec<Tensor> = tch::no_grad(|| {
        pts.split(16_384, 0)
            .iter()
            .map(|c| model.energy(c, false).to_device(Device::Cpu))
            .collect()
    });
    Tensor::cat(&chunks, 0)
        .to_kind(Kind::Double)
        .reshape([g, g])
}
