//! Figure 2: MEG on the 2-D toy densities. Per data set: training data,
//! generator samples, the energy E and the density softmax(-E) on a grid over
//! [-2, 2]², plus the numbers the paper leaves to pictures: mode coverage and
//! KL(p_data || p_E) on the grid.

use crate::spec::Experiment;
use crate::Options;
use anyhow::{Context, Result};
use meg_datasets::toy::ToySampler;
use meg_metrics::toy as tm;
use meg_models::config::DataConfig;
use meg_models::train::{read_run_metrics, train, TrainOptions};
use meg_reports::markdown;
use meg_reports::plot::{self, Grid, LinePlot, Panel, Series};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

const LO: f64 = -2.0;
const HI: f64 = 2.0;

/// Runs every data set of the spec and writes the report.
pub fn run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let t0 = Instant::now();
    let profile = opts.profile.as_str();
    let out = opts.reports_dir.join(&exp.target).join(profile);
    let n_samples: i64 = exp.eval(profile, "samples", 10_000)?;
    let grid: i64 = exp.eval(profile, "grid", 500)?;
    let kl_samples: usize = exp.eval(profile, "kl_samples", 1_000_000)?;
    let eval_seed: u64 = exp.eval(profile, "seed", 1234)?;

    let mut results = serde_json::Map::new();
    let mut loss_series: Vec<(String, Vec<meg_models::train::Row>)> = Vec::new();
    let mut table = Vec::new();
    let mut images = String::new();
    for spec in &exp.runs {
        let cfg = exp.run_config(spec, profile)?;
        let toy = match &cfg.data {
            DataConfig::Toy { name } => *name,
        };
        let run_dir = out.join("runs").join(&spec.id);
        let mut topts = TrainOptions::new(&run_dir, opts.device);
        topts.resume = true;
        let trained =
            train(&cfg, &topts).with_context(|| format!("training run `{}`", cfg.name))?;
        let te = Instant::now();
        let model = &trained.model;

        tch::manual_seed(eval_seed as i64);
        let samples = tch::no_grad(|| model.generate(&model.sample_z(n_samples), false))
            .to_device(Device::Cpu);
        let data = ToySampler::new(toy, eval_seed).batch(n_samples as usize);
        let energy = grid_energy(model, grid, opts.device);
        let density = tm::energy_probs(&energy);
        let p_data = match toy.mixture() {
            Some((c, s)) => tm::mixture_cell_probs(&c, s, LO, HI, grid),
            None => tm::histogram_probs(
                &ToySampler::new(toy, eval_seed + 1).batch(kl_samples),
                LO,
                HI,
                grid,
            ),
        };
        let kl = tm::grid_kl(&p_data, &energy);
        let mut r = json!({
            "config": cfg,
            "seed": cfg.seed,
            "iterations": trained.iterations,
            "train_seconds": trained.seconds,
            "kl_data_model": kl,
            "final": trained.last,
        });
        let mut modes = "—".to_string();
        if let Some((centres, std)) = toy.mixture() {
            let cov = tm::mode_coverage(&samples, &centres, std);
            modes = format!("{}/{}", cov.modes_covered, cov.modes_total);
            r["modes_covered"] = json!(cov.modes_covered);
            r["modes_total"] = json!(cov.modes_total);
            r["high_quality_share"] = json!(cov.high_quality_share);
            r["mode_counts"] = json!(cov.counts);
            table.push(vec![
                toy.name().to_string(),
                modes.clone(),
                format!("{:.3}", cov.high_quality_share),
                format!("{kl:.4}"),
            ]);
        } else {
            table.push(vec![
                toy.name().to_string(),
                modes.clone(),
                "—".into(),
                format!("{kl:.4}"),
            ]);
        }

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
            &out.join(&png),
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
        loss_series.push((toy.name().to_string(), read_run_metrics(&run_dir)?));
    }

    let curve = |title: &str, f: fn(&meg_models::train::Row) -> f64| LinePlot {
        title: title.to_string(),
        x_label: "iteration".into(),
        series: loss_series
            .iter()
            .map(|(n, rows)| Series {
                name: n.clone(),
                points: rows.iter().map(|r| (r.iteration as f64, f(r))).collect(),
            })
            .collect(),
    };
    plot::lines_png(
        &out.join("loss.png"),
        &[
            curve("E(real)", |r| r.e_real),
            curve("E(fake)", |r| r.e_fake),
            curve("score penalty", |r| r.penalty),
            curve("MI loss (BCE)", |r| r.mi_loss),
        ],
        400,
    )?;

    let p = exp.profile(profile)?;
    let doc = json!({
        "target": exp.target,
        "profile": profile,
        "title": exp.title,
        "grid": grid,
        "eval_samples": n_samples,
        "eval_seed": eval_seed,
        "provenance": meg_nn::Provenance::collect(opts.device),
        "wall_seconds": t0.elapsed().as_secs_f64(),
        "runs": results,
    });
    meg_nn::io::write_atomic(
        &out.join("results.json"),
        serde_json::to_string_pretty(&doc)?.as_bytes(),
    )?;
    let mut md = format!(
        "# {}\n\nProfile `{profile}`: {}\n\n{}\n\n",
        exp.title,
        p.description.trim(),
        exp.description.trim()
    );
    md += &format!(
        "Numbers from {n_samples} generator samples and a {grid}x{grid} grid over [-2, 2]². A mode is covered when it \
         holds at least 20% of its fair share of the high-quality samples (within 3σ of a centre). KL is \
         KL(p_data || softmax(-E)) on the grid, in nats (p_data: exact cell masses of the mixture; for the swiss roll \
         a histogram of {kl_samples} samples). The paper shows only pictures for this figure.\n\n"
    );
    md += &markdown::table(
        &[
            "data",
            "modes covered",
            "high-quality share",
            "KL(p_data ‖ p_E)",
        ],
        &table,
    );
    md += "\n";
    md += &images;
    md += &markdown::image("loss curves", "loss.png");
    md += "Each figure: training data, generator samples, energy E (dark = low), density softmax(-E).\n";
    meg_nn::io::write_atomic(&out.join("report.md"), md.as_bytes())?;
    eprintln!("fig2 ({profile}): wrote {}", out.display());
    Ok(out)
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
