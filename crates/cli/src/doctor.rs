//! `meg doctor`: facts about the loaded libtorch.

use anyhow::{bail, Result};
use meg_nn::RuntimeInfo;

#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    meg_nn::set_threads_from_env()?;
    let info = RuntimeInfo::query();
    // A real op proves the library works, not just that it loaded.
    let t = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
    let s = t.dot(&t).double_value(&[]);
    if s != 14.0 {
        bail!("libtorch computed 1²+2²+3² = {s}, expected 14");
    }
    if args.json {
        println!("{}", serde_json::to_string(&info)?);
    } else {
        println!(
            "libtorch (loaded): {} from {}",
            info.libtorch_version, info.libtorch_lib
        );
        println!(
            "CUDA: {} ({} device(s)), cuDNN: {}",
            if info.cuda_available {
                "available"
            } else {
                "not available"
            },
            info.cuda_device_count,
            info.cudnn_available
        );
        println!("threads: {} (MKL: {})", info.threads, info.mkl);
    }
    Ok(())
}
