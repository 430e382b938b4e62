//! What every target's runner shares: expanding a spec's runs for a profile,
//! checking their data before any training, training (resuming) each run in
//! `runs/<id>/`, caching finished evaluations, and writing `results.json`,
//! `table.csv` / `table.md`, `report.md` and the reports index.
//!
//! Interruption: training resumes from the last checkpoint of a run, and an
//! evaluation is stored atomically in `runs/<id>/<name>.json` next to the
//! config it was computed for, so re-running a target skips finished work.

use crate::results::{Results, RunResult};
use crate::spec::{EvalSettings, Experiment, PaperValue, Profile};
use crate::{Mode, Options};
use anyhow::{bail, Context, Result};
use meg_models::train::{read_run_metrics, train_with, TrainOptions, Trained};
use meg_models::{Model, RunConfig};
use meg_reports::plot::{self, LinePlot, Series};
use meg_reports::table::Row as TableRow;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

/// One run of a target under a profile.
pub struct Run {
    /// Run id (`<spec id>` or `<spec id>-s<k>` for multi-seed runs).
    pub id: String,
    /// The spec's id (shared by the seeds of one run).
    pub spec_id: String,
    pub cfg: RunConfig,
    pub dir: PathBuf,
}

impl Run {
    /// Whether the run has trained to its end for this config: its `run.json`
    /// (written once the last iteration is checkpointed) holds this config.
    pub fn finished(&self) -> bool {
        let Ok(text) = std::fs::read_to_string(self.dir.join(meg_models::train::RUN_FILE)) else {
            return false;
        };
        let Ok(doc) = serde_json::from_str::<Value>(&text) else {
            return false;
        };
        serde_json::to_value(&self.cfg).is_ok_and(|cfg| doc.get("config") == Some(&cfg))
    }
}

/// A target being reproduced under one profile.
pub struct Target<'a> {
    pub exp: &'a Experiment,
    pub opts: &'a Options,
    /// `reports/<target>/<profile>/`.
    pub out: PathBuf,
    t0: Instant,
    /// The lock on `out`, taken by [`Target::runs`] and held until the target
    /// is done.
    lock: std::cell::OnceCell<meg_plumbing::dirlock::DirLock>,
}

impl<'a> Target<'a> {
    /// A target writing to `reports/<target>/<profile>/` (created by
    /// [`Target::runs`], once the data is there), and the profile's
    /// evaluation settings `E` (see [`Experiment::eval_settings`]: every
    /// profile's are checked, so a typo anywhere fails before any work).
    pub fn new<E: EvalSettings>(exp: &'a Experiment, opts: &'a Options) -> Result<(Self, E)> {
        let eval = exp.eval_settings(opts.profile)?;
        let out = opts
            .reports_dir
            .join(&exp.target)
            .join(opts.profile.as_str());
        let t = Target {
            exp,
            opts,
            out,
            t0: Instant::now(),
            lock: std::cell::OnceCell::new(),
        };
        Ok((t, eval))
    }

    /// The profile.
    pub fn profile(&self) -> Profile {
        self.opts.profile
    }

    /// Every run of the spec under the profile (seeds expanded), with its data
    /// checked: a missing data set stops here, before any training, with the
    /// command that fetches or imports it.
    pub fn runs(&self) -> Result<Vec<Run>> {
        let mut runs: Vec<Run> = Vec::new();
        let profile = self.exp.profile(self.profile())?;
        for spec in self.exp.runs.iter().filter(|r| profile.trains(&r.id)) {
            let base = self.exp.run_config(spec, self.profile())?;
            let seeds = self.opts.seeds.or(spec.seeds);
            let ks: Vec<Option<u64>> = match seeds {
                None => vec![None],
                Some(n) => (0..n.max(1)).map(Some).collect(),
            };
            for k in ks {
                let mut cfg = base.clone();
                let id = match k {
                    None => spec.id.clone(),
                    Some(k) => {
                        cfg.seed = base.seed + k;
                        cfg.name = format!("{}-s{k}", base.name);
                        format!("{}-s{k}", spec.id)
                    }
                };
                runs.push(Run {
                    dir: self.out.join("runs").join(&id),
                    id,
                    spec_id: spec.id.clone(),
                    cfg,
                });
            }
        }
        if let Mode::TrainRun(id) = &self.opts.mode {
            let Some(i) = runs.iter().position(|r| &r.id == id) else {
                let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
                bail!(
                    "{} (profile `{}`) has no run `{id}`: its runs are {}",
                    self.exp.target,
                    self.profile(),
                    ids.join(", ")
                );
            };
            runs = vec![runs.swap_remove(i)];
        }
        let needed: BTreeSet<&str> = runs
            .iter()
            .filter_map(|r| r.cfg.data.dataset_name())
            .collect();
        for name in needed {
            meg_datasets::config::require_dataset(name).with_context(|| {
                format!(
                    "{} (profile `{}`) needs data set `{name}`",
                    self.exp.target,
                    self.profile()
                )
            })?;
        }
        if let Mode::TrainRun(_) = self.opts.mode {
            // Beside the target's other runs, trained at the same time: the
            // run's own lock (taken by training) is the one that matters.
            return Ok(runs);
        }
        if self.lock.get().is_none() {
            let lock = meg_plumbing::dirlock::DirLock::acquire(&self.out).with_context(|| {
                format!("cannot reproduce {} ({})", self.exp.target, self.profile())
            })?;
            let _ = self.lock.set(lock);
            meg_plumbing::fault::point("target-locked");
        }
        meg_plumbing::io::remove_stale_temporaries(&self.out)?;
        meg_plumbing::io::remove_stale_temporaries(&self.opts.reports_dir)?;
        if self.opts.mode == Mode::EvaluateOnly {
            let unfinished: Vec<String> = runs
                .iter()
                .filter(|r| !r.finished())
                .map(|r| format!("{} ({})", r.id, r.dir.display()))
                .collect();
            if !unfinished.is_empty() {
                bail!(
                    "--evaluate-only: {} of the {} runs of {} ({}) are not finished: {}; train them first \
                     (the Slurm array, `meg reproduce {} --profile {} --train-run ID`, or without --evaluate-only)",
                    unfinished.len(),
                    runs.len(),
                    self.exp.target,
                    self.profile(),
                    unfinished.join(", "),
                    self.exp.target,
                    self.profile()
                );
            }
        }
        Ok(runs)
    }

    /// Trains (or resumes, or finds finished) `run`, calling `hook` after
    /// every iteration trained now.
    pub fn train(&self, run: &Run, hook: &mut dyn FnMut(u64, &Model)) -> Result<Trained> {
        meg_plumbing::fault::point("before-run");
        if self.opts.mode == Mode::EvaluateOnly && !run.finished() {
            bail!(
                "--evaluate-only: run `{}` is not finished ({})",
                run.id,
                run.dir.display()
            );
        }
        let mut topts = TrainOptions::new(&run.dir, self.opts.device);
        topts.resume = true;
        // A fault point per run after each checkpoint (`checkpoint:<run id>`),
        // so that a test can stop or kill one run of several (a Slurm array
        // element) at an exact moment.
        topts.checkpoint_fault = Some(format!("checkpoint:{}", run.id));
        train_with(&run.cfg, &topts, hook)
            .with_context(|| format!("training run `{}`", run.cfg.name))
    }

    /// The evaluation `name` of `run`: read from `runs/<id>/<name>.json` when
    /// it was computed for this run's config and `key` (the evaluation
    /// settings), else computed by `f` and stored atomically.
    pub fn cached<T: Serialize + DeserializeOwned>(
        &self,
        run: &Run,
        name: &str,
        key: &Value,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        cached_in(&run.dir, name, &json!({"config": run.cfg, "eval": key}), f)
    }

    /// Loss curves of the runs' `metrics.csv` into `loss.png`.
    pub fn loss_plot(&self, runs: &[&Run]) -> Result<String> {
        let mut series = Vec::new();
        for r in runs {
            series.push((r.id.clone(), read_run_metrics(&r.dir)?));
        }
        let curve = |title: &str, f: fn(&meg_models::train::Row) -> f64| LinePlot {
            title: title.to_string(),
            x_label: "iteration".into(),
            series: series
                .iter()
                .map(|(n, rows)| Series {
                    name: n.clone(),
                    points: rows.iter().map(|r| (r.iteration as f64, f(r))).collect(),
                })
                .collect(),
        };
        plot::lines_png(
            &self.out.join("loss.png"),
            &[
                curve("E(real)", |r| r.e_real),
                curve("E(fake)", |r| r.e_fake),
                curve("penalty", |r| r.penalty),
                curve("MI loss (BCE)", |r| r.mi_loss),
            ],
            400,
        )?;
        Ok(meg_reports::markdown::image("loss curves", "loss.png"))
    }

    /// The paper's value for (`setting`, `metric`), if the spec lists one.
    pub fn paper(&self, setting: &str, metric: &str) -> Option<&PaperValue> {
        self.exp
            .paper
            .values
            .iter()
            .find(|v| v.setting == setting && v.metric == metric)
    }

    /// A table row of ours beside the paper's value for the same setting; a
    /// reference without a difference when this profile trains on other data
    /// than the paper profile (see [`Target::stand_in`]).
    pub fn row(&self, setting: &str, metric: &str, ours: f64, ours_std: Option<f64>) -> TableRow {
        let p = self.paper(setting, metric);
        let mut row = TableRow::new(setting, metric, ours);
        if let Some(s) = ours_std {
            row = row.std(s);
        }
        match p {
            Some(p) if self.stand_in().is_some() => row.paper(p.value, p.std).reference_only(),
            Some(p) => row.paper(p.value, p.std),
            None => row,
        }
    }

    /// When this profile's runs read other data than the paper profile's
    /// (a stand-in, a smaller or synthetic set), what they read instead: then
    /// the paper's numbers are a reference, not something ours differ from.
    pub fn stand_in(&self) -> Option<String> {
        if self.profile() == Profile::Paper {
            return None;
        }
        for spec in &self.exp.runs {
            let ours = self.exp.run_config(spec, self.profile()).ok()?;
            let paper = match self.exp.run_config(spec, Profile::Paper) {
                Ok(c) => c,
                Err(_) => return Some(ours.data.describe()),
            };
            if ours.data != paper.data {
                return Some(format!(
                    "{} instead of the paper's {}",
                    ours.data.describe(),
                    paper.data.describe()
                ));
            }
        }
        None
    }

    /// Writes `results.json` (runs and summary with config, seeds, provenance
    /// and wall time), `table.csv` / `table.md`, `report.md` (the table, then
    /// `body`), and refreshes `reports/index.md`. Returns the output folder.
    pub fn finish<R: RunResult, S: Serialize>(
        &self,
        runs: &BTreeMap<String, R>,
        summary: &S,
        table: &[TableRow],
        body: &str,
    ) -> Result<PathBuf> {
        let p = self.exp.profile(self.profile())?;
        // Training time summed over runs (kept across resumed invocations,
        // unlike the wall time of this invocation).
        let train_seconds =
            (!runs.is_empty()).then(|| runs.values().map(RunResult::train_seconds).sum());
        let doc = Results {
            target: &self.exp.target,
            profile: self.profile(),
            title: &self.exp.title,
            eval: &p.eval,
            provenance: meg_nn::provenance(self.opts.device),
            wall_seconds: self.t0.elapsed().as_secs_f64(),
            train_seconds,
            finished: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            runs,
            summary,
        };
        // Through a JSON value: the file's objects keep their keys sorted, as
        // they always were, whatever the order of the structs' fields.
        let doc = serde_json::to_value(&doc)?;
        meg_plumbing::io::write_atomic(
            &self.out.join("results.json"),
            serde_json::to_string_pretty(&doc)?.as_bytes(),
        )?;
        let mut md = format!(
            "# {}\n\nProfile `{}`: {}\n\n{}\n\n",
            self.exp.title,
            self.profile(),
            p.description.trim(),
            self.exp.description.trim()
        );
        if !table.is_empty() {
            let df = meg_reports::table::write_table(&self.out, table)?;
            let table_md = meg_reports::table::markdown(&df)?;
            let source = &self.exp.paper.source;
            let reference = match self.stand_in() {
                Some(data) if table.iter().any(|r| r.paper.is_some()) => format!(
                    "This profile trains on {data}: the paper's numbers are shown for \
                     reference only, and no difference is computed.\n\n"
                ),
                _ => String::new(),
            };
            md += &format!(
                "## Ours beside the paper\n\n{}{reference}{table_md}\n",
                if source.is_empty() {
                    String::new()
                } else {
                    format!("Paper values: {source}.\n\n")
                }
            );
        }
        if !self.exp.paper.note.is_empty() {
            md += &format!("{}\n\n", self.exp.paper.note.trim());
        }
        md += body;
        let trained = train_seconds.map_or_else(String::new, |s: f64| {
            format!(" Training, summed over the runs of every invocation: {s:.1} s.")
        });
        md += &format!(
            "\n\nWall time of this invocation {:.1} s on {} (a rerun of a finished target only \
             re-evaluates it).{trained} Every number and setting is in `results.json`.\n",
            self.t0.elapsed().as_secs_f64(),
            meg_nn::provenance(self.opts.device).device
        );
        meg_plumbing::io::write_atomic(&self.out.join("report.md"), md.as_bytes())?;
        meg_reports::index::write_index(&self.opts.reports_dir, &crate::indexed_targets())?;
        eprintln!(
            "{} ({}): wrote {}",
            self.exp.target,
            self.profile(),
            self.out.display()
        );
        Ok(self.out.clone())
    }
}

/// [`Target::cached`] in a folder, keyed by `key`.
pub fn cached_in<T: Serialize + DeserializeOwned>(
    dir: &Path,
    name: &str,
    key: &Value,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let path = dir.join(format!("{name}.json"));
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(stored) = serde_json::from_str::<Value>(&text) {
            if stored.get("key") == Some(key) {
                if let Some(v) = stored.get("value") {
                    if let Ok(v) = serde_json::from_value(v.clone()) {
                        return Ok(v);
                    }
                }
            }
        }
    }
    let value = f()?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let doc = json!({"key": key, "value": serde_json::to_value(&value)?});
    meg_plumbing::io::write_atomic(&path, serde_json::to_string(&doc)?.as_bytes())?;
    Ok(value)
}

/// Mean and sample standard deviation (N-1; 0 for one value).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}
