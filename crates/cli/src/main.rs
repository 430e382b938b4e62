//! `meg`: the project's command line. One module per subcommand.

mod doctor;

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
    /// Report the libtorch this binary loaded: version, CUDA devices, threads.
    Doctor(doctor::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Doctor(a) => doctor::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
