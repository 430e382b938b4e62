//! `meg-bench`: times workloads at the paper's sizes and prints one line per
//! workload, `bench-result key=value ...` (the format `crates/bench/bench.py`
//! prints too, and `cargo xtask bench` reads). `meg-bench --smoke` runs every
//! workload once at tiny sizes.

use anyhow::Result;
use clap::Parser;
use meg_bench::{median, run, Scale, Workload};
use std::process::ExitCode;

/// Time MEG workloads (see `cargo xtask bench` for the comparison with PyTorch).
#[derive(Parser)]
#[command(name = "meg-bench", version, about, long_about = None)]
struct Args {
    /// Workloads to run (default: all): toy, kdd, stackedmnist, cifar,
    /// inception, batch, mala, matmul.
    names: Vec<String>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Untimed repetitions first.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Timed repetitions.
    #[arg(long, default_value_t = 3)]
    iters: usize,
    /// Tiny sizes, no warm-up, one repetition: checks that everything runs.
    #[arg(long)]
    smoke: bool,
    /// After each workload, measure the matmul reference rate in this same
    /// process (`reference_gflops=` in its line), so that the fraction of the
    /// machine's limit compares two rates taken seconds apart.
    #[arg(long)]
    reference: bool,
}

fn main() -> ExitCode {
    match main_() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn main_() -> Result<()> {
    let args = Args::parse();
    meg_nn::set_threads_from_env()?;
    let device = meg_nn::parse_device(&args.device)?;
    let workloads = if args.names.is_empty() {
        Workload::ALL.to_vec()
    } else {
        args.names
            .iter()
            .map(|n| Workload::parse(n))
            .collect::<Result<_>>()?
    };
    let (scale, warmup, iters) = if args.smoke {
        (Scale::Smoke, 0, 1)
    } else {
        (Scale::Paper, args.warmup, args.iters)
    };
    let prov = meg_nn::provenance(device);
    for w in workloads {
        let m = run(w, scale, device, warmup, iters)?;
        let list = |v: &[String]| v.join(",");
        let samples: Vec<String> = m.samples.iter().map(|s| format!("{s:.6}")).collect();
        let mut line = format!(
            "bench-result workload={} unit={} value={:.6} samples={} threads={} device={} libtorch={} git={}",
            w.name(),
            w.unit(),
            median(&m.samples),
            list(&samples),
            prov.threads,
            prov.device,
            prov.libtorch_version,
            prov.git_revision,
        );
        if let Some((e, g, t)) = m.params {
            line += &format!(" params={e},{g},{t}");
        }
        if args.reference && w != Workload::Matmul {
            let r = run(Workload::Matmul, scale, device, warmup.min(1), iters.min(3))?;
            line += &format!(" reference_gflops={:.6}", median(&r.samples));
        }
        println!("{line}");
    }
    Ok(())
}
