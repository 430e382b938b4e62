//! Figure 2: MEG on the 2-D toy densities. Per data set: training data,
//! generator samples, the energy E and the density softmax(-E) on a grid over
//! [-2, 2]², plus the numbers the paper leaves to pictures: mode coverage and
//! KL(p_data || p_E) on the grid.

use crate::spec::Experiment;
use crate::target::Target;
use crate::Options;
use anyhow::{bail, Result};
use meg_datasets::toy::ToySampler;
use meg_metrics::toy as tm;
use meg_models::config::DataConfig;
use meg_models::data::matrix;
use meg_reports::markdown;
use meg_reports::plot::{self, Grid, Panel};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

const LO: f64 = -2.0;
const HI: f64 = 2.0;

/// The evaluation settings a profile may give.
const EVAL_KEYS: &[&str] = &["samples", "grid", "kl_samples", "seed"];

/// Runs every data set of the spec and writes the report.
pub fn run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let t = Target::new(exp, opts, EVAL_KEYS)?;
    let n_samples: i64 = t.eval("samples", 10_000)?;
    let grid: i64 = t.eval("grid", 500)?;
    let kl_samples: usize = t.eval("kl_samples", 1_000_000)?;
    let eval_seed: u64 = t.eval("seed", 1234)?;
    let runs = t.runs()?;

    let mut results = serde_json::Map::new();
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
        let data = matrix(&ToySampler::new(toy, eval_seed).batch(n_samples as usize), Device::Cpu)?;
        let energy = grid_energy(model, grid, opts.device);
        let density = tm::energy_probs(&energy);
        let p_data = match toy.mixture() {
            Some((c, s)) => tm::mixture_cell_probs(&c, s, LO, HI, grid),
            None => tm::histogram_probs(
                &matrix(&ToySampler::new(toy, eval_seed + 1).batch(kl_samples), Device::Cpu)?,
                LO,
                HI,
                grid,
            ),
        };
        let kl = tm::grid_kl(&p_data, &energy);
        let mut r = json!({
            "config": run.cfg,
            "seed": run.cfg.seed,
            "iterations": trained.iterations,
            "train_seconds": trained.seconds,
            "kl_data_model": kl,
            "final": trained.last,
        });
        if let Some((centres, std)) = toy.mixture() {
            let cov = tm::mode_coverage(&samples, &centres, std);
            r["modes_covered"] = json!(cov.modes_covered);
            r["modes_total"] = json!(cov.modes_total);
            r["high_quality_share"] = json!(cov.high_quality_share);
            r["mode_counts"] = json!(cov.counts);
            rows.push(t.row(toy.name(), "modes covered", cov.modes_covered as f64, None));
            rows.push(t.row(
                toy.name(),
                "high-quality share",
                cov.high_quality_share,
                None,
            ));
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
        r["eval_seconds"] = json!(te.elapsed().as_secs_f64());
        results.insert(toy.name().to_string(), r);
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
    let summary = json!({"grid": grid, "eval_samples": n_samples, "eval_seed": eval_seed});
    t.finish(results.into(), summary, &rows, &body)
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
