//! `cargo xtask bench`: our workloads (`meg-bench`) against the same work in
//! eager PyTorch (`crates/bench/bench.py`, run with the provisioned Python),
//! at the paper's sizes, on the same device and thread count.
//!
//! Each run of a workload is a fresh process with its own warm-up; runs
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

use crate::util::{cargo, run_status, workspace_root};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const USAGE: &str = "usage: cargo xtask bench [--only NAME[,NAME...]] [--json] [--device cpu|cuda] [--runs N] [--wait-quiet] [--smoke]";

const COUNTING_RULE: &str = "GFLOP per timed unit (iteration, step or batch; one image for inception) = the FLOPs of every matrix product and convolution that unit dispatches, counted from the operand shapes by torch.utils.flop_counter's formulas on the PyTorch twin: 2·M·N·K per mm/addmm/bmm, 2·N·Cout·Hout·Wout·Cin·kh·kw per convolution, the same per requested gradient (input, weight) of convolution_backward. Per layer of cost F that is F forward and 2F backward (F for a first layer whose input needs no gradient); the score penalty on real data costs 6F (forward, the create_graph input gradient, 2F for the backward through that gradient, 2F for the backward of E(x) itself), a fake batch 3F. Element-wise work (activations, BatchNorm, Adam) is not counted. Our GFLOP/s is this count over our time, an effective rate: ours dispatches less than the count. Its energy step costs 7F per layer where the count has 9F (the forward pass over both batches, the backward pass of sum E over both, the score's cotangent pulled back over the real rows, and one weight gradient over both batches for both loss terms, with no input gradients through the forward pass); and in the conv MEG iterations (stackedmnist, cifar) T encodes x once for its joint and its shuffled pairs where the twin, like the authors' code, encodes [x; x] (3 passes of T's trunk over a batch fewer, about 5% of the count).";

/// One workload: how long each process measures it, and its target.
struct Spec {
    name: &'static str,
    what: &'static str,
    warmup: usize,
    iters: usize,
    /// Minimum ratio (PyTorch time / ours) the issue asks for.
    min_ratio: Option<f64>,
}

const SPECS: [Spec; 8] = [
    Spec {
        name: "toy",
        what: "MEG iteration, toy MLPs width 512, batch 256, 1 G + 5 E steps",
        warmup: 3,
        iters: 20,
        min_ratio: Some(1.05),
    },
    Spec {
        name: "kdd",
        what: "MEG iteration, KDD99 MLPs, batch 256, 1 G + 1 E step",
        warmup: 5,
        iters: 50,
        min_ratio: Some(1.4),
    },
    Spec {
        name: "stackedmnist",
        what: "MEG iteration, 3-stack StackedMNIST nets dim 512, batch 64, 1 G + 5 E steps",
        warmup: 1,
        iters: 3,
        min_ratio: Some(1.2),
    },
    Spec {
        name: "cifar",
        what: "MEG iteration, CIFAR-10 nets dim 512, batch 64, 1 G + 5 E steps",
        warmup: 1,
        iters: 2,
        min_ratio: Some(1.2),
    },
    Spec {
        name: "inception",
        what: "FID features (pool3) of 32x32 images resized to 299, batch 50",
        warmup: 1,
        iters: 2,
        min_ratio: Some(1.0),
    },
    Spec {
        name: "batch",
        what:
            "assembling one StackedMNIST batch (64 stacks of 3 from 60,000 images, 128,000 stacks)",
        warmup: 20,
        iters: 500,
        min_ratio: None,
    },
    Spec {
        name: "mala",
        what: "latent MALA step, CIFAR nets dim 512, batch 64",
        warmup: 1,
        iters: 5,
        min_ratio: None,
    },
    Spec {
        name: "matmul",
        what: "4096x4096 float32 matrix product (the machine's reference rate)",
        warmup: 1,
        iters: 5,
        min_ratio: None,
    },
];

/// Fraction of the matmul rate the toy iteration must reach.
const TOY_MIN_FRACTION: f64 = 0.85;
/// Largest share of a StackedMNIST iteration its batch assembly may take.
const BATCH_MAX_SHARE: f64 = 0.05;
/// Real batches one StackedMNIST iteration assembles (its k_e).
const STACKED_BATCHES_PER_ITERATION: f64 = 5.0;

#[derive(Debug)]
struct Options {
    only: Vec<String>,
    json: bool,
    device: String,
    runs: usize,
    wait_quiet: bool,
    smoke: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        only: Vec::new(),
        json: false,
        device: "cpu".into(),
        runs: 5,
        wait_quiet: false,
        smoke: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--only" => o.only.extend(value("--only")?.split(',').map(String::from)),
            "--device" => o.device = value("--device")?,
            "--runs" => {
                let v = value("--runs")?;
                o.runs = match v.parse() {
                    Ok(n) if n > 0 => n,
                    _ => bail!("--runs `{v}`: expected a positive integer"),
                }
            }
            "--json" => o.json = true,
            "--smoke" => o.smoke = true,
            "--wait-quiet" => o.wait_quiet = true,
            _ => bail!("unknown argument `{a}`\n{USAGE}"),
        }
    }
    if o.device != "cpu" && o.device != "cuda" && !o.device.starts_with("cuda:") {
        bail!("--device `{}`: expected cpu, cuda or cuda:N", o.device);
    }
    for n in &o.only {
        if !SPECS.iter().any(|s| s.name == n) {
            let names: Vec<_> = SPECS.iter().map(|s| s.name).collect();
            bail!(
                "unknown workload `{n}`: expected one of {}",
                names.join(", ")
            );
        }
    }
    if o.smoke {
        o.runs = 1;
    }
    Ok(o)
}

/// One `bench-result` / `bench-flops` line: `key=value` fields.
#[derive(Debug, Clone)]
struct Line(BTreeMap<String, String>);

impl Line {
    fn parse(line: &str, prefix: &str) -> Option<Line> {
        let rest = line.strip_prefix(prefix)?.strip_prefix(' ')?;
        let fields = rest
            .split_whitespace()
            .filter_map(|f| f.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(Line(fields))
    }

    fn get(&self, key: &str) -> Result<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .with_context(|| format!("result line without `{key}`: {:?}", self.0))
    }

    fn number(&self, key: &str) -> Result<f64> {
        let v = self.get(key)?;
        v.parse()
            .with_context(|| format!("`{key}={v}` is not a number"))
    }

    /// The number under `key`, if the line has one.
    fn optional_number(&self, key: &str) -> Result<Option<f64>> {
        match self.0.contains_key(key) {
            true => self.number(key).map(Some),
            false => Ok(None),
        }
    }

    fn params(&self) -> Option<&str> {
        self.0.get("params").map(String::as_str)
    }
}

/// Runs a child and returns its lines starting with `prefix`.
fn child_lines(cmd: &mut Command, prefix: &str) -> Result<Vec<Line>> {
    let out = cmd
        .output()
        .with_context(|| format!("could not start {cmd:?}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{cmd:?} failed ({}):\n{}", out.status, tail.join("\n"));
    }
    let lines: Vec<Line> = stdout
        .lines()
        .filter_map(|l| Line::parse(l, prefix))
        .collect();
    if lines.is_empty() {
        bail!("{cmd:?} printed no `{prefix}` line:\n{stdout}");
    }
    Ok(lines)
}

/// Median of a non-empty slice (mean of the middle two for an even length).
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    (s[(n - 1) / 2] + s[n / 2]) / 2.0
}

/// Both sides' results for one workload.
struct Outcome {
    spec: &'static Spec,
    unit: String,
    ours: Vec<f64>,
    theirs: Vec<f64>,
    gflop: f64,
    params: Option<String>,
    /// The 1-minute load average when each pair of runs started.
    load: Vec<f64>,
    /// The matmul rate each of our processes measured right after the
    /// workload (GFLOP/s), one per run; empty where not measured.
    reference: Vec<f64>,
}

impl Outcome {
    fn ours(&self) -> f64 {
        median(&self.ours)
    }
    fn theirs(&self) -> f64 {
        median(&self.theirs)
    }
    /// PyTorch's time over ours (for rates: our rate over PyTorch's).
    fn ratio(&self) -> f64 {
        if self.unit == "ms" {
            self.theirs() / self.ours()
        } else {
            self.ours() / self.theirs()
        }
    }
    /// Our GFLOP/s as a fraction of the machine's matmul rate: per run,
    /// against the reference rate the same process measured seconds later,
    /// then the median over runs; without references, the median rate
    /// against `matmul` (the matmul workload's median).
    fn fraction(&self, matmul: Option<f64>) -> Option<f64> {
        if self.reference.is_empty() {
            return self.gflops(self.ours()).zip(matmul).map(|(g, m)| g / m);
        }
        let per_run: Vec<f64> = self
            .ours
            .iter()
            .zip(&self.reference)
            .filter_map(|(&v, &r)| self.gflops(v).map(|g| g / r))
            .collect();
        (!per_run.is_empty()).then(|| median(&per_run))
    }
    /// GFLOP/s achieved from a median value, when the workload does counted work.
    fn gflops(&self, value: f64) -> Option<f64> {
        if self.gflop <= 0.0 {
            return None;
        }
        Some(match self.unit.as_str() {
            "ms" => self.gflop / (value / 1e3),
            "images/s" => self.gflop * value,
            _ => value,
        })
    }
}

/// A JSON value, written by hand (xtask depends on std and anyhow only).
enum J {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(&'static str, J)>),
}

impl J {
    fn opt(v: Option<f64>) -> J {
        v.map_or(J::Null, J::Num)
    }

    fn write(&self, out: &mut String, indent: usize) {
        let pad = |n: usize| "  ".repeat(n);
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(x) if x.fract() == 0.0 && x.abs() < 1e15 => {
                out.push_str(&format!("{}", *x as i64))
            }
            J::Num(x) if x.is_finite() => out.push_str(&format!("{}", round(*x))),
            J::Num(_) => out.push_str("null"),
            J::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            J::Arr(v) if v.iter().all(|x| matches!(x, J::Num(_) | J::Null)) => {
                out.push('[');
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    x.write(out, indent);
                }
                out.push(']');
            }
            J::Arr(v) => {
                out.push_str("[\n");
                for (i, x) in v.iter().enumerate() {
                    out.push_str(&pad(indent + 1));
                    x.write(out, indent + 1);
                    out.push_str(if i + 1 < v.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push(']');
            }
            J::Obj(kv) => {
                out.push_str("{\n");
                for (i, (k, v)) in kv.iter().enumerate() {
                    out.push_str(&format!("{}\"{k}\": ", pad(indent + 1)));
                    v.write(out, indent + 1);
                    out.push_str(if i + 1 < kv.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push('}');
            }
        }
    }
}

/// Four significant digits are more than the run-to-run noise.
fn round(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// The 1, 5 and 15 minute load averages (Linux).
fn load_average() -> Option<[f64; 3]> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    let v: Vec<f64> = s
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    (v.len() == 3).then(|| [v[0], v[1], v[2]])
}

/// Mean number of other runnable tasks over `samples` readings of
/// `/proc/loadavg` 0.2 s apart (its fourth field counts the reader itself).
fn others_runnable(samples: usize) -> Option<f64> {
    let mut sum = 0.0;
    for i in 0..samples {
        if i > 0 {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let s = std::fs::read_to_string("/proc/loadavg").ok()?;
        let running: f64 = s
            .split_whitespace()
            .nth(3)?
            .split('/')
            .next()?
            .parse()
            .ok()?;
        sum += running - 1.0;
    }
    Some(sum / samples as f64)
}

/// Waits (up to 30 minutes) until no other task has been runnable for 2
/// seconds; returns whether that happened.
fn wait_quiet() -> bool {
    let t = std::time::Instant::now();
    let mut said = false;
    while t.elapsed().as_secs() < 1800 {
        match others_runnable(10) {
            None => return false,
            Some(x) if x <= 0.2 => return true,
            Some(x) if !said => {
                eprintln!("waiting for a quiet machine ({x:.1} other tasks runnable)");
                said = true;
            }
            _ => std::thread::sleep(std::time::Duration::from_secs(5)),
        }
    }
    eprintln!("the machine stayed busy for 30 minutes: measuring anyway");
    false
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (proleptic Gregorian calendar).
fn utc(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Whether a workload met its target (None: no target, or not measurable in this run).
fn verdict(o: &Outcome, matmul: Option<f64>, stacked_ms: Option<f64>) -> (String, Option<bool>) {
    match o.spec.name {
        "toy" => {
            let frac = o.fraction(matmul);
            let target = format!(
                "ratio ≥ {}, ≥ {:.0}% of matmul",
                o.spec.min_ratio.unwrap(),
                TOY_MIN_FRACTION * 100.0
            );
            let ok = frac.map(|f| o.ratio() >= o.spec.min_ratio.unwrap() && f >= TOY_MIN_FRACTION);
            (target, ok)
        }
        "batch" => (
            format!(
                "{}× batch < {:.0}% of a stackedmnist iteration",
                STACKED_BATCHES_PER_ITERATION,
                BATCH_MAX_SHARE * 100.0
            ),
            stacked_ms.map(|s| batch_share(o.ours(), s) < BATCH_MAX_SHARE),
        ),
        _ => match o.spec.min_ratio {
            Some(r) => (format!("ratio ≥ {r}"), Some(o.ratio() >= r)),
            None => ("—".into(), None),
        },
    }
}

/// The share of a StackedMNIST iteration spent assembling its real batches.
fn batch_share(batch_ms: f64, iteration_ms: f64) -> f64 {
    STACKED_BATCHES_PER_ITERATION * batch_ms / iteration_ms
}

/// Facts about the run shared by the JSON and the markdown.
struct Meta {
    date: String,
    git: String,
    libtorch: String,
    torch_python: String,
    device: String,
    threads: String,
    runs: usize,
    wait_quiet: bool,
    smoke: bool,
    load_before: Option<[f64; 3]>,
    load_after: Option<[f64; 3]>,
}

fn report_json(meta: &Meta, outcomes: &[Outcome]) -> J {
    let find = |n: &str| outcomes.iter().find(|o| o.spec.name == n);
    let matmul = find("matmul").map(Outcome::ours);
    let stacked = find("stackedmnist").map(Outcome::ours);
    let load = |l: Option<[f64; 3]>| l.map_or(J::Null, |v| J::Arr(v.map(J::Num).into()));
    let workloads = outcomes
        .iter()
        .map(|o| {
            let (target, met) = verdict(o, matmul, stacked);
            let ours_gflops = o.gflops(o.ours());
            let mut kv = vec![
                ("name", J::Str(o.spec.name.into())),
                ("what", J::Str(o.spec.what.into())),
                ("unit", J::Str(o.unit.clone())),
                ("ours", J::Num(o.ours())),
                ("pytorch", J::Num(o.theirs())),
                ("ratio", J::Num(o.ratio())),
                (
                    "ours_runs",
                    J::Arr(o.ours.iter().map(|&x| J::Num(x)).collect()),
                ),
                (
                    "pytorch_runs",
                    J::Arr(o.theirs.iter().map(|&x| J::Num(x)).collect()),
                ),
                (
                    "load_average_1min_per_run",
                    J::Arr(o.load.iter().map(|&x| J::Num(x)).collect()),
                ),
                ("gflop_per_unit", J::Num(o.gflop)),
                ("ours_gflops", J::opt(ours_gflops)),
                ("pytorch_gflops", J::opt(o.gflops(o.theirs()))),
                ("ours_fraction_of_matmul", J::opt(o.fraction(matmul))),
                (
                    "reference_matmul_gflops_runs",
                    J::Arr(o.reference.iter().map(|&x| J::Num(x)).collect()),
                ),
                (
                    "params_e_g_t",
                    o.params.as_ref().map_or(J::Null, |p| {
                        J::Arr(
                            p.split(',')
                                .filter_map(|x| x.parse().ok())
                                .map(J::Num)
                                .collect(),
                        )
                    }),
                ),
                ("target", J::Str(target)),
                ("met", met.map_or(J::Null, J::Bool)),
            ];
            if o.spec.name == "batch" {
                kv.push((
                    "share_of_stackedmnist_iteration",
                    J::opt(stacked.map(|s| batch_share(o.ours(), s))),
                ));
            }
            J::Obj(kv)
        })
        .collect();
    J::Obj(vec![
        ("date", J::Str(meta.date.clone())),
        ("git_revision", J::Str(meta.git.clone())),
        ("libtorch", J::Str(meta.libtorch.clone())),
        ("pytorch", J::Str(meta.torch_python.clone())),
        ("device", J::Str(meta.device.clone())),
        (
            "threads",
            meta.threads
                .parse()
                .map_or_else(|_| J::Str(meta.threads.clone()), J::Num),
        ),
        ("runs", J::Num(meta.runs as f64)),
        ("waited_for_quiet", J::Bool(meta.wait_quiet)),
        ("scale", J::Str(if meta.smoke { "smoke" } else { "paper" }.into())),
        ("load_average_before", load(meta.load_before)),
        ("load_average_after", load(meta.load_after)),
        ("matmul_gflops", J::opt(matmul)),
        (
            "ratio_definition",
            J::Str("PyTorch time / our time (for rates: our rate / PyTorch's); > 1 means we are faster".into()),
        ),
        ("counting_rule", J::Str(COUNTING_RULE.into())),
        ("workloads", J::Arr(workloads)),
    ])
}

fn fmt(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else if x >= 0.1 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

fn report_md(meta: &Meta, outcomes: &[Outcome]) -> String {
    let find = |n: &str| outcomes.iter().find(|o| o.spec.name == n);
    let matmul = find("matmul").map(Outcome::ours);
    let stacked = find("stackedmnist").map(Outcome::ours);
    let load = |l: Option<[f64; 3]>| {
        l.map_or("unknown".into(), |v| {
            format!("{:.2} / {:.2} / {:.2}", v[0], v[1], v[2])
        })
    };
    let mut s = String::from("# Benchmarks: ours (tch) against eager PyTorch\n\n");
    if meta.smoke {
        s += "**Smoke run: tiny sizes, no warm-up; the numbers mean nothing.**\n\n";
    }
    s += &format!(
        "Written by `cargo xtask bench` on {}. Git revision `{}`; libtorch {} (ours), torch {} \
         (PyTorch, `crates/bench/bench.py`); device {}, {} threads on both sides; {} runs per \
         side, alternating ours / PyTorch, each a fresh process with its own warm-up; values are \
         medians over runs of each process's median.{} Load average (1 / 5 / 15 min) before: {}, \
         after: {}.\n\n",
        meta.date,
        meta.git,
        meta.libtorch,
        meta.torch_python,
        meta.device,
        meta.threads,
        meta.runs,
        if meta.wait_quiet {
            " Each process started once no other task had been runnable for 2 s."
        } else {
            ""
        },
        load(meta.load_before),
        load(meta.load_after)
    );
    s += "Ratio = PyTorch time / our time (for rates: our rate / PyTorch's); above 1 we are faster. \
          % of matmul: our GFLOP/s over the 4096x4096 matmul rate that the same process measured \
          right after the workload, per run, median over runs (the machine's speed drifts by \
          ±15% over minutes, so both rates are taken seconds apart); the matmul row is that \
          workload measured on its own.\n\n";
    s += "| workload | unit | ours | PyTorch | ratio | GFLOP/unit | ours GFLOP/s | % of matmul | target | met |\n";
    s += "|---|---|---|---|---|---|---|---|---|---|\n";
    for o in outcomes {
        let (target, met) = verdict(o, matmul, stacked);
        let g = o.gflops(o.ours());
        s += &format!(
            "| {} | {} | {} | {} | {:.3} | {} | {} | {} | {} | {} |\n",
            o.spec.name,
            o.unit,
            fmt(o.ours()),
            fmt(o.theirs()),
            o.ratio(),
            if o.gflop > 0.0 {
                fmt(o.gflop)
            } else {
                "—".into()
            },
            g.map_or("—".into(), fmt),
            o.fraction(matmul)
                .map_or("—".into(), |f| format!("{:.0}%", 100.0 * f)),
            target,
            met.map_or("—", |b| if b { "yes" } else { "**no**" }),
        );
    }
    if let (Some(b), Some(st)) = (find("batch"), stacked) {
        s += &format!(
            "\nBatch assembly: {} × {} ms = {:.2}% of a StackedMNIST iteration ({} ms).\n",
            STACKED_BATCHES_PER_ITERATION,
            fmt(b.ours()),
            100.0 * batch_share(b.ours(), st),
            fmt(st)
        );
    }
    s += "\n## Workloads\n\n";
    for o in outcomes {
        let list = |v: &[f64]| v.iter().map(|&x| fmt(x)).collect::<Vec<_>>().join(", ");
        s += &format!(
            "- **{}**: {}. Runs (ours): {}; (PyTorch): {}; 1-minute load average at each start: {}.{}{}\n",
            o.spec.name,
            o.spec.what,
            list(&o.ours),
            list(&o.theirs),
            list(&o.load),
            if o.reference.is_empty() {
                String::new()
            } else {
                format!(" Matmul reference after each of our runs (GFLOP/s): {}.", list(&o.reference))
            },
            o.params
                .as_ref()
                .map_or(String::new(), |p| format!(" Parameters E, G, T: {p}."))
        );
    }
    s += &format!("\n## Counting rule\n\n{COUNTING_RULE}\n");
    s
}

/// `reports/bench/bench[-DEVICE][-NAMES]` (or `target/bench-smoke/...`), without extension.
fn out_stem(root: &Path, o: &Options) -> PathBuf {
    let dir = if o.smoke {
        root.join("target").join("bench-smoke")
    } else {
        root.join("reports").join("bench")
    };
    let mut stem = String::from("bench");
    if o.device != "cpu" {
        stem += &format!("-{}", o.device.replace(':', ""));
    }
    if !o.only.is_empty() {
        stem += &format!("-{}", o.only.join("-"));
    }
    dir.join(stem)
}

pub fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
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
    let target: PathBuf =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    let ours_bin = target.join("release").join("meg-bench");
    let script = root.join("crates").join("bench").join("bench.py");
    let threads = match std::env::var("MEG_THREADS") {
        Ok(t) => t,
        Err(_) => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .to_string(),
    };
    // matmul is always measured: it is the reference rate of the fractions.
    let specs: Vec<&'static Spec> = SPECS
        .iter()
        .filter(|s| o.only.is_empty() || o.only.iter().any(|n| n == s.name) || s.name == "matmul")
        .collect();
    let common = |cmd: &mut Command, spec: &Spec| {
        cmd.current_dir(&root)
            .env("MEG_THREADS", &threads)
            .args([spec.name, "--device", &o.device]);
        if o.smoke {
            cmd.arg("--smoke");
        } else {
            cmd.args([
                "--warmup",
                &spec.warmup.to_string(),
                "--iters",
                &spec.iters.to_string(),
            ]);
        }
    };

    let load_before = load_average();
    let mut outcomes = Vec::new();
    let (mut libtorch, mut git, mut torch_python) = (String::new(), String::new(), String::new());
    for spec in specs {
        let mut flops = Command::new(&python);
        flops.arg(&script).arg("--flops");
        common(&mut flops, spec);
        let gflop = child_lines(&mut flops, "bench-flops")?[0].number("gflop")?;
        let mut out = Outcome {
            spec,
            unit: String::new(),
            ours: Vec::new(),
            theirs: Vec::new(),
            gflop,
            params: None,
            load: Vec::new(),
            reference: Vec::new(),
        };
        for r in 0..o.runs {
            let quiet = |what: &str| {
                if o.wait_quiet && !wait_quiet() {
                    eprintln!(
                        "{}: {what} run {} started on a busy machine",
                        spec.name,
                        r + 1
                    );
                }
            };
            quiet("our");
            out.load.extend(load_average().map(|l| l[0]));
            let mut ours = Command::new(&ours_bin);
            common(&mut ours, spec);
            if gflop > 0.0 && spec.name != "matmul" {
                ours.arg("--reference");
            }
            let a = child_lines(&mut ours, "bench-result")?.remove(0);
            quiet("the PyTorch");
            let mut theirs = Command::new(&python);
            theirs.arg(&script);
            common(&mut theirs, spec);
            let b = child_lines(&mut theirs, "bench-result")?.remove(0);
            if a.params() != b.params() {
                bail!(
                    "{}: parameter counts (E, G, T) differ, ours {:?}, PyTorch {:?}: the twin in {} must mirror crates/models/src/nets",
                    spec.name,
                    a.params(),
                    b.params(),
                    script.display()
                );
            }
            if a.get("unit")? != b.get("unit")? {
                bail!("{}: units differ", spec.name);
            }
            out.unit = a.get("unit")?.to_string();
            out.params = a.params().map(String::from);
            out.ours.push(a.number("value")?);
            out.reference.extend(a.optional_number("reference_gflops")?);
            out.theirs.push(b.number("value")?);
            libtorch = a.get("libtorch")?.to_string();
            git = a.get("git")?.to_string();
            torch_python = b.get("libtorch")?.to_string();
            eprintln!(
                "{:>12} run {}/{}: ours {} {}, PyTorch {} {}",
                spec.name,
                r + 1,
                o.runs,
                fmt(out.ours[r]),
                out.unit,
                fmt(out.theirs[r]),
                out.unit
            );
        }
        outcomes.push(out);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let meta = Meta {
        date: utc(now),
        git,
        libtorch,
        torch_python,
        device: o.device.clone(),
        threads,
        runs: o.runs,
        wait_quiet: o.wait_quiet,
        smoke: o.smoke,
        load_before,
        load_after: load_average(),
    };
    let mut json = String::new();
    report_json(&meta, &outcomes).write(&mut json, 0);
    json.push('\n');
    let md = report_md(&meta, &outcomes);
    let stem = out_stem(&root, &o);
    std::fs::create_dir_all(stem.parent().unwrap())?;
    for (ext, text) in [("json", &json), ("md", &md)] {
        let path = stem.with_extension(ext);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if o.json {
        print!("{json}");
    } else {
        print!("{md}");
    }
    eprintln!("wrote {}.{{md,json}}", stem.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_result_lines() {
        let l = Line::parse(
            "bench-result workload=toy unit=ms value=12.5 samples=1,2 params=3,4,5",
            "bench-result",
        )
        .unwrap();
        assert_eq!(l.get("workload").unwrap(), "toy");
        assert_eq!(l.number("value").unwrap(), 12.5);
        assert_eq!(l.params(), Some("3,4,5"));
        assert!(Line::parse("bench-resultx a=1", "bench-result").is_none());
        assert!(l.number("samples").is_err());
        assert_eq!(l.optional_number("value").unwrap(), Some(12.5));
        assert_eq!(l.optional_number("reference_gflops").unwrap(), None);
    }

    #[test]
    fn medians_ratios_and_rates() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let o = Outcome {
            spec: &SPECS[0],
            unit: "ms".into(),
            ours: vec![100.0, 90.0, 110.0],
            theirs: vec![120.0],
            gflop: 2.0,
            params: None,
            load: vec![],
            reference: vec![],
        };
        assert_eq!(o.ratio(), 1.2);
        assert_eq!(o.gflops(100.0), Some(20.0));
        // toy: ratio 1.2 but 20 of 100 GFLOP/s is below 85% of the matmul rate.
        assert_eq!(verdict(&o, Some(100.0), None).1, Some(false));
        assert_eq!(verdict(&o, Some(22.0), None).1, Some(true));
        // With a reference per run, each run is held against its own:
        // 20/40, 22.2/20, 18.2/20: median 0.909; the matmul median is ignored.
        let with_ref = Outcome {
            reference: vec![40.0, 20.0, 20.0],
            ..o
        };
        let f = with_ref.fraction(Some(1000.0)).unwrap();
        assert!((f - 2.0 / 0.110 / 20.0).abs() < 1e-9, "{f}");
        assert_eq!(verdict(&with_ref, Some(1000.0), None).1, Some(true));
        let rate = Outcome {
            spec: &SPECS[4],
            unit: "images/s".into(),
            ours: vec![30.0],
            theirs: vec![20.0],
            gflop: 0.5,
            params: None,
            load: vec![],
            reference: vec![],
        };
        assert_eq!(rate.ratio(), 1.5);
        assert_eq!(rate.gflops(30.0), Some(15.0));
    }

    #[test]
    fn json_is_escaped_and_rounded() {
        let mut s = String::new();
        J::Obj(vec![
            ("a", J::Str("x\"y\\\n".into())),
            (
                "b",
                J::Arr(vec![J::Num(1.234567), J::Num(f64::NAN), J::Num(88961.0)]),
            ),
            ("c", J::Null),
        ])
        .write(&mut s, 0);
        assert_eq!(
            s,
            "{\n  \"a\": \"x\\\"y\\\\\\n\",\n  \"b\": [1.235, null, 88961],\n  \"c\": null\n}"
        );
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_735_689_599), "2024-12-31T23:59:59Z");
    }

    #[test]
    fn options() {
        let a = |v: &[&str]| parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let o = a(&["--only", "toy,kdd", "--runs", "7", "--json"]).unwrap();
        assert_eq!((o.only.len(), o.runs, o.json), (2, 7, true));
        assert!(a(&["--only", "nope"]).is_err());
        assert!(a(&["--runs", "0"]).is_err());
        assert!(a(&["--device", "tpu"]).is_err());
        let stem = out_stem(
            Path::new("/w"),
            &a(&["--only", "toy", "--device", "cuda:1"]).unwrap(),
        );
        assert_eq!(stem, Path::new("/w/reports/bench/bench-cuda1-toy"));
    }
}
