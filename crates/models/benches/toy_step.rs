//! Milliseconds per MEG toy iteration (1 generator step + 5 energy steps) of
//! the real training loop, at the paper's size (width 512, batch 256) unless
//! overridden: `cargo bench -p meg-models --bench toy_step -- [width] [batch] [iterations]`.
//! The same work in eager PyTorch: `benches/toy_step.py` (run with `.torch-venv/bin/python`).

use meg_models::train::{train_with, TrainOptions};
use meg_models::RunConfig;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let threads = meg_nn::set_threads_from_env()?;
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let arg = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (width, batch, iterations) = (arg(0, 512), arg(1, 256), arg(2, 30));
    let cfg = RunConfig::from_yaml(&format!(
        "name: bench\nmodel: {{family: toy, width: {width}}}\ndata: {{kind: toy, name: 25gaussians}}\n\
         objective: meg\nlambda: 0.1\nbatch_size: {batch}\niterations: {iterations}\nseed: 0\n\
         log_every: 1000000\ncheckpoint_every: 1000000\n"
    ))?;
    let dir = tempfile::tempdir()?;
    let mut opts = TrainOptions::new(dir.path(), tch::Device::Cpu);
    opts.log_lines = false;
    let mut stamps = vec![Instant::now()];
    train_with(&cfg, &opts, &mut |_, _| stamps.push(Instant::now()))?;
    // Drop warm-up iterations and the final one (it also writes a checkpoint).
    let mut ms: Vec<f64> = stamps
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1e3)
        .collect();
    ms.truncate(ms.len().saturating_sub(1));
    let mut ms: Vec<f64> = ms.into_iter().skip(5).collect();
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    println!("meg toy step: width {width}, batch {batch}, {threads} threads: median {median:.1} ms/iteration over {} iterations", ms.len());
    Ok(())
}
