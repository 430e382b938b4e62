//! `meg sample RUN`: draw samples from a trained generator.

use anyhow::{bail, Context, Result};
use meg_models::checkpoint::{self, Checkpoint};
use meg_models::train::CONFIG_FILE;
use meg_models::{Model, RunConfig};
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

#[derive(clap::Args)]
pub struct Args {
    /// A run directory, or the checkpoint file inside one (its config.yaml is read too).
    checkpoint: PathBuf,
    /// Number of samples.
    #[arg(long, short, default_value_t = 1000)]
    n: i64,
    /// Seed of the latent draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output file: `.csv` (one sample per row, flattened) or `.safetensors` (tensor `samples`).
    #[arg(long, short)]
    out: PathBuf,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
}

/// Loads the model of a run directory or checkpoint file.
pub fn load_run(path: &Path, device: Device) -> Result<(RunConfig, Model)> {
    let (dir, ckpt) = if path.is_dir() {
        (path.to_path_buf(), path.join(checkpoint::FILE))
    } else {
        (
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            path.to_path_buf(),
        )
    };
    if !ckpt.exists() {
        bail!("no checkpoint at {}", ckpt.display());
    }
    let cfg = RunConfig::from_file(&dir.join(CONFIG_FILE)).with_context(|| {
        format!(
            "the checkpoint's run config (expected next to {})",
            ckpt.display()
        )
    })?;
    let model = Model::new(&cfg.model, device);
    Checkpoint::read(&ckpt)?.restore_model(&model)?;
    Ok((cfg, model))
}

pub fn run(args: Args) -> Result<()> {
    meg_nn::set_threads_from_env()?;
    if args.n <= 0 {
        bail!("--n must be positive, got {}", args.n);
    }
    let device = meg_nn::parse_device(&args.device)?;
    let (_, model) = load_run(&args.checkpoint, device)?;
    tch::manual_seed(args.seed as i64);
    let x = tch::no_grad(|| model.generate(&model.sample_z(args.n), false)).to_device(Device::Cpu);
    match args.out.extension().and_then(|e| e.to_str()) {
        Some("csv") => {
            let flat = x.flatten(1, -1);
            let cols = flat.size()[1];
            let v: Vec<f32> = Vec::try_from(flat.reshape([-1]))?;
            let mut text = String::new();
            for row in v.chunks(cols as usize) {
                let cells: Vec<String> = row.iter().map(|c| c.to_string()).collect();
                text += &cells.join(",");
                text.push('\n');
            }
            meg_plumbing::io::write_atomic(&args.out, text.as_bytes())?;
        }
        Some("safetensors") => meg_plumbing::io::write_atomic_with(&args.out, |tmp| {
            Ok(Tensor::write_safetensors(
                &[("samples", &x.contiguous())],
                tmp,
            )?)
        })?,
        _ => bail!(
            "--out {}: expected a .csv or .safetensors file name",
            args.out.display()
        ),
    }
    eprintln!(
        "wrote {} samples of shape {:?} to {}",
        args.n,
        &x.size()[1..],
        args.out.display()
    );
    Ok(())
}
