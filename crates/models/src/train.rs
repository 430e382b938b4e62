//! The one training loop, shared by every experiment.
//!
//! One iteration is `k_g` generator steps followed by `k_e` energy (critic)
//! steps. The loop writes `metrics.csv`, checkpoints atomically, stops on a
//! non-finite value keeping the last good checkpoint, and resumes from the
//! checkpoint, continuing the iteration count.
//!
//! Determinism across interruptions: after every checkpoint, libtorch's RNG
//! and the data stream are re-seeded from (seed, iteration). A run resumed
//! from a checkpoint therefore follows the same trajectory as one that was
//! never interrupted (on the same machine and thread count).

use crate::adam::Adam;
use crate::checkpoint::{self, Checkpoint};
use crate::config::{Objective, RunConfig};
use crate::data::{self, DataSource};
use crate::nets::Model;
use crate::objectives;
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use meg_plumbing::seed::splitmix64;
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Tensor};

/// File names inside a run directory.
pub const CONFIG_FILE: &str = "config.yaml";
pub const METRICS_FILE: &str = "metrics.csv";

/// A logged term (E(real), E(fake), penalty, MI loss) beyond this magnitude
/// stops training as diverged, like a NaN: the paper's runs keep them within
/// a few hundred, and a run whose energies reach 1e8 has left any useful
/// regime (learning rates of 1 to 1000 were seen to climb to ~1e27).
pub const DIVERGENCE_LIMIT: f32 = 1e8;
pub const RUN_FILE: &str = "run.json";
const METRICS_HEADER: &str = "iteration,e_real,e_fake,penalty,mi_loss,seconds";

/// How to run (as opposed to what to train, which is the [`RunConfig`]).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub out_dir: PathBuf,
    pub device: Device,
    /// Continue from the checkpoint in `out_dir` if there is one.
    pub resume: bool,
    /// Print a log line per metrics row (defaults to: stderr is not a terminal).
    pub log_lines: bool,
    /// Stop (with a checkpoint) after this iteration, or after the last
    /// checkpoint iteration before it, leaving the run resumable exactly.
    pub stop_at: Option<u64>,
    /// A fault point (meg_plumbing::fault) reached right after every
    /// checkpoint, so that a test can stop or kill one run of several.
    pub checkpoint_fault: Option<String>,
}

impl TrainOptions {
    pub fn new(out_dir: impl Into<PathBuf>, device: Device) -> Self {
        TrainOptions {
            out_dir: out_dir.into(),
            device,
            resume: false,
            log_lines: !std::io::stderr().is_terminal(),
            stop_at: None,
            checkpoint_fault: None,
        }
    }
}

/// One row of `metrics.csv`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Row {
    pub iteration: u64,
    pub e_real: f64,
    pub e_fake: f64,
    pub penalty: f64,
    pub mi_loss: f64,
    pub seconds: f64,
}

/// A finished (or already complete, or stopped at `stop_at`) run.
pub struct Trained {
    pub model: Model,
    /// Iterations completed so far.
    pub iterations: u64,
    /// Training seconds over all segments of the run.
    pub seconds: f64,
    pub last: Row,
}

#[derive(Serialize)]
struct RunRecord<'a> {
    config: &'a RunConfig,
    provenance: meg_plumbing::Provenance,
    iterations: u64,
    seconds: f64,
    last: Row,
}

/// Seed of stream `stream` for the segment starting at `iteration`.
fn segment_seed(seed: u64, iteration: u64, stream: u64) -> u64 {
    splitmix64(seed ^ splitmix64(iteration.wrapping_mul(3).wrapping_add(stream)))
}

fn reseed(cfg: &RunConfig, iteration: u64, source: &mut dyn DataSource) {
    tch::manual_seed(segment_seed(cfg.seed, iteration, 0) as i64);
    source.reseed(segment_seed(cfg.seed, iteration, 1));
}

/// Trains (or resumes) the run `cfg` into `opts.out_dir`.
pub fn train(cfg: &RunConfig, opts: &TrainOptions) -> Result<Trained> {
    train_with(cfg, opts, &mut |_, _| {})
}

/// [`train`], calling `after_iteration(iteration, model)` at the end of every
/// iteration (for snapshots or live evaluation).
pub fn train_with(
    cfg: &RunConfig,
    opts: &TrainOptions,
    after_iteration: &mut dyn FnMut(u64, &Model),
) -> Result<Trained> {
    cfg.validate()?;
    meg_nn::reuse_freed_memory();
    let dir = &opts.out_dir;
    // Held until training returns: no other process writes this run meanwhile.
    let _lock = meg_plumbing::dirlock::DirLock::acquire(dir)
        .with_context(|| format!("cannot train run `{}`", cfg.name))?;
    meg_plumbing::fault::point("run-locked");
    let ckpt_path = dir.join(checkpoint::FILE);
    let config_path = dir.join(CONFIG_FILE);
    if ckpt_path.exists() {
        if !opts.resume {
            bail!(
                "{} already holds a checkpoint: pass --resume to continue it, or choose another output directory",
                dir.display()
            );
        }
        let saved = RunConfig::from_file(&config_path)?;
        if &saved != cfg {
            bail!(
                "cannot resume {}: its {} differs from the config given now",
                dir.display(),
                config_path.display()
            );
        }
    }
    meg_plumbing::io::remove_stale_temporaries(dir)?;
    crate::memory::ensure_fits(cfg, opts.device)?;
    let fresh = !ckpt_path.exists();
    meg_plumbing::io::write_atomic(&config_path, cfg.to_yaml().as_bytes())?;
    let result = train_locked(cfg, opts, after_iteration);
    if result.is_err() && fresh && !ckpt_path.exists() {
        // A new run that failed before its first checkpoint leaves nothing
        // that looks like a run (the error says what happened and where).
        for f in [METRICS_FILE, CONFIG_FILE] {
            let _ = std::fs::remove_file(dir.join(f));
        }
    }
    result
}

/// [`train_with`] once the run directory is locked and its config written.
fn train_locked(
    cfg: &RunConfig,
    opts: &TrainOptions,
    after_iteration: &mut dyn FnMut(u64, &Model),
) -> Result<Trained> {
    let dir = &opts.out_dir;
    let ckpt_path = dir.join(checkpoint::FILE);
    tch::manual_seed(cfg.seed as i64);
    let mut model = Model::new(&cfg.model, opts.device);
    let mut opt_e = Adam::new(model.parameters("E"), cfg.lr, cfg.betas);
    let mut opt_gt = Adam::new(model.parameters("GT"), cfg.lr, cfg.betas);

    let mut start = 0;
    if opts.resume && ckpt_path.exists() {
        let ck = Checkpoint::read(&ckpt_path)?;
        ck.check_config(cfg)?;
        ck.restore_model(&model)?;
        ck.restore_optimizers(&mut opt_e, &mut opt_gt)?;
        start = ck.iteration()?;
    }
    let metrics_path = dir.join(METRICS_FILE);
    let mut rows = read_metrics(&metrics_path, start)?;
    let prior_seconds = rows.last().map(|r| r.seconds).unwrap_or(0.0);
    // Buffered: each row reaches the file in one write, at the flush below.
    let mut csv = std::io::BufWriter::new(rewrite_metrics(&metrics_path, &rows)?);
    let mut last = rows.pop().unwrap_or_default();

    let mut source = data::open(&cfg.data, segment_seed(cfg.seed, start, 1), opts.device)
        .with_context(|| format!("loading the data of run `{}`", cfg.name))?;
    reseed(cfg, start, source.as_mut());
    let total = cfg.total_iterations(source.size())?;
    if start > total {
        bail!(
            "checkpoint {} is at iteration {start}, beyond the {total} iterations of run `{}`",
            ckpt_path.display(),
            cfg.name
        );
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} it  {per_sec}  eta {eta}  {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(cfg.name.clone());
    bar.set_position(start);
    let t0 = Instant::now();
    let end = stop_iteration(opts.stop_at, start, total, cfg.checkpoint_every);
    if let Some(s) = opts.stop_at.filter(|&s| s < total && s != end) {
        eprintln!(
            "[{}] --stop-at {s} is not a checkpoint iteration (checkpoint_every {}): stopping at \
             iteration {end}, the last checkpoint up to it, so that --resume continues exactly",
            cfg.name, cfg.checkpoint_every
        );
    }
    for it in start + 1..=end {
        let (g, e) = iteration(cfg, &mut model, &mut opt_e, &mut opt_gt, source.as_mut());
        let vals: Vec<f32> =
            Vec::try_from(Tensor::stack(&[&e.e_real, &e.e_fake, &e.penalty, &g.mi], 0))?;
        let names = ["E(real)", "E(fake)", "penalty", "MI loss"];
        if let Some(i) = vals
            .iter()
            .position(|v| !v.is_finite() || v.abs() > DIVERGENCE_LIMIT)
        {
            bar.abandon();
            let kept = match Checkpoint::read(&ckpt_path) {
                Ok(ck) => format!(
                    "the last good checkpoint (iteration {}) is kept in {}",
                    ck.iteration()?,
                    ckpt_path.display()
                ),
                Err(_) => "no checkpoint had been written yet".to_string(),
            };
            let why = if vals[i].is_finite() {
                format!(" (beyond ±{DIVERGENCE_LIMIT:e}: diverged)")
            } else {
                String::new()
            };
            bail!(
                "{} = {}{why} at iteration {it} of run `{}`: training stopped; {kept}",
                names[i],
                vals[i],
                cfg.name
            );
        }
        last = Row {
            iteration: it,
            e_real: vals[0] as f64,
            e_fake: vals[1] as f64,
            penalty: vals[2] as f64,
            mi_loss: vals[3] as f64,
            seconds: prior_seconds + t0.elapsed().as_secs_f64(),
        };
        if it % cfg.log_every == 0 || it == total {
            writeln!(
                csv,
                "{},{},{},{},{},{:.3}",
                last.iteration, last.e_real, last.e_fake, last.penalty, last.mi_loss, last.seconds
            )
            .and_then(|()| {
                meg_plumbing::fault::point("metrics-row-unflushed");
                csv.flush()
            })
            .with_context(|| {
                format!(
                    "appending iteration {it} to {} (the last checkpoint is kept; --resume continues from it)",
                    metrics_path.display()
                )
            })?;
            let msg = format!(
                "E(real) {:.4}  E(fake) {:.4}  pen {:.4}  MI {:.4}",
                last.e_real, last.e_fake, last.penalty, last.mi_loss
            );
            if opts.log_lines {
                eprintln!(
                    "[{}] iteration {it}/{}  {msg}  ({:.1}s)",
                    cfg.name, total, last.seconds
                );
            }
            bar.set_message(msg);
        }
        // Before the checkpoint: a checkpoint at `it` means that the hook has
        // run for `it` (a live evaluation at a checkpoint iteration is never
        // skipped by a resume), and the re-seeding below makes the training
        // stream independent of any randomness the hook draws.
        after_iteration(it, &model);
        if it % cfg.checkpoint_every == 0 || it == end {
            if let Some(bad) = checkpoint::first_non_finite(&model, &opt_e, &opt_gt) {
                bar.abandon();
                bail!(
                    "non-finite values in `{bad}` at iteration {it} of run `{}`: training stopped; the last good checkpoint is kept in {}",
                    cfg.name,
                    ckpt_path.display()
                );
            }
            checkpoint::save(&ckpt_path, cfg, &model, &opt_e, &opt_gt, it)?;
            if let Some(point) = &opts.checkpoint_fault {
                meg_plumbing::fault::point(point);
            }
            reseed(cfg, it, source.as_mut());
        }
        bar.set_position(it);
    }
    bar.finish_and_clear();
    let seconds = if start < end {
        last.seconds
    } else {
        prior_seconds
    };
    if end == total {
        let record = RunRecord {
            config: cfg,
            provenance: meg_nn::provenance(opts.device),
            iterations: end,
            seconds,
            last,
        };
        let json = serde_json::to_string_pretty(&record)?;
        meg_plumbing::io::write_atomic(&dir.join(RUN_FILE), json.as_bytes())?;
    }
    Ok(Trained {
        model,
        iterations: end,
        seconds,
        last,
    })
}

/// Where a run given `--stop-at` stops: the run's end, or the last checkpoint
/// iteration up to `stop_at` (a checkpoint re-seeds the RNG and the data
/// stream, so stopping anywhere else would make the resumed run differ from
/// an uninterrupted one), never before `start`.
fn stop_iteration(stop_at: Option<u64>, start: u64, total: u64, checkpoint_every: u64) -> u64 {
    match stop_at {
        Some(s) if s < total => (s - s % checkpoint_every).max(start),
        _ => total,
    }
}

/// One iteration: `k_g` generator steps, then `k_e` energy steps. Returns the
/// last step's terms.
fn iteration(
    cfg: &RunConfig,
    model: &mut Model,
    opt_e: &mut Adam,
    opt_gt: &mut Adam,
    source: &mut dyn DataSource,
) -> (objectives::GeneratorTerms, objectives::EnergyTerms) {
    let n = cfg.batch_size;
    // Generator (and T) steps: E's weights need no gradient here.
    model.e_vs.freeze();
    let mut g_terms = None;
    for _ in 0..cfg.k_g {
        let z = model.sample_z(n);
        let t = match cfg.objective {
            Objective::Meg => {
                let perm = Tensor::randperm(n, (tch::Kind::Int64, z.device()));
                objectives::meg_generator(model, &z, &perm)
            }
            Objective::WganGp => objectives::wgan_generator(model, &z),
        };
        opt_gt.step_with(&param_grads(&t.loss, opt_gt));
        g_terms = Some(t);
    }
    model.e_vs.unfreeze();
    let mut e_terms = None;
    for _ in 0..cfg.k_e {
        let x_real = source.next_batch(n);
        let x_fake = tch::no_grad(|| model.generate(&model.sample_z(n), true));
        let t = match cfg.objective {
            Objective::Meg => objectives::meg_energy(model, &x_real, &x_fake, cfg.lambda),
            Objective::WganGp => {
                let kind = cfg.gradient_penalty;
                let alpha = objectives::interpolation_weights(&x_real, kind);
                objectives::wgan_critic(model, &x_real, &x_fake, &alpha, cfg.lambda, kind)
            }
        };
        opt_e.step_with(&param_grads(&t.loss, opt_e));
        e_terms = Some(t);
    }
    (g_terms.expect("k_g >= 1"), e_terms.expect("k_e >= 1"))
}

/// d loss / d p for the parameters of `opt`, returned rather than accumulated
/// into `.grad` (no zeroing, no accumulation, and no gradient for leaves
/// such as the real batch of the score penalty, which no optimizer updates).
fn param_grads(loss: &Tensor, opt: &Adam) -> Vec<Tensor> {
    Tensor::run_backward(&[loss], opt.params(), false, false)
}

/// Rows of an existing `metrics.csv` up to and including iteration `upto`.
fn read_metrics(path: &Path, upto: u64) -> Result<Vec<Row>> {
    if upto == 0 || !path.exists() {
        return Ok(Vec::new());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    // A last line without its newline is a row torn by a crash: dropped (it
    // lies after the checkpoint, and is trained and written again).
    let complete = text.split_inclusive('\n').filter(|l| l.ends_with('\n'));
    for (i, line) in complete.map(str::trim_end).enumerate().skip(1) {
        let f: Vec<f64> = line
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| {
                anyhow::anyhow!(
                    "{}:{}: expected 6 numbers, got `{line}`",
                    path.display(),
                    i + 1
                )
            })?;
        if f.len() != 6 {
            bail!(
                "{}:{}: expected 6 fields, got {}",
                path.display(),
                i + 1,
                f.len()
            );
        }
        let r = Row {
            iteration: f[0] as u64,
            e_real: f[1],
            e_fake: f[2],
            penalty: f[3],
            mi_loss: f[4],
            seconds: f[5],
        };
        if r.iteration <= upto {
            rows.push(r);
        }
    }
    Ok(rows)
}

/// Rewrites `metrics.csv` atomically with `rows` and opens it for appending.
fn rewrite_metrics(path: &Path, rows: &[Row]) -> Result<std::fs::File> {
    let mut text = format!("{METRICS_HEADER}\n");
    for r in rows {
        text += &format!(
            "{},{},{},{},{},{:.3}\n",
            r.iteration, r.e_real, r.e_fake, r.penalty, r.mi_loss, r.seconds
        );
    }
    meg_plumbing::io::write_atomic(path, text.as_bytes())?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// Reads the metrics of a finished run directory.
pub fn read_run_metrics(dir: &Path) -> Result<Vec<Row>> {
    read_metrics(&dir.join(METRICS_FILE), u64::MAX)
}
