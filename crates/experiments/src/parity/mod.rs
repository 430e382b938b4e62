//! `parity`: our training step against a PyTorch reference, at a
//! CPU-affordable size, several seeds each. The reference is
//! `tests/parity/reference.py`: the project's own PyTorch code, or with
//! `--reference DIR` the authors' networks and training step imported from a
//! checkout of their repository (its commit is recorded). Both sides see the
//! same data density (the toy sampler's recipe, reimplemented in Python) and
//! are evaluated by the same Rust code from the generator samples they write.
//! Not part of `all` or of the smoke hashes: its numbers depend on PyTorch.

mod reference;
pub mod stats;

use crate::results::RunResult;
use crate::spec::{EvalSettings, Experiment};
use crate::target::{Run, Target};
use crate::Options;
use anyhow::{bail, Context, Result};
use meg_models::config::DataConfig;
use meg_models::train::{read_run_metrics, Row};
use meg_reports::band::{bands_png, BandPlot, BandSeries};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stats::{EvalPoint, Evaluator, Verdict};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::Device;

/// The evaluation settings a profile may give (`profiles.<name>.eval`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Eval {
    /// Generator samples are evaluated every this many iterations (and at the end).
    pub every: u64,
    /// The same for StackedMNIST, whose evaluation (a classifier on every
    /// channel) costs far more than the toy's (`every` when absent).
    pub stack_every: Option<u64>,
    /// Generator samples per evaluation (toy).
    pub samples: i64,
    /// Generator samples per evaluation (StackedMNIST).
    pub stack_samples: i64,
    /// Epochs of the mode-counting classifier when it is trained here (as table1).
    pub classifier_epochs: usize,
    /// Its learning rate (the architecture's default when absent).
    pub classifier_lr: Option<f64>,
    /// The test accuracy it must reach (none when absent).
    pub classifier_min_accuracy: Option<f64>,
    /// Seed of the evaluation latents.
    pub seed: u64,
    /// Share of the logged rows, at the end, averaged per seed for the
    /// verdicts on E(real), E(fake), their gap, penalty and MI.
    pub tail: f64,
}

impl Default for Eval {
    fn default() -> Self {
        Eval {
            every: 250,
            stack_every: None,
            samples: 5000,
            stack_samples: 2600,
            seed: 1234,
            classifier_epochs: 10,
            classifier_lr: None,
            classifier_min_accuracy: None,
            tail: 0.25,
        }
    }
}

impl Eval {
    /// Iterations between evaluations of a run on `data`.
    pub fn every_for(&self, data: &DataConfig) -> u64 {
        match data {
            DataConfig::StackedMnist { .. } => self.stack_every.unwrap_or(self.every),
            _ => self.every,
        }
    }
}

impl EvalSettings for Eval {
    fn validate(&self) -> Result<()> {
        if self.every == 0
            || self.stack_every == Some(0)
            || self.samples < 1
            || self.stack_samples < 1
            || !(self.tail > 0.0 && self.tail <= 1.0)
        {
            bail!("every >= 1, stack_every >= 1, samples >= 1 and 0 < tail <= 1 are required, got {self:?}");
        }
        Ok(())
    }
}

/// One side's run in `results.json`.
#[derive(Debug, Serialize)]
pub struct SideRun {
    /// `ours` or `reference`.
    pub side: &'static str,
    pub spec: String,
    pub seed: u64,
    pub train_seconds: f64,
    #[serde(rename = "final")]
    pub last: Row,
    pub evals: Vec<EvalPoint>,
}

impl RunResult for SideRun {
    fn train_seconds(&self) -> f64 {
        self.train_seconds
    }
}

/// The summary of `results.json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// What the reference side was (and the authors' commit, if theirs).
    pub reference: Value,
    /// The StackedMNIST mode-counting classifier, if a run needed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier: Option<crate::classifier::ClassifierReport>,
    pub verdicts: BTreeMap<String, Vec<Verdict>>,
    pub rule: &'static str,
}

const RULE: &str = "agree when |mean_ours - mean_ref| <= 2·sqrt(s_ours²/n_ours + s_ref²/n_ref) \
                    (twice the standard error of the difference of the seed means; s: sample \
                    standard deviation over seeds)";

/// Trains both sides of every run and seed, evaluates, writes the report.
pub fn run(exp: &Experiment, opts: &Options) -> Result<PathBuf> {
    let (t, eval) = Target::new::<Eval>(exp, opts)?;
    eval.validate()?;
    let reference = opts.reference.as_deref();
    if let Some(dir) = reference {
        for need in ["scripts/train/functions.py", "networks/regularizers.py"] {
            if !dir.join(need).is_file() {
                bail!(
                    "--reference {}: no {need}; expected a checkout of \
                     github.com/ritheshkumar95/energy_based_generative_models",
                    dir.display()
                );
            }
        }
    }
    let runs = t.runs()?;
    // The two sides train side by side: half the threads each.
    let threads = tch::get_num_threads().max(1);
    let (ours_threads, ref_threads) = ((threads / 2).max(1), (threads - threads / 2).max(1));
    tch::set_num_threads(ours_threads);
    // Each spec's runs, as indices into `runs`.
    let mut by_spec: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in runs.iter().enumerate() {
        by_spec.entry(r.spec_id.clone()).or_default().push(i);
    }
    // The reference side trains its runs on a thread of its own while ours
    // trains here (see below).
    let mut queue = Vec::new();
    for r in &runs {
        let data_file = t
            .out
            .join("runs")
            .join(format!("{}-data.safetensors", r.spec_id));
        reference::export_stacks(&data_file, &r.cfg.data)?;
        let cfg = reference::config(&r.cfg, &eval, reference, ref_threads as i64, &data_file)?;
        queue.push((ref_dir(r, reference.is_some()), cfg));
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // StackedMNIST runs first: they take about twice as long as the toy's,
    // so the runs left at the end are short, and so are their evaluations.
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by_key(|&i| matches!(runs[i].cfg.data, DataConfig::Toy { .. }));
    let refs = reference::Queue::start(queue, order, stop.clone());
    // This thread trains our side, then the classifier, then evaluates our
    // runs and, while the reference side trains, its finished runs, training
    // the next reference run when none waits: no core idles until the end.
    // Every evaluation runs here, at this thread count, so that a rerun
    // (which only re-evaluates) gives the same numbers.
    let eval_dir = |dir: &Path, run: &Run, clf: Option<&Classifier>| {
        stats::evaluate_dir(dir, &evaluator(exp, run, clf)?)
    };
    let eval_ref = |run: &Run, clf: Option<&Classifier>| {
        eval_dir(&ref_dir(run, reference.is_some()), run, clf)
    };
    let mut ref_evals: Vec<Option<Vec<EvalPoint>>> = vec![None; runs.len()];
    let mine = (|| -> Result<_> {
        let trained = runs
            .iter()
            .map(|r| train_ours(&t, r, &eval))
            .collect::<Result<Vec<f64>>>()?;
        let clf = parity_classifier(&t, &runs, &eval)?;
        let ours = runs
            .iter()
            .map(|r| eval_dir(&r.dir, r, clf.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        loop {
            let next = refs
                .finished_runs()
                .into_iter()
                .find(|&i| ref_evals[i].is_none());
            if let Some(i) = next {
                ref_evals[i] = Some(eval_ref(&runs[i], clf.as_ref())?);
                continue;
            }
            match refs.run_next() {
                Some(r) => r?,
                None => return Ok((trained, clf, ours)),
            }
        }
    })();
    let (ours_trained, clf, mut our_evals) = match mine {
        Ok(v) => v,
        Err(e) => {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = refs.join();
            return Err(e);
        }
    };
    let ref_recs = refs.join()?;
    for (i, r) in runs.iter().enumerate() {
        if ref_evals[i].is_none() {
            ref_evals[i] = Some(eval_ref(r, clf.as_ref())?);
        }
    }
    tch::set_num_threads(threads);
    let mut results = BTreeMap::new();
    let mut verdicts = BTreeMap::new();
    let mut body = String::new();
    let mut ref_info = Value::Null;
    for (spec, seeds) in &by_spec {
        if seeds.len() < 3 {
            eprintln!(
                "parity: `{spec}` has {} seed(s); the verdicts need at least 3 to mean anything",
                seeds.len()
            );
        }
        let mut ours = Vec::new();
        let mut refs = Vec::new();
        for &i in seeds {
            let run = &runs[i];
            let ref_dir = ref_dir(run, reference.is_some());
            let (trained, rec) = (ours_trained[i], &ref_recs[i]);
            ref_info = rec["reference"].clone();
            let our_evals = std::mem::take(&mut our_evals[i]);
            let ref_evals = ref_evals[i].take().context("evaluated above")?;
            let mut ref_rows = read_run_metrics(&ref_dir)?;
            let scale = authors_penalty_scale(rec, &run.cfg);
            for r in &mut ref_rows {
                r.penalty *= scale;
            }
            let side = |side, rows: &[Row], secs, evals: &[EvalPoint]| SideRun {
                side,
                spec: spec.clone(),
                seed: run.cfg.seed,
                train_seconds: secs,
                last: rows.last().copied().unwrap_or_default(),
                evals: evals.to_vec(),
            };
            let our_rows = read_run_metrics(&run.dir)?;
            results.insert(run.id.clone(), side("ours", &our_rows, trained, &our_evals));
            let secs = rec["seconds"].as_f64().unwrap_or(0.0);
            let ref_id = ref_dir.file_name().unwrap_or_default().to_string_lossy();
            results.insert(
                ref_id.into_owned(),
                side("reference", &ref_rows, secs, &ref_evals),
            );
            ours.push((our_rows, our_evals));
            refs.push((ref_rows, ref_evals));
        }
        let v = spec_verdicts(&ours, &refs, eval.tail);
        body += &format!("## `{spec}`\n\n{}\n", verdict_table(&v));
        for (png, traj) in [
            (format!("{spec}-trajectories.png"), true),
            (format!("{spec}-generator.png"), false),
        ] {
            plot_spec(&t.out.join(&png), &ours, &refs, traj)?;
            body += &meg_reports::markdown::image(spec, &png);
        }
        verdicts.insert(spec.clone(), v);
    }
    let what = ref_info["what"].as_str().unwrap_or("?").to_string();
    let commit = ref_info["commit"]
        .as_str()
        .map(|c| format!(" at commit `{c}`"))
        .unwrap_or_default();
    let head = format!(
        "Reference side: {what}{commit}.\n\nRule: {RULE}. Trajectory quantities (E(real), E(fake), their gap, \
         penalty, MI loss) are per seed the mean of the last {:.0}% of the logged rows; generator quantities (modes, \
         high-quality share, KL(mode frequencies ‖ uniform)) are those of the last evaluation, from {} (toy) or {} \
         (StackedMNIST, each channel classified by the table1 classifier{}) samples of a fixed latent batch. Bands in the figures: mean ± one standard deviation over seeds.{}\n\n",
        eval.tail * 100.0,
        eval.samples,
        eval.stack_samples,
        clf.as_ref()
            .map(|c| format!(": {}", c.1.describe()))
            .unwrap_or_default(),
        if reference.is_some() {
            " Penalties with the authors' code: their MEG image penalty (squared gradient norm over \
             channels, averaged over pixels) is ours / (28·28); they train with λ·28·28 (the same \
             effective weight) and their logged values are multiplied by 28·28 here. Their WGAN-GP \
             penalty is the only one their code has: one interpolation weight per pixel and \
             (norm over channels - 1)² per pixel, our `gradient_penalty: per-pixel`. Runs with our \
             default `per-example` penalty (Gulrajani et al.: the norm of each image's whole \
             gradient) are compared against it as it is, to show what the difference does."
        } else {
            ""
        }
    );
    let summary = Summary {
        reference: ref_info,
        classifier: clf.map(|c| c.1),
        verdicts,
        rule: RULE,
    };
    t.finish(&results, &summary, &[], &(head + &body))
}

/// The factor that puts the logged penalty of a reference run on our scale:
/// the authors' MEG image penalty is the squared gradient norm over channels
/// averaged over pixels, i.e. ours / (H·W) (their run trains with λ·H·W, the
/// same effective weight), so it is multiplied by H·W; everything else is
/// on our scale already (toy: the full norm; the project's own reference:
/// ours, and their WGAN-GP penalty, which is our `per-pixel`).
fn authors_penalty_scale(rec: &Value, cfg: &meg_models::RunConfig) -> f64 {
    let authors = rec["reference"]["kind"] == "authors";
    match (&cfg.model, cfg.objective) {
        (meg_models::config::ModelConfig::Mnist { .. }, meg_models::config::Objective::Meg)
            if authors =>
        {
            28.0 * 28.0
        }
        _ => 1.0,
    }
}

/// How `run`'s samples are evaluated: toy mode coverage, or StackedMNIST
/// modes by `classifier`.
fn evaluator<'a>(
    exp: &Experiment,
    run: &Run,
    classifier: Option<&'a Classifier>,
) -> Result<Evaluator<'a>> {
    Ok(match run.cfg.data {
        DataConfig::Toy { name } => Evaluator::Toy(name),
        DataConfig::StackedMnist { stacks, .. } => Evaluator::Stacks {
            classifier: &classifier
                .context("a StackedMNIST run needs the classifier")?
                .0,
            k: stacks,
        },
        _ => bail!(
            "{}: run `{}` must use toy or stacked-mnist data",
            exp.path.display(),
            run.id
        ),
    })
}

/// The mode-counting classifier and where it comes from.
type Classifier = (
    meg_metrics::classifier::MnistClassifier,
    crate::classifier::ClassifierReport,
);

/// The mode-counting classifier of the first StackedMNIST run's data, if any.
fn parity_classifier(t: &Target, runs: &[Run], eval: &Eval) -> Result<Option<Classifier>> {
    for r in runs {
        if let DataConfig::StackedMnist {
            dataset, synthetic, ..
        } = r.cfg.data
        {
            let train = crate::classifier::Training {
                epochs: eval.classifier_epochs,
                lr: eval.classifier_lr,
                min_accuracy: eval.classifier_min_accuracy,
            };
            return crate::classifier::classifier(t, dataset, synthetic, train).map(Some);
        }
    }
    Ok(None)
}

/// Beside our run's folder: `runs/<id>-ref/` (the project's own PyTorch
/// reference) or `runs/<id>-authors/` (the authors' code), so that both
/// stay cached.
fn ref_dir(run: &Run, authors: bool) -> PathBuf {
    let suffix = if authors { "authors" } else { "ref" };
    let name = format!(
        "{}-{suffix}",
        run.dir.file_name().unwrap_or_default().to_string_lossy()
    );
    run.dir.with_file_name(name)
}

/// Trains our side of `run`, writing generator samples every
/// [`Eval::every_for`] iterations; returns its training seconds.
fn train_ours(t: &Target, run: &Run, eval: &Eval) -> Result<f64> {
    let total = run.cfg.iterations.unwrap_or(0);
    let every = eval.every_for(&run.cfg.data);
    // Drawn before training, which re-seeds the RNG at its start.
    tch::manual_seed(eval.seed as i64);
    let n = match run.cfg.data {
        DataConfig::Toy { .. } => eval.samples,
        _ => eval.stack_samples,
    };
    let z = tch::Tensor::randn(
        [n, run.cfg.model.z_dim()],
        (tch::Kind::Float, t.opts.device),
    );
    let mut failed = None;
    let dir = run.dir.clone();
    let trained = t.train(run, &mut |it, model| {
        if failed.is_none() && (it % every == 0 || it == total) {
            let x = tch::no_grad(|| model.generate(&z, false)).to_device(Device::Cpu);
            if let Err(e) = stats::write_samples(&dir, it, &x) {
                failed = Some(e);
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(trained.seconds)
}

type Side = (Vec<Row>, Vec<EvalPoint>);

/// The energy's level is not identified (both losses see only differences of
/// E), so E(real) and E(fake) drift together; their gap is what the loss sees.
const TRAJ: [(&str, fn(&Row) -> f64); 5] = [
    ("E(real)", |r| r.e_real),
    ("E(fake)", |r| r.e_fake),
    ("E(real) − E(fake)", |r| r.e_real - r.e_fake),
    ("penalty", |r| r.penalty),
    ("MI loss (BCE)", |r| r.mi_loss),
];

const EVALS: [(&str, fn(&EvalPoint) -> f64); 3] = [
    ("modes", |e| e.modes),
    ("high-quality share", |e| e.high_quality_share),
    ("KL(modes ‖ uniform)", |e| e.kl),
];

fn spec_verdicts(ours: &[Side], refs: &[Side], tail: f64) -> Vec<Verdict> {
    let tail_mean = |rows: &[Row], f: fn(&Row) -> f64| {
        let k = ((rows.len() as f64 * tail).ceil() as usize).clamp(1, rows.len().max(1));
        let v: Vec<f64> = rows[rows.len().saturating_sub(k)..].iter().map(f).collect();
        crate::target::mean_std(&v).0
    };
    let last = |e: &[EvalPoint], f: fn(&EvalPoint) -> f64| e.last().map(f).unwrap_or(f64::NAN);
    let mut out = Vec::new();
    for (name, f) in TRAJ {
        let o: Vec<f64> = ours.iter().map(|s| tail_mean(&s.0, f)).collect();
        let r: Vec<f64> = refs.iter().map(|s| tail_mean(&s.0, f)).collect();
        if o.iter().chain(&r).all(|&v| v == 0.0) {
            continue; // the MI term of WGAN-GP
        }
        out.push(stats::verdict(name, &o, &r));
    }
    for (name, f) in EVALS {
        let o: Vec<f64> = ours.iter().map(|s| last(&s.1, f)).collect();
        let r: Vec<f64> = refs.iter().map(|s| last(&s.1, f)).collect();
        if o.iter().chain(&r).all(|v| v.is_nan()) {
            continue; // the high-quality share of StackedMNIST
        }
        out.push(stats::verdict(name, &o, &r));
    }
    out
}

/// A number for the tables: 4 decimals, or 4 significant digits in
/// scientific notation below 0.01.
fn num(x: f64) -> String {
    if x != 0.0 && x.abs() < 0.01 {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

fn verdict_table(v: &[Verdict]) -> String {
    let rows: Vec<Vec<String>> = v
        .iter()
        .map(|v| {
            vec![
                v.quantity.clone(),
                format!(
                    "{} ± {} (n={})",
                    num(v.ours_mean),
                    num(v.ours_std),
                    v.seeds_ours
                ),
                format!(
                    "{} ± {} (n={})",
                    num(v.ref_mean),
                    num(v.ref_std),
                    v.seeds_ref
                ),
                num(v.diff),
                num(v.threshold),
                match v.agree {
                    Some(true) => "agree",
                    Some(false) => "differ",
                    None => "n/a (undefined values)",
                }
                .to_string(),
            ]
        })
        .collect();
    meg_plumbing::markdown::table(
        &[
            "quantity",
            "ours mean ± sd",
            "reference mean ± sd",
            "abs. difference",
            "2·SE",
            "verdict",
        ],
        &rows,
    )
}

/// Trajectories (`traj`) or the generator's evaluations, with a band per
/// implementation.
fn plot_spec(path: &Path, ours: &[Side], refs: &[Side], traj: bool) -> Result<()> {
    let mut plots = Vec::new();
    let series = |name: &str, curves: Vec<Vec<(f64, f64)>>| BandSeries {
        name: name.to_string(),
        points: stats::band(&curves),
    };
    let all_sides = || ours.iter().chain(refs);
    for (title, f) in TRAJ.into_iter().filter(|_| traj) {
        if all_sides().flat_map(|s| &s.0).all(|r| f(r) == 0.0) {
            continue;
        }
        let curves = |s: &[Side]| -> Vec<Vec<(f64, f64)>> {
            s.iter()
                .map(|s| s.0.iter().map(|r| (r.iteration as f64, f(r))).collect())
                .collect()
        };
        plots.push(BandPlot {
            title: title.to_string(),
            x_label: "iteration".into(),
            series: vec![
                series("ours (tch)", curves(ours)),
                series("reference (PyTorch)", curves(refs)),
            ],
        });
    }
    for (title, f) in EVALS.into_iter().filter(|_| !traj) {
        if all_sides().flat_map(|s| &s.1).all(|e| f(e).is_nan()) {
            continue;
        }
        let curves = |s: &[Side]| -> Vec<Vec<(f64, f64)>> {
            s.iter()
                .map(|s| s.1.iter().map(|e| (e.iteration as f64, f(e))).collect())
                .collect()
        };
        plots.push(BandPlot {
            title: title.to_string(),
            x_label: "iteration".into(),
            series: vec![
                series("ours (tch)", curves(ours)),
                series("reference (PyTorch)", curves(refs)),
            ],
        });
    }
    bands_png(path, &plots, 420)
}
