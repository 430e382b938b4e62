//! Figure 3: MCMC in visible space against MCMC in latent space. From the
//! same starting images x_0 = G(z_0), MALA runs on U(x) = β·E(x) in pixel
//! space and on U(z) = β·E(G(z)) (+ ||z||²/2) in latent space; sample grids
//! after 0, 10 and 100 steps (by default), with energy and acceptance traces.

use crate::samples::{grid, mala_setting};
use crate::spec::Experiment;
use crate::target::Target;
use crate::Options;
use anyhow::{bail, Result};
use meg_models::mcmc::Chain;
use meg_reports::markdown;
use meg_reports::plot::{self, LinePlot, Series};
use serde_json::{json, Map};
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

/// The evaluation settings a profile may give.
const EVAL_KEYS: &[&str] = &["mala", "snapshots", "chains", "seed"];

/// Trains the run, runs both chains and writes the figure.
pub fn run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let t = Target::new(exp, opts, EVAL_KEYS)?;
    let runs = t.runs()?;
    if runs.len() != 1 {
        bail!(
            "{}: fig3 expects exactly one run, got {}",
            exp.path.display(),
            runs.len()
        );
    }
    let run = &runs[0];
    let mala = mala_setting(&t, 100, 0.01, 0.1)?;
    let snaps: Vec<usize> = t.eval("snapshots", vec![0, 10, 100])?;
    let n: i64 = t.eval("chains", 64)?;
    let seed: i64 = t.eval("seed", 1234)?;
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
    let stats = |c: &Chain| {
        let mean_accept = c.accept_rate.iter().sum::<f64>() / c.accept_rate.len().max(1) as f64;
        json!({
            "mean_acceptance": mean_accept,
            "energy_at": snaps.iter().map(|&s| (s.to_string(), json!(c.mean_e[s]))).collect::<Map<_, _>>(),
        })
    };
    let summary =
        json!({"mala": mala, "chains": n, "visible": stats(&visible), "latent": stats(&latent)});
    let per_run = json!({
        run.id.clone(): {
            "config": run.cfg,
            "seed": run.cfg.seed,
            "iterations": trained.iterations,
            "train_seconds": trained.seconds,
            "final": trained.last,
        }
    });
    body = format!(
        "MALA with α {}, β {}, latent prior {}, {} chains; both spaces start from the same G(z_0). \
         Mean acceptance: visible {:.3}, latent {:.3}.\n\n{body}",
        mala.alpha,
        mala.beta,
        mala.prior_on(),
        n,
        summary["visible"]["mean_acceptance"].as_f64().unwrap_or(f64::NAN),
        summary["latent"]["mean_acceptance"].as_f64().unwrap_or(f64::NAN),
    );
    t.finish(per_run, summary, &[], &body)
}
