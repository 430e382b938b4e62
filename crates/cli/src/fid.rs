//! `meg fid PATH1 PATH2`: the FID between two image folders or `.npz`
//! statistics, as pytorch-fid computes it (see `meg_metrics::fid`).

use anyhow::{bail, Result};
use meg_metrics::images::list_images;
use meg_metrics::{fid, InceptionFid, Stats};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// A folder of PNG/JPEG images (any size), or an .npz holding `mu` and
    /// `sigma` (the pytorch-fid/TTUR statistics format).
    path1: PathBuf,
    /// The same for the second distribution.
    path2: PathBuf,
    #[command(flatten)]
    net: InceptionArgs,
    /// Also write the statistics of PATH1 to this .npz.
    #[arg(long, value_name = "OUT.npz")]
    save_stats: Option<PathBuf>,
    /// Print one line `{"fid": ...}`.
    #[arg(long)]
    json: bool,
}

/// How to run the Inception network (shared by `meg fid` and `meg is`).
#[derive(clap::Args)]
pub struct InceptionArgs {
    /// pytorch-fid's state dict (`pt_inception-2015-12-05-6726825d.pth`, or any
    /// file with its keys; .pth or .safetensors). Default: the verified copy in
    /// the data cache (`meg data fetch inception-fid`).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

impl InceptionArgs {
    /// Sets the thread count from `MEG_THREADS` and loads the network.
    pub fn load(&self) -> Result<InceptionFid> {
        meg_nn::set_threads_from_env()?;
        let device = meg_nn::parse_device(&self.device)?;
        InceptionFid::load_or_default(self.weights.as_deref(), device)
    }
}

/// A PATH argument: statistics on disk, or the image files of a folder.
enum Source {
    Npz(PathBuf),
    Images(Vec<PathBuf>),
}

impl Source {
    /// Checks the path (and lists a folder's images) before any work is done.
    fn of(p: &Path) -> Result<Source> {
        if p.is_dir() {
            return Ok(Source::Images(list_images(p, 2)?));
        }
        if p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("npz")) {
            return Ok(Source::Npz(p.to_path_buf()));
        }
        bail!("{}: not a folder of images nor an .npz file", p.display())
    }
}

pub fn run(args: Args) -> Result<()> {
    let sources = [Source::of(&args.path1)?, Source::of(&args.path2)?];
    // Loaded at the first folder: two .npz files need no weights.
    let mut net: Option<InceptionFid> = None;
    let mut stats = |s: &Source| -> Result<Stats> {
        match s {
            Source::Npz(p) => Stats::load_npz(p),
            Source::Images(files) => {
                let net = match net {
                    Some(ref n) => n,
                    None => net.insert(args.net.load()?),
                };
                let batch = args.net.batch_size as usize;
                Stats::from_features(&net.files_features_and_logits(files, batch)?.0)
            }
        }
    };
    let s1 = stats(&sources[0])?;
    let s2 = stats(&sources[1])?;
    if let Some(out) = &args.save_stats {
        s1.save_npz(out)?;
    }
    let value = fid(&s1, &s2).map_err(|e| {
        e.context(format!(
            "comparing {} with {}",
            args.path1.display(),
            args.path2.display()
        ))
    })?;
    if args.json {
        println!("{}", serde_json::json!({ "fid": value }));
    } else {
        println!("FID: {value}");
    }
    Ok(())
}
