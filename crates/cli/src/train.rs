//! `meg train CONFIG.yaml`: one training run.

use anyhow::Result;
use meg_models::train::{train, TrainOptions};
use meg_models::RunConfig;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Run config (YAML): model, data, objective, λ, batch size, iterations, seed...
    config: PathBuf,
    /// Output directory (default: runs/<name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue from the checkpoint in the output directory.
    #[arg(long)]
    resume: bool,
    /// Stop after this iteration (with a checkpoint), or after the last
    /// checkpoint iteration before it; `--resume` continues exactly.
    #[arg(long)]
    stop_at: Option<u64>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
}

pub fn run(args: Args) -> Result<()> {
    meg_nn::set_threads_from_env()?;
    let cfg = RunConfig::from_file(&args.config)?;
    let device = meg_nn::parse_device(&args.device)?;
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("runs").join(&cfg.name));
    let mut opts = TrainOptions::new(&out, device);
    opts.resume = args.resume;
    opts.stop_at = args.stop_at;
    let done = train(&cfg, &opts)?;
    if done.iterations == 0 {
        eprintln!(
            "{}: stopped before the first iteration: no checkpoint written in {}",
            cfg.name,
            out.display()
        );
        return Ok(());
    }
    eprintln!(
        "{}: {} iterations in {:.1}s; E(real) {:.4}, E(fake) {:.4}; checkpoint and metrics in {}",
        cfg.name,
        done.iterations,
        done.seconds,
        done.last.e_real,
        done.last.e_fake,
        out.display()
    );
    Ok(())
}
