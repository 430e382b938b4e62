//! `meg reproduce TARGET --jobs N`: the target's runs as separate
//! `meg reproduce ... --train-run ID` processes, N at a time, then the
//! evaluation in this process (`--evaluate-only`). With several CUDA devices
//! each process sees one (`CUDA_VISIBLE_DEVICES`, round robin over the
//! process slots). Each child's output goes to `runs/<id>/train.log`; the
//! progress is one line per run (bars on a terminal).

use super::{invocation, plan, Invocation};
use crate::target::Run;
use crate::{reproduce_one, Mode, Options};
use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The log of a run trained by a child process.
pub const LOG_FILE: &str = "train.log";

/// Trains the runs of `target` (not `all`) in `jobs` processes at a time,
/// then evaluates them here; `device` is the device as the user gave it.
pub fn run(target: &str, opts: &Options, device: &str, jobs: usize) -> Result<PathBuf> {
    let runs = plan(target, opts)?;
    let inv = invocation(target, opts, device)?;
    let slots = device_slots(device, opts.device, jobs)?;
    let failed = train_all(&inv, &runs, &slots)?;
    if !failed.is_empty() {
        bail!(
            "{} of the {} runs of {target} ({}) failed, so nothing was evaluated: {}",
            failed.len(),
            runs.len(),
            opts.profile,
            failed.join("; ")
        );
    }
    let eval = Options {
        mode: Mode::EvaluateOnly,
        ..opts.clone()
    };
    reproduce_one(target, &eval)
}

/// What one process slot runs on: the `--device` it is given and the
/// `CUDA_VISIBLE_DEVICES` it gets, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub device: String,
    pub visible: Option<String>,
}

/// The `jobs` process slots: with `cuda` or `auto` resolved to CUDA and
/// several devices visible, slot `s` sees device `s mod count` alone (the
/// devices of `CUDA_VISIBLE_DEVICES` when set); otherwise every slot gets the
/// device as given.
fn device_slots(given: &str, resolved: tch::Device, jobs: usize) -> Result<Vec<Slot>> {
    let round_robin = matches!(given, "cuda" | "auto") && resolved.is_cuda();
    let count = if round_robin {
        tch::Cuda::device_count() as usize
    } else {
        0
    };
    let visible: Vec<String> = match std::env::var("CUDA_VISIBLE_DEVICES") {
        Ok(v) if !v.trim().is_empty() => v.split(',').map(|s| s.trim().to_string()).collect(),
        _ => (0..count).map(|i| i.to_string()).collect(),
    };
    Ok(slots_over(
        given,
        &visible[..count.min(visible.len())],
        jobs,
    ))
}

/// [`device_slots`] over the given visible devices (none or one: no round robin).
pub fn slots_over(given: &str, visible: &[String], jobs: usize) -> Vec<Slot> {
    (0..jobs)
        .map(|s| match visible {
            [] | [_] => Slot {
                device: given.to_string(),
                visible: None,
            },
            v => Slot {
                device: "cuda:0".into(),
                visible: Some(v[s % v.len()].clone()),
            },
        })
        .collect()
}

/// A run being trained by a child.
struct Running<'a> {
    run: &'a Run,
    child: Child,
    slot: usize,
    bar: ProgressBar,
    started: Instant,
}

/// Runs every run's child, `slots.len()` at a time; returns the failures
/// (run, status, log).
fn train_all(inv: &Invocation, runs: &[Run], slots: &[Slot]) -> Result<Vec<String>> {
    let terminal = std::io::stderr().is_terminal();
    let multi = MultiProgress::with_draw_target(if terminal {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len} it  {msg}")
        .expect("valid template")
        .progress_chars("=> ");
    let say = |bar: &ProgressBar, msg: String| {
        if terminal {
            bar.set_message(msg);
        } else {
            eprintln!("[{}] {msg}", bar.prefix());
        }
    };
    let mut waiting: Vec<(&Run, ProgressBar)> = runs
        .iter()
        .map(|r| {
            let bar = multi.add(ProgressBar::new(r.cfg.iterations.unwrap_or(0)));
            bar.set_style(style.clone());
            bar.set_prefix(r.id.clone());
            bar.set_message("waiting");
            (r, bar)
        })
        .collect();
    waiting.reverse();
    let mut free: Vec<usize> = (0..slots.len()).rev().collect();
    let mut running: Vec<Running> = Vec::new();
    let mut failed = Vec::new();
    while !waiting.is_empty() || !running.is_empty() {
        while let (Some(&slot), Some(_)) = (free.last(), waiting.last()) {
            let (run, bar) = waiting.pop().expect("checked");
            free.pop();
            let child = spawn(inv, run, &slots[slot])?;
            let on = slots[slot]
                .visible
                .as_ref()
                .map(|v| format!(" on CUDA device {v}"))
                .unwrap_or_default();
            say(&bar, format!("training (pid {}){on}", child.id()));
            running.push(Running {
                run,
                child,
                slot,
                bar,
                started: Instant::now(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut i = 0;
        while i < running.len() {
            let r = &mut running[i];
            if let Some(it) = last_iteration(&r.run.dir) {
                if r.bar.length() < Some(it) {
                    r.bar.set_length(it);
                }
                r.bar.set_position(it);
            }
            let Some(status) = r.child.try_wait()? else {
                i += 1;
                continue;
            };
            let r = running.swap_remove(i);
            free.push(r.slot);
            let secs = r.started.elapsed().as_secs_f64();
            if status.success() {
                say(&r.bar, format!("done in {secs:.1} s"));
            } else {
                let log = r.run.dir.join(LOG_FILE);
                say(&r.bar, format!("FAILED ({status}); see {}", log.display()));
                failed.push(format!(
                    "run `{}` ({status}; its log: {})",
                    r.run.id,
                    log.display()
                ));
            }
            r.bar.abandon();
        }
    }
    Ok(failed)
}

fn spawn(inv: &Invocation, run: &Run, slot: &Slot) -> Result<Child> {
    std::fs::create_dir_all(&run.dir)?;
    let log_path = run.dir.join(LOG_FILE);
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut inv = inv.clone();
    inv.device = slot.device.clone();
    let mut cmd = Command::new(&inv.meg);
    cmd.args(inv.args())
        .args(["--train-run", &run.id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    if let Some(v) = &slot.visible {
        cmd.env("CUDA_VISIBLE_DEVICES", v);
    }
    cmd.spawn()
        .with_context(|| format!("starting {} for run `{}`", inv.meg.display(), run.id))
}

/// The last iteration in a run's `metrics.csv`, if any.
fn last_iteration(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join(meg_models::train::METRICS_FILE)).ok()?;
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    line.split(',').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_go_round_robin_over_several_devices_only() {
        let v = |n: usize| (0..n).map(|i| (i + 2).to_string()).collect::<Vec<_>>();
        let s = slots_over("auto", &v(2), 5);
        let seen: Vec<_> = s.iter().map(|s| s.visible.clone().unwrap()).collect();
        assert_eq!(seen, ["2", "3", "2", "3", "2"]);
        assert!(s.iter().all(|s| s.device == "cuda:0"));
        let one = slots_over("cuda", &v(1), 3);
        assert!(one
            .iter()
            .all(|s| s.visible.is_none() && s.device == "cuda"));
        let cpu = slots_over("cpu", &[], 2);
        assert_eq!(cpu.len(), 2);
        assert!(cpu.iter().all(|s| s.visible.is_none() && s.device == "cpu"));
    }
}
