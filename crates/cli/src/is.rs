//! `meg is PATH`: the Inception Score of a folder of images, as torch-fidelity
//! defines it (see `meg_metrics::inception_score`).

use crate::fid::InceptionArgs;
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A folder of PNG/JPEG images (any size), at least SPLITS of them.
    path: PathBuf,
    /// Number of chunks the score is averaged over.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    splits: u32,
    #[command(flatten)]
    net: InceptionArgs,
    /// Print one line `{"is_mean": ..., "is_std": ...}`.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let splits = args.splits as usize;
    let files = meg_metrics::images::list_images(&args.path, splits)?;
    let net = args.net.load()?;
    let (_, logits) = net.files_features_and_logits(&files, args.net.batch_size as usize)?;
    let (mean, std) = meg_metrics::inception_score(&logits, splits)?;
    if args.json {
        println!("{}", serde_json::json!({ "is_mean": mean, "is_std": std }));
    } else {
        println!("IS: {mean} ± {std} ({splits} splits)");
    }
    Ok(())
}
