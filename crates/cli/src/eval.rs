//! `meg eval anomaly FILE.csv`: anomaly-detection metrics of scored examples
//! (see `meg_metrics::anomaly`).

use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Precision, recall and F1 of the anomaly class when the top 20% of scores
    /// are flagged (score >= 80th percentile), AUPRC and average precision.
    Anomaly {
        /// CSV with the header `label,score`; label 1 = anomaly, higher score =
        /// more anomalous.
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Anomaly { file, json } => {
            let (labels, scores) = meg_metrics::anomaly::read_scores_csv(&file)?;
            let m = meg_metrics::anomaly_metrics(&labels, &scores)
                .with_context(|| file.display().to_string())?;
            if json {
                println!("{}", serde_json::to_string(&m)?);
            } else {
                let anomalies = labels.iter().filter(|&&l| l).count();
                println!(
                    "{}: {} examples, {anomalies} anomalies",
                    file.display(),
                    labels.len()
                );
                println!("precision          {:.4}", m.precision);
                println!("recall             {:.4}", m.recall);
                println!("f1                 {:.4}", m.f1);
                println!("auprc              {:.4}", m.auprc);
                println!("average precision  {:.4}", m.average_precision);
            }
            Ok(())
        }
    }
}
