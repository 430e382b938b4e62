//! `meg sample RUN`: draw samples from a trained generator.

use anyhow::{bail, Context, Result};
use meg_models::checkpoint::{self, Checkpoint};
use meg_models::train::CONFIG_FILE;
use meg_models::{Model, RunConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::{Device, Kind};

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

/// Samples generated and written per chunk: memory stays bounded by one
/// chunk whatever `-n` is.
const CHUNK: i64 = 65_536;

/// The output format, from the file name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// One sample per row, flattened, comma-separated.
    Csv,
    /// One float32 tensor `samples` of shape `[n, ...]`.
    Safetensors,
}

impl Format {
    fn of(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => Ok(Format::Csv),
            Some("safetensors") => Ok(Format::Safetensors),
            _ => bail!(
                "--out {}: expected a .csv or .safetensors file name",
                path.display()
            ),
        }
    }

    /// The least the file takes for `values` numbers: 4 bytes each in
    /// safetensors, and a digit and a separator each in CSV.
    fn least_bytes(self, values: u128) -> u128 {
        match self {
            Format::Csv => 2 * values,
            Format::Safetensors => 4 * values,
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    meg_nn::set_threads_from_env()?;
    if args.n <= 0 {
        bail!("--n must be positive, got {}", args.n);
    }
    let format = Format::of(&args.out)?;
    let device = meg_nn::parse_device(&args.device)?;
    let (cfg, model) = load_run(&args.checkpoint, device)?;
    let shape = cfg.model.x_shape();
    let per_sample: i64 = shape.iter().product();
    meg_plumbing::resources::ensure_fits(
        &format!("-n {} samples of {per_sample} values", args.n),
        format.least_bytes(args.n as u128 * per_sample as u128),
        meg_plumbing::resources::available_disk(&args.out)?,
        &format!("the disk of {}", args.out.display()),
    )?;
    tch::manual_seed(args.seed as i64);
    // Chunk after chunk from one seeded stream: the samples depend on the
    // seed and on `-n` only.
    let mut chunks = (0..args.n).step_by(CHUNK as usize).map(|first| {
        let k = CHUNK.min(args.n - first);
        tch::no_grad(|| model.generate(&model.sample_z(k), false))
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous()
    });
    meg_plumbing::io::write_atomic_with(&args.out, |tmp| {
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(tmp).with_context(|| format!("creating {}", tmp.display()))?,
        );
        if format == Format::Safetensors {
            write_safetensors_header(&mut w, "samples", &[&[args.n][..], &shape].concat())?;
        }
        for x in chunks.by_ref() {
            let v: Vec<f32> = Vec::try_from(x.reshape([-1]))?;
            match format {
                Format::Csv => {
                    let mut line = String::new();
                    for row in v.chunks(per_sample as usize) {
                        line.clear();
                        for (i, c) in row.iter().enumerate() {
                            if i > 0 {
                                line.push(',');
                            }
                            line += &c.to_string();
                        }
                        line.push('\n');
                        w.write_all(line.as_bytes())?;
                    }
                }
                Format::Safetensors => {
                    for c in &v {
                        w.write_all(&c.to_le_bytes())?;
                    }
                }
            }
        }
        w.flush()?;
        Ok(())
    })?;
    eprintln!(
        "wrote {} samples of shape {shape:?} to {}",
        args.n,
        args.out.display()
    );
    Ok(())
}

/// The head of a safetensors file holding one float32 tensor `name` of
/// `shape`, whose little-endian data follows it: the header's length (u64,
/// little-endian), then its JSON, padded with spaces to a multiple of 8.
fn write_safetensors_header(w: &mut impl Write, name: &str, shape: &[i64]) -> Result<()> {
    let bytes: i64 = 4 * shape.iter().product::<i64>();
    let json = serde_json::json!({
        name: {"dtype": "F32", "shape": shape, "data_offsets": [0, bytes]}
    })
    .to_string();
    let padded = json.len().div_ceil(8) * 8;
    w.write_all(&(padded as u64).to_le_bytes())?;
    w.write_all(json.as_bytes())?;
    w.write_all(&vec![b' '; padded - json.len()])?;
    Ok(())
}
