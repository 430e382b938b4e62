//! The PyTorch side of a parity run: `tests/parity/reference.py` with a JSON
//! run config, in `runs/<id>-ref/`, started beside our own training; and the
//! StackedMNIST set exported for it (the images and the fixed stacks our
//! data source draws from).

use anyhow::{bail, Context, Result};
use meg_models::config::{DataConfig, ModelConfig, Objective};
use meg_models::RunConfig;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The reference trainer.
pub fn script() -> PathBuf {
    meg_plumbing::workspace_root().join("tests/parity/reference.py")
}

/// The JSON config reference.py reads for our run config `cfg`;
/// `data_file`: the exported StackedMNIST set (see [`export_stacks`]).
pub fn config(
    cfg: &RunConfig,
    eval: &super::Eval,
    reference: Option<&Path>,
    threads: i64,
    data_file: &Path,
) -> Result<Value> {
    let Some(iterations) = cfg.iterations else {
        bail!(
            "parity: run `{}`: give `iterations`, not `epochs`",
            cfg.name
        );
    };
    let mut doc = match (&cfg.model, &cfg.data) {
        (
            ModelConfig::Toy {
                width,
                z_dim,
                hidden,
            },
            DataConfig::Toy { name },
        ) => json!({
            "family": "toy",
            "data": {"kind": "toy", "name": name.name()},
            "width": width,
            "hidden": hidden,
            "z_dim": z_dim,
            "eval_samples": eval.samples,
        }),
        (
            ModelConfig::Mnist {
                dim,
                z_dim,
                channels,
            },
            DataConfig::StackedMnist { stacks, .. },
        ) if *channels == *stacks as i64 => json!({
            "family": "mnist",
            "data": {"kind": "stacked-mnist", "file": data_file.display().to_string(), "stacks": stacks},
            "dim": dim,
            "channels": channels,
            "z_dim": z_dim,
            "eval_samples": eval.stack_samples,
        }),
        _ => bail!(
            "parity: run `{}`: the reference side covers the toy family on toy data and the mnist \
             family on stacked-mnist (channels = stacks), not {:?} on {}",
            cfg.name,
            cfg.model,
            cfg.data.describe()
        ),
    };
    let common = json!({
        "name": cfg.name,
        "objective": match cfg.objective { Objective::Meg => "meg", Objective::WganGp => "wgan-gp" },
        "lambda": cfg.lambda,
        "gradient_penalty": cfg.gradient_penalty,
        "batch_size": cfg.batch_size,
        "iterations": iterations,
        "k_e": cfg.k_e,
        "k_g": cfg.k_g,
        "lr": cfg.lr,
        "betas": [cfg.betas.0, cfg.betas.1],
        "seed": cfg.seed,
        "log_every": cfg.log_every,
        "eval_every": eval.every_for(&cfg.data),
        "eval_seed": eval.seed,
        "reference": reference.map(|p| p.display().to_string()),
        "threads": threads,
    });
    let obj = doc.as_object_mut().expect("a JSON object");
    for (k, v) in common.as_object().expect("a JSON object") {
        obj.insert(k.clone(), v.clone());
    }
    Ok(doc)
}

/// Writes the StackedMNIST set of `data` to `path` (safetensors: uint8
/// `images` `[N, 28, 28]`, the single-channel training images, and int64
/// `stacks` `[S, k]`, the fixed stacks `meg_models::data::StackedMnist`
/// trains on), unless `path` already holds it (keyed by `path.json`).
pub fn export_stacks(path: &Path, data: &DataConfig) -> Result<()> {
    let DataConfig::StackedMnist {
        stacks,
        dataset,
        count,
        split_seed,
        synthetic,
    } = data
    else {
        return Ok(());
    };
    let key_path = path.with_extension("json");
    let key = serde_json::to_string(data)?;
    if path.exists() && std::fs::read_to_string(&key_path).ok().as_deref() == Some(&key) {
        return Ok(());
    }
    let train =
        meg_datasets::config::mnist_split(*dataset, meg_datasets::Split::Train, *synthetic)?;
    let count = count.unwrap_or_else(|| meg_datasets::stacked::paper_stack_count(*stacks));
    let ids = meg_datasets::stacked::Stacks::draw(train.len(), *stacks, count, *split_seed)?.ids;
    let images = meg_models::data::pixels(&train).squeeze_dim(1);
    let ids = tch::Tensor::try_from(&ids)?;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let tmp = path.with_extension("safetensors.tmp");
    tch::Tensor::write_safetensors(&[("images", &images), ("stacks", &ids)], &tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    meg_plumbing::io::write_atomic(&key_path, key.as_bytes())
}

/// The `run.json` of a finished reference run in `dir` for exactly `cfg`.
pub fn finished(dir: &Path, cfg: &Value) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join("run.json")).ok()?;
    let rec: Value = serde_json::from_str(&text).ok()?;
    (rec.get("config") == Some(cfg)).then_some(rec)
}

/// A reference run in progress.
pub struct Pending {
    child: Child,
    dir: PathBuf,
    name: String,
}

/// Starts reference.py for `cfg` in `dir` (stdout and stderr to
/// `dir/reference.log`).
pub fn start(dir: &Path, cfg: &Value) -> Result<Pending> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cfg_path = dir.join("config.json");
    meg_plumbing::io::write_atomic(&cfg_path, serde_json::to_string_pretty(cfg)?.as_bytes())?;
    let log = std::fs::File::create(dir.join("reference.log"))
        .with_context(|| format!("creating {}", dir.join("reference.log").display()))?;
    let python = meg_metrics::weights::find_python();
    let child = Command::new(&python)
        .arg(script())
        .arg(&cfg_path)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| {
            format!(
                "starting {} {} (set MEG_PYTHON to a Python with torch 2.11, numpy and safetensors)",
                python.display(),
                script().display()
            )
        })?;
    Ok(Pending {
        child,
        dir: dir.to_path_buf(),
        name: cfg["name"].as_str().unwrap_or("?").to_string(),
    })
}

/// The reference runs still to train: a thread of its own works them off
/// (one run at a time, as a child process) while our side trains, and the
/// caller's thread takes runs too once it is free ([`Queue::run_next`]).
pub struct Queue {
    shared: Shared,
    worker: std::thread::JoinHandle<Result<()>>,
}

impl Queue {
    /// Starts the worker on `queue` (`(dir, config)`), taking its runs in
    /// `order` (indices into `queue`, each once: the longest first keeps the
    /// last run's tail short); finished runs are taken from their folders.
    /// Setting `stop` kills the runs in progress.
    pub fn start(queue: Vec<(PathBuf, Value)>, order: Vec<usize>, stop: Arc<AtomicBool>) -> Queue {
        let mut seen = vec![false; queue.len()];
        for &i in &order {
            assert!(
                !std::mem::replace(&mut seen[i], true),
                "run {i} queued twice"
            );
        }
        assert!(
            seen.iter().all(|&s| s),
            "a run left out of the queue's order"
        );
        let shared = Shared {
            todo: Arc::new(Mutex::new(order.into())),
            done: Arc::new(Mutex::new(vec![None; queue.len()])),
            items: Arc::new(queue),
            stop,
        };
        let mine = shared.clone();
        let worker = std::thread::spawn(move || {
            while let Some(r) = mine.run_next() {
                r?;
            }
            Ok(())
        });
        Queue { shared, worker }
    }

    /// Trains the next run of the queue on this thread (as a child process);
    /// `None` when none is left or the target is stopping.
    pub fn run_next(&self) -> Option<Result<()>> {
        self.shared.run_next()
    }

    /// The indices of the runs finished so far (on either thread).
    pub fn finished_runs(&self) -> Vec<usize> {
        let done = self.shared.done.lock().expect("queue lock");
        (0..done.len()).filter(|&i| done[i].is_some()).collect()
    }

    /// Waits for the worker; each run's `run.json`, in the queue's order.
    pub fn join(self) -> Result<Vec<Value>> {
        self.worker
            .join()
            .map_err(|_| anyhow::anyhow!("the reference worker thread panicked"))??;
        let done = std::mem::take(&mut *self.shared.done.lock().expect("queue lock"));
        done.into_iter()
            .enumerate()
            .map(|(i, rec)| {
                rec.with_context(|| {
                    format!(
                        "reference run in {} did not finish",
                        self.shared.items[i].0.display()
                    )
                })
            })
            .collect()
    }
}

/// What the worker and the caller's thread share.
#[derive(Clone)]
struct Shared {
    todo: Arc<Mutex<VecDeque<usize>>>,
    items: Arc<Vec<(PathBuf, Value)>>,
    done: Arc<Mutex<Vec<Option<Value>>>>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    /// Takes the next run and trains it (or reads it, if finished before);
    /// a failure stops the other thread too: the target fails.
    fn run_next(&self) -> Option<Result<()>> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let i = self.todo.lock().expect("queue lock").pop_front()?;
        let (dir, cfg) = &self.items[i];
        let rec = match finished(dir, cfg) {
            Some(rec) => Ok(rec),
            None => start(dir, cfg).and_then(|p| p.wait_unless(&self.stop)),
        };
        Some(match rec {
            Ok(rec) => {
                self.done.lock().expect("queue lock")[i] = Some(rec);
                Ok(())
            }
            Err(e) => {
                self.stop.store(true, Ordering::Relaxed);
                Err(e)
            }
        })
    }
}

impl Pending {
    /// Waits for the run, polling `stop` every 200 ms (set: kills it and
    /// fails); its `run.json`, or an error with the log's tail.
    fn wait_unless(mut self, stop: &AtomicBool) -> Result<Value> {
        loop {
            if self.child.try_wait()?.is_some() {
                return self.wait();
            }
            if stop.load(Ordering::Relaxed) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("reference run `{}` stopped: the target failed", self.name);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Waits for the run; its `run.json`, or an error with the log's tail.
    pub fn wait(mut self) -> Result<Value> {
        let status = self.child.wait()?;
        let log_path = self.dir.join("reference.log");
        if !status.success() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "reference run `{}` failed ({status}); {}:\n{}",
                self.name,
                log_path.display(),
                tail.join("\n")
            );
        }
        let text = std::fs::read_to_string(self.dir.join("run.json"))
            .with_context(|| format!("reference run `{}` wrote no run.json", self.name))?;
        Ok(serde_json::from_str(&text)?)
    }
}
