//! `meg-bench`: times workloads at the paper's sizes and prints one line per
//! workload, `bench-result {JSON}` with the samples (the format
//! `crates/bench/bench.py` prints too, and `cargo xtask bench` reads).
//! `meg-bench --smoke` runs every workload once at tiny sizes;
//! `meg-bench --list --json` prints the workload list that `cargo xtask bench`
//! and `bench.py` read.

use anyhow::Result;
use clap::Parser;
use meg_bench::{list_json, run, Scale, Workload};
use serde::Serialize;
use std::process::ExitCode;

/// Time MEG workloads (see `cargo xtask bench` for the comparison with PyTorch).
#[derive(Parser)]
#[command(name = "meg-bench", version, about, long_about = None)]
struct Args {
    /// Workloads to run (default: all; see --list).
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
    /// Print the workloads (name, unit, what one timed unit is) and exit.
    #[arg(long)]
    list: bool,
    /// With --list: as JSON, with the repetitions and targets of `cargo xtask bench`.
    #[arg(long, requires = "list")]
    json: bool,
}

/// One `bench-result` line.
#[derive(Serialize)]
struct ResultLine<'a> {
    workload: &'static str,
    unit: &'static str,
    /// One value per timed repetition, in `unit`.
    samples: &'a [f64],
    threads: i32,
    device: &'a str,
    libtorch: &'a str,
    git: &'a str,
    /// Trainable scalars of E, G and T.
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<[i64; 3]>,
    /// `--reference`: the matmul rates (GFLOP/s) measured right after.
    #[serde(skip_serializing_if = "Option::is_none")]
    reference_gflops: Option<Vec<f64>>,
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
    if args.list {
        if args.json {
            println!("{}", list_json());
        } else {
            for w in Workload::ALL {
                println!("{:<13} {:<9} {}", w.name(), w.unit(), w.info().what);
            }
        }
        return Ok(());
    }
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
        let reference = if args.reference && w != Workload::Matmul {
            let r = run(Workload::Matmul, scale, device, warmup.min(1), iters.min(3))?;
            Some(r.samples)
        } else {
            None
        };
        let line = ResultLine {
            workload: w.name(),
            unit: w.unit(),
            samples: &m.samples,
            threads: prov.threads,
            device: &prov.device,
            libtorch: &prov.libtorch_version,
            git: &prov.git_revision,
            params: m.params.map(|(e, g, t)| [e, g, t]),
            reference_gflops: reference,
        };
        println!("bench-result {}", serde_json::to_string(&line)?);
    }
    Ok(())
}
