//! `meg reproduce TARGET`: one paper table or figure, end to end; or its
//! runs spread over local processes (`--jobs N`) or a Slurm job array
//! (`--launcher slurm`), and the evaluation of runs trained so
//! (`--evaluate-only`).

use anyhow::{bail, Result};
use meg_experiments::launch::{local, slurm};
use meg_experiments::{default_reports_dir, reproduce, Mode, Options, Profile, TARGETS};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Target: table1, table2, table3, table4, fig2, fig3, celeba, parity or all.
    target: String,
    /// smoke (seconds), quick (minutes on a CPU) or paper (the authors' sizes).
    #[arg(long, default_value = "quick")]
    profile: Profile,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Root of the reports tree (default: the workspace's reports/).
    #[arg(long)]
    reports_dir: Option<PathBuf>,
    /// Seeds per multi-seed run (overrides the spec; Table 3 uses 5).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: Option<u64>,
    /// parity only: a checkout of the authors' repository
    /// (ritheshkumar95/energy_based_generative_models) whose networks and
    /// training step are the reference (default: the project's own PyTorch code).
    #[arg(long)]
    reference: Option<PathBuf>,
    /// local (this machine) or slurm (a job array, then an evaluation job).
    #[arg(long, value_enum, default_value = "local")]
    launcher: Launcher,
    /// Local runs trained in parallel, as separate processes (one CUDA
    /// device each, round robin, when there are several).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    jobs: u64,
    /// Only evaluate and report runs trained already (what the Slurm
    /// evaluation job runs); fails, naming them, if any run is unfinished.
    #[arg(long, conflicts_with_all = ["train_run", "jobs", "launcher"])]
    evaluate_only: bool,
    /// Only train (or resume) the run with this id, with the target's
    /// in-training evaluations (what a Slurm array element and a `--jobs`
    /// process run).
    #[arg(long, value_name = "ID", conflicts_with_all = ["jobs", "launcher"])]
    train_run: Option<String>,
    #[command(flatten)]
    slurm: SlurmArgs,
}

/// The sbatch settings of `--launcher slurm`.
#[derive(clap::Args)]
struct SlurmArgs {
    /// Slurm partition.
    #[arg(long)]
    partition: Option<String>,
    /// GPUs of each array element and of the evaluation job.
    #[arg(long, value_name = "N")]
    gpus_per_task: Option<u32>,
    /// Time limit of each job, HH:MM:SS or D-HH:MM:SS.
    #[arg(long, value_name = "HH:MM:SS")]
    time: Option<String>,
    /// Slurm account.
    #[arg(long)]
    account: Option<String>,
    /// Write and print the scripts and the sbatch commands; submit nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Launcher {
    Local,
    Slurm,
}

pub fn run(args: Args) -> Result<()> {
    meg_nn::set_threads_from_env()?;
    let s = &args.slurm;
    let slurm_opts = slurm::SlurmOptions {
        partition: s.partition.clone(),
        gpus_per_task: s.gpus_per_task,
        time: s.time.clone(),
        account: s.account.clone(),
        dry_run: s.dry_run,
    };
    if args.launcher != Launcher::Slurm && slurm_opts != slurm::SlurmOptions::default() {
        bail!("--partition, --gpus-per-task, --time, --account and --dry-run go with --launcher slurm");
    }
    if args.launcher == Launcher::Slurm && args.jobs > 1 {
        bail!("--jobs is for --launcher local: Slurm runs every array element at once, as the cluster allows");
    }
    let mode = match (&args.train_run, args.evaluate_only) {
        (Some(id), _) if args.target == "all" => {
            bail!("--train-run {id} needs one target, not all")
        }
        (Some(id), _) => Mode::TrainRun(id.clone()),
        (None, true) => Mode::EvaluateOnly,
        (None, false) => Mode::All,
    };
    let reports_dir = args.reports_dir.unwrap_or_else(default_reports_dir);
    // A Slurm job resolves `auto`/`cuda` on its node, not here.
    let device = if args.launcher == Launcher::Slurm {
        tch::Device::Cpu
    } else {
        meg_nn::parse_device(&args.device)?
    };
    let opts = Options {
        profile: args.profile,
        device,
        reports_dir,
        seeds: args.seeds,
        reference: args.reference,
        mode,
    };
    let targets: Vec<&str> = if args.target == "all" {
        TARGETS.to_vec()
    } else {
        vec![args.target.as_str()]
    };
    match args.launcher {
        Launcher::Slurm => {
            for t in targets {
                slurm::launch(t, &opts, &args.device, &slurm_opts)?;
            }
        }
        Launcher::Local if args.jobs > 1 => {
            for t in targets {
                let out = local::run(t, &opts, &args.device, args.jobs as usize)?;
                println!("{}", out.display());
            }
        }
        Launcher::Local => {
            for out in reproduce(&args.target, &opts)? {
                println!("{}", out.display());
            }
        }
    }
    Ok(())
}
