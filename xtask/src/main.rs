//! `cargo xtask <task>`: project automation that needs nothing but Rust and python3.
//!
//! One module per task. This crate never depends on tch, so it builds before
//! libtorch is provisioned.

mod bench;
mod doctor;
mod inputs;
mod numeric_paths;
mod reproduce;
mod setup;
mod test;
mod util;
mod verify;

use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <task> [options]

Tasks:
  setup     Provision libtorch 2.11.0 (a LIBTORCH you set, or a cached Python
            venv with torch==2.11.0 from PyPI) and link it at ./.libtorch
  doctor    Report libtorch path and version, CUDA devices, threads, and the
            data cache with the datasets present and verified
  test [--numeric-paths] [CARGO TEST ARGS]
            Run `setup` when needed, the workspace's whole test suite, then
            `verify` (extra arguments go to `cargo test` and skip `verify`),
            and list the tests that did not run with why;
            --numeric-paths: the golden and numerics tests under each CPU
            kernel path (ATEN_CPU_CAPABILITY, MKL_CBWR, ONEDNN_MAX_CPU_ISA)
  reproduce <target> [--profile smoke|quick|paper] [--device cpu|cuda|auto] [--seeds N]
            [--reference DIR] [--jobs N | --launcher slurm [--partition NAME]
            [--gpus-per-task N] [--time HH:MM:SS] [--account A] [--dry-run]]
            Train, evaluate and report one paper target into
            reports/<target>/<profile>/ (targets: table1 table2 table3
            table4 fig2 fig3 celeba, or all; and parity: our training against
            a PyTorch reference, --reference DIR a checkout of the authors'
            code); --jobs N trains N runs at once here, --launcher slurm
            submits them as a job array
  bench [--only NAME[,NAME...]] [--json] [--device cpu|cuda] [--runs N]
        [--wait-quiet] [--smoke]
            Time our workloads (their list: `meg-bench --list`) against the
            same work in eager PyTorch, alternating fresh processes; writes
            reports/bench/bench.{md,json}
  verify [--update]
            Reproduce every target (smoke profile, CPU, one thread, kernels
            pinned to ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=COMPATIBLE
            ONEDNN_MAX_CPU_ISA=AVX2) into a temporary directory and check the
            canonical hashes of the results against reports/hashes.lock;
            --update rewrites the lock and reports/hashes/ instead
  help      Print this help
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let result = match task.as_deref() {
        None | Some("help") | Some("--help") | Some("-h") => {
            print!("{HELP}");
            Ok(())
        }
        Some("setup") => setup::run(&rest).map(|_| ()),
        Some("doctor") => doctor::run(&rest),
        Some("test") => test::run(&rest),
        Some("reproduce") => reproduce::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("verify") => verify::run(&rest),
        Some(other) => Err(anyhow::anyhow!("unknown task `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
