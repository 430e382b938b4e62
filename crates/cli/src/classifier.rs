//! `meg train-classifier --dataset mnist|fashion-mnist`: the mode-counting
//! classifier (see `meg_metrics::classifier`), saved with its test accuracy.

use anyhow::Result;
use meg_datasets::MnistKind;
use meg_experiments::classifier::train_and_save;
use meg_metrics::classifier::{default_path, Arch, TrainConfig};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// mnist or fashion-mnist (from the data cache).
    #[arg(long)]
    dataset: String,
    /// Training epochs (default: 10 for MNIST's classifier, the authors'
    /// architecture; 8 for Fashion-MNIST's small CNN).
    #[arg(long)]
    epochs: Option<usize>,
    /// Where to save the weights (safetensors; metadata goes next to it as .json).
    /// Default: classifiers/DATASET.safetensors in the data cache.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Seeds initialization, shuffling and dropout.
    #[arg(long, default_value_t = 1)]
    seed: i64,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
}

pub fn run(args: Args) -> Result<()> {
    meg_nn::set_threads_from_env()?;
    let device = meg_nn::parse_device(&args.device)?;
    let kind = MnistKind::from_name(&args.dataset)?;
    let out = match args.out {
        Some(p) => p,
        None => default_path(kind.name())?,
    };
    let arch = Arch::for_dataset(kind == MnistKind::FashionMnist);
    let cfg = TrainConfig {
        epochs: args.epochs.unwrap_or(TrainConfig::for_arch(arch).epochs),
        seed: args.seed,
        ..TrainConfig::for_arch(arch)
    };
    let (_, acc) = train_and_save(kind, &cfg, &out, device, |line| eprintln!("{line}"))?;
    println!(
        "test accuracy {acc:.4}; saved {} and {}",
        out.display(),
        out.with_extension("json").display()
    );
    Ok(())
}
