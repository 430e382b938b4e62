//! `cargo xtask bench`: our workloads (`meg-bench`) against the same work in
//! eager PyTorch (`crates/bench/bench.py`, run with the provisioned Python),
//! at the paper's sizes, on the same device and thread count.
//!
//! `meg-bench --list --json` owns the workload list (names, units, what each
//! times, repetitions per process, targets); `bench.py` is given the same
//! list. Each run of a workload is a fresh process with its own warm-up; runs
//! alternate ours / PyTorch (A B A B ...), and each side's value is the median
//! over runs of each process's median. The GFLOP of one timed unit is counted
//! once by `bench.py --flops` (from the shapes of the matrix products and
//! convolutions the unit dispatches; see its docstring), after checking that
//! both sides build networks with the same parameter counts. Each of our
//! processes then measures the 4096² matmul rate (`meg-bench --reference`),
//! and the fraction of the machine's limit is taken per run against it:
//! the machine's speed drifts over minutes. Writes
//! `reports/bench/bench.{md,json}` (`bench-<device>-<names>` for other devices
//! or `--only`; `target/bench-smoke/` for `--smoke`).
//!
//! One module per concern: [`args`] (flags), [`protocol`] (what the two
//! programs print), [`stats`] (medians, ratios, rates), [`rules`] (targets),
//! [`load`] (machine load), [`report`] and [`markdown`] (the report),
//! [`json`] (its JSON layout); this file runs the processes.

mod args;
mod json;
mod load;
mod markdown;
mod protocol;
mod report;
mod rules;
mod stats;

use crate::util::{cargo, run_status, target_dir, workspace_root};
use anyhow::{bail, Context, Result};
use args::{Options, USAGE};
use protocol::{checked, child_line, FlopsLine, ResultLine, Workload};
use report::{Report, RunFacts, Scale, Threads};
use stats::{median, Outcome};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which program measures.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    /// `meg-bench`.
    Ours,
    /// `bench.py`.
    PyTorch,
}

/// The two programs and how to start them.
struct Sides {
    root: PathBuf,
    ours: PathBuf,
    python: PathBuf,
    script: PathBuf,
    /// The workload list of `meg-bench`, as a file for `bench.py`.
    list: PathBuf,
    threads: String,
}

impl Sides {
    /// `program [script --workloads LIST] NAME --device D (--smoke | --warmup W --iters N)`.
    fn command(&self, side: Side, o: &Options, w: &Workload) -> Command {
        let mut cmd = match side {
            Side::Ours => Command::new(&self.ours),
            Side::PyTorch => {
                let mut c = Command::new(&self.python);
                c.arg(&self.script).arg("--workloads").arg(&self.list);
                c
            }
        };
        cmd.current_dir(&self.root)
            .env("MEG_THREADS", &self.threads)
            .args([w.name.as_str(), "--device", &o.device]);
        if o.smoke {
            cmd.arg("--smoke");
        } else {
            cmd.args([
                "--warmup",
                &w.warmup.to_string(),
                "--iters",
                &w.iters.to_string(),
            ]);
        }
        cmd
    }
}

/// Runs `cargo xtask bench ARGS`.
pub fn run(args: &[String]) -> Result<()> {
    let o = Options::parse(args)?;
    if o.help {
        println!("{USAGE}");
        return Ok(());
    }
    let root = workspace_root();
    let lt = crate::setup::provision()?;
    let python = lt.python.clone().context(
        "the PyTorch side needs the Python of `cargo xtask setup` (LIBTORCH set by you has none): \
         unset LIBTORCH and run `cargo xtask setup`",
    )?;
    run_status(cargo().current_dir(&root).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "meg-bench",
    ]))
    .context("building meg-bench failed")?;
    let ours = target_dir().join("release").join("meg-bench");
    let (workloads, list_text) = protocol::workloads(&ours)?;
    // matmul is always measured: it is the reference rate of the fractions.
    let selected = protocol::select(&workloads, &o.only, rules::MATMUL)?;
    let list = target_dir().join("bench-workloads.json");
    std::fs::write(&list, &list_text).with_context(|| format!("writing {}", list.display()))?;
    let sides = Sides {
        script: root.join("crates").join("bench").join("bench.py"),
        root: root.clone(),
        ours,
        python,
        list,
        threads: std::env::var("MEG_THREADS").unwrap_or_else(|_| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .to_string()
        }),
    };

    let mut facts = RunFacts {
        date: String::new(),
        git_revision: String::new(),
        libtorch: String::new(),
        pytorch: String::new(),
        device: o.device.clone(),
        threads: Threads::parse(&sides.threads),
        runs: o.runs,
        waited_for_quiet: o.wait_quiet,
        scale: if o.smoke { Scale::Smoke } else { Scale::Paper },
        load_average_before: load::load_average(),
        load_average_after: None,
    };
    let mut outcomes = Vec::new();
    for w in selected {
        outcomes.push(measure(&sides, &o, w, &mut facts)?);
    }
    facts.load_average_after = load::load_average();
    facts.date = report::date(std::time::SystemTime::now());
    let report = Report::new(facts, &outcomes);
    let json = report.json();
    let md = markdown::render(&report);
    let stem = report::out_stem(&root, &o);
    report::write(&stem, &json, &md)?;
    print!("{}", if o.json { &json } else { &md });
    eprintln!("wrote {}.{{md,json}}", stem.display());
    Ok(())
}

/// Counts one workload's GFLOP, then runs it `o.runs` times per side; notes
/// in `facts` what the processes said they were built from.
fn measure(sides: &Sides, o: &Options, w: &Workload, facts: &mut RunFacts) -> Result<Outcome> {
    let mut flops = sides.command(Side::PyTorch, o, w);
    flops.arg("--flops");
    let gflop = child_line::<FlopsLine>(&mut flops, "bench-flops")?.gflop;
    let mut out = Outcome::new(w.clone(), gflop);
    for r in 0..o.runs {
        let quiet = |what: &str| {
            if o.wait_quiet && !load::wait_quiet() {
                eprintln!("{}: {what} run {} started on a busy machine", w.name, r + 1);
            }
        };
        quiet("our");
        out.load.extend(load::load_average().map(|l| l[0]));
        let mut ours = sides.command(Side::Ours, o, w);
        if gflop > 0.0 && w.name != rules::MATMUL {
            ours.arg("--reference");
        }
        let a = checked(child_line::<ResultLine>(&mut ours, "bench-result")?, &ours)?;
        quiet("the PyTorch");
        let mut theirs = sides.command(Side::PyTorch, o, w);
        let b = checked(
            child_line::<ResultLine>(&mut theirs, "bench-result")?,
            &theirs,
        )?;
        check_alike(w, &a, &b, &sides.script)?;
        out.params = a.params;
        out.ours.push(median(&a.samples));
        out.reference
            .extend(a.reference_gflops.as_deref().map(median));
        out.theirs.push(median(&b.samples));
        facts.git_revision = a.git.context("our result line has no `git`")?;
        facts.libtorch = a.libtorch;
        facts.pytorch = b.libtorch;
        eprintln!(
            "{:>12} run {}/{}: ours {} {}, PyTorch {} {}",
            w.name,
            r + 1,
            o.runs,
            markdown::fmt(out.ours[r]),
            out.unit,
            markdown::fmt(out.theirs[r]),
            out.unit
        );
    }
    Ok(out)
}

/// Both sides measured the same thing: the same unit as the list says, and
/// networks with the same parameter counts.
fn check_alike(w: &Workload, a: &ResultLine, b: &ResultLine, script: &Path) -> Result<()> {
    if a.params != b.params {
        bail!(
            "{}: parameter counts (E, G, T) differ, ours {:?}, PyTorch {:?}: the twin in {} must mirror crates/models/src/nets",
            w.name,
            a.params,
            b.params,
            script.display()
        );
    }
    if a.unit != w.unit || b.unit != w.unit {
        bail!(
            "{}: units differ: ours {}, PyTorch {}, listed {}",
            w.name,
            a.unit,
            b.unit,
            w.unit
        );
    }
    Ok(())
}
