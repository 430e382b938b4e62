//! `meg`: the project's command line. One module per subcommand.

mod classifier;
mod data;
mod doctor;
mod eval;
mod fid;
mod hashes;
mod is;
mod oom;
mod reproduce;
mod sample;
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Maximum Entropy Generators for Energy-Based Models: data, training,
/// sampling and evaluation.
#[derive(Parser)]
#[command(name = "meg", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report the loaded libtorch (version, CUDA devices, threads) and the data cache.
    Doctor(doctor::Args),
    /// The data cache: list, fetch, verify or import a data set.
    Data(data::Args),
    /// Train one run from a YAML run config (MEG or WGAN-GP).
    Train(train::Args),
    /// Draw samples from a trained run's generator.
    Sample(sample::Args),
    /// Reproduce a paper table or figure into reports/<target>/<profile>/.
    Reproduce(reproduce::Args),
    /// FID between two image folders or .npz statistics (pytorch-fid's Inception).
    Fid(fid::Args),
    /// Inception Score of an image folder (torch-fidelity's definition).
    Is(is::Args),
    /// Evaluate scored examples: `meg eval anomaly FILE.csv`.
    Eval(eval::Args),
    /// Train the MNIST classifier used for StackedMNIST mode counting.
    TrainClassifier(classifier::Args),
    /// Canonical hashes of the reports' results against reports/hashes.lock.
    Hashes(hashes::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = oom::guard(|| match cli.command {
        Command::Doctor(a) => doctor::run(a),
        Command::Data(a) => data::run(a),
        Command::Train(a) => train::run(a),
        Command::Sample(a) => sample::run(a),
        Command::Reproduce(a) => reproduce::run(a),
        Command::Fid(a) => fid::run(a),
        Command::Is(a) => is::run(a),
        Command::Eval(a) => eval::run(a),
        Command::TrainClassifier(a) => classifier::run(a),
        Command::Hashes(a) => hashes::run(a),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
