//! `meg doctor`: facts about the loaded libtorch and the data cache.

use anyhow::{bail, Result};
use meg_nn::RuntimeInfo;

#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Also run one float32 convolution (oneDNN), one matrix product and one
    /// symmetric eigendecomposition (MKL), so that `ONEDNN_VERBOSE=1` and
    /// `MKL_VERBOSE=1` report the kernels this process takes.
    #[arg(long)]
    kernels: bool,
}

/// One call into each library whose kernels decide the last digits of a CPU run.
fn exercise_kernels() {
    use tch::{Device, Kind, Tensor};
    let _guard = tch::no_grad_guard();
    let x = Tensor::ones([2, 3, 8, 8], (Kind::Float, Device::Cpu));
    let w = Tensor::ones([4, 3, 3, 3], (Kind::Float, Device::Cpu));
    let _ = x.conv2d(&w, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
    let a = Tensor::eye(64, (Kind::Float, Device::Cpu));
    let _ = a.matmul(&a);
    let s = Tensor::eye(8, (Kind::Double, Device::Cpu));
    let _ = s.linalg_eigvalsh("L");
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
    if args.kernels {
        exercise_kernels();
    }
    let root = meg_datasets::store::data_root()?;
    let mut data = serde_json::Map::new();
    for name in meg_datasets::manifest::BUILTIN {
        let st = meg_datasets::dataset_status(name)?;
        data.insert(
            name.to_string(),
            serde_json::json!({"status": st.summary(), "fix": st.fix}),
        );
    }
    if args.json {
        let mut v = serde_json::to_value(&info)?;
        v["cpu_kind"] = serde_json::json!(meg_plumbing::cpu_kind());
        v["data_dir"] = serde_json::json!(root.display().to_string());
        v["datasets"] = serde_json::Value::Object(data);
        println!("{}", serde_json::to_string(&v)?);
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
        println!(
            "CPU: {}; ATen kernels: {}",
            meg_plumbing::cpu_kind(),
            info.cpu_capability
        );
        println!("data cache: {}", root.display());
        for (name, d) in &data {
            let status = d["status"].as_str().unwrap_or("?");
            let fix = if status == "OK" {
                String::new()
            } else {
                format!("  (run `{}`)", d["fix"].as_str().unwrap_or(""))
            };
            println!("  {name:<14} {status}{fix}");
        }
    }
    Ok(())
}
