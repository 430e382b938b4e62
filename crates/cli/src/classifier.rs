//! `meg train-classifier --dataset mnist|fashion-mnist`: the mode-counting
//! classifier (see `meg_metrics::classifier`), saved with its test accuracy.

use anyhow::Result;
use meg_datasets::{images::load_mnist, MnistKind, Split, Store};
use meg_metrics::classifier::{default_path, Arch, TrainConfig};
use meg_metrics::MnistClassifier;
use meg_models::data::{labels, pixels};
use std::path::PathBuf;
use tch::Kind;

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
    let store = Store::from_env()?;
    let unit = |set: &meg_datasets::ImageSet| pixels(set).to_kind(Kind::Float) / 255.0;
    let train = load_mnist(&store, kind, Split::Train)?;
    let test = load_mnist(&store, kind, Split::Test)?;
    let arch = Arch::for_dataset(kind == MnistKind::FashionMnist);
    let cfg = TrainConfig {
        epochs: args.epochs.unwrap_or(TrainConfig::for_arch(arch).epochs),
        seed: args.seed,
        ..TrainConfig::for_arch(arch)
    };
    let start = std::time::Instant::now();
    let (clf, report) = MnistClassifier::fit(
        device,
        (&unit(&train), &labels(&train)),
        (&unit(&test), &labels(&test)),
        &cfg,
        |line| eprintln!("{line}"),
    )?;
    clf.save(&out)?;
    let meta = serde_json::json!({
        "dataset": kind.name(),
        "weights": out.display().to_string(),
        "config": cfg,
        "train_examples": train.len(),
        "test_examples": test.len(),
        "test_accuracy": report.final_test_accuracy,
        "report": report,
        "seconds": start.elapsed().as_secs_f64(),
        "provenance": meg_nn::provenance(device),
    });
    let meta_path = out.with_extension("json");
    meg_plumbing::io::write_atomic(&meta_path, serde_json::to_string_pretty(&meta)?.as_bytes())?;
    println!(
        "test accuracy {:.4}; saved {} and {}",
        report.final_test_accuracy,
        out.display(),
        meta_path.display()
    );
    Ok(())
}
