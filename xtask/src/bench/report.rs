//! The report of a benchmark run: one typed record, written as `bench.json`
//! (its fields in order) and rendered as `bench.md` ([`super::markdown`]).

use super::args::Options;
use super::json;
use super::rules::{batch_share, verdict, BATCH, MATMUL, STACKED};
use super::stats::Outcome;
use anyhow::{Context, Result};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How GFLOP are counted (the `counting_rule` of the report).
pub const COUNTING_RULE: &str = "GFLOP per timed unit (iteration, step or batch; one image for inception) = the FLOPs of every matrix product and convolution that unit dispatches, counted from the operand shapes by torch.utils.flop_counter's formulas on the PyTorch twin: 2·M·N·K per mm/addmm/bmm, 2·N·Cout·Hout·Wout·Cin·kh·kw per convolution, the same per requested gradient (input, weight) of convolution_backward. Per layer of cost F that is F forward and 2F backward (F for a first layer whose input needs no gradient); the score penalty on real data costs 6F (forward, the create_graph input gradient, 2F for the backward through that gradient, 2F for the backward of E(x) itself), a fake batch 3F. Element-wise work (activations, BatchNorm, Adam) is not counted. Our GFLOP/s is this count over our time, an effective rate: ours dispatches less than the count. Its energy step costs 7F per layer where the count has 9F (the forward pass over both batches, the backward pass of sum E over both, the score's cotangent pulled back over the real rows, and one weight gradient over both batches for both loss terms, with no input gradients through the forward pass); and in the conv MEG iterations (stackedmnist, cifar) T encodes x once for its joint and its shuffled pairs where the twin, like the authors' code, encodes [x; x] (3 passes of T's trunk over a batch fewer, about 5% of the count).";

/// What the ratio means (the `ratio_definition` of the report).
pub const RATIO_DEFINITION: &str =
    "PyTorch time / our time (for rates: our rate / PyTorch's); > 1 means we are faster";

/// Facts about the run: the first fields of [`Report`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFacts {
    /// `YYYY-MM-DDTHH:MM:SSZ` (see [`date`]).
    pub date: String,
    pub git_revision: String,
    /// Our libtorch.
    pub libtorch: String,
    /// The PyTorch side's torch.
    pub pytorch: String,
    pub device: String,
    pub threads: Threads,
    /// Processes per side and workload.
    pub runs: usize,
    pub waited_for_quiet: bool,
    pub scale: Scale,
    /// 1, 5 and 15 minute load averages.
    pub load_average_before: Option<[f64; 3]>,
    pub load_average_after: Option<[f64; 3]>,
}

/// `YYYY-MM-DDTHH:MM:SSZ` of `t`.
pub fn date(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Thread count: a number, or `MEG_THREADS` as given when it is not one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Threads {
    Count(u64),
    Text(String),
}

impl Threads {
    /// `MEG_THREADS` (or the available parallelism) as a number if it is one.
    pub fn parse(s: &str) -> Threads {
        s.parse()
            .map_or_else(|_| Threads::Text(s.into()), Threads::Count)
    }
}

impl fmt::Display for Threads {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Threads::Count(n) => write!(f, "{n}"),
            Threads::Text(s) => f.write_str(s),
        }
    }
}

/// The sizes the workloads ran at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    Paper,
    Smoke,
}

/// `bench.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    #[serde(flatten)]
    pub run: RunFacts,
    /// Our median matmul rate (GFLOP/s).
    pub matmul_gflops: Option<f64>,
    pub ratio_definition: String,
    pub counting_rule: String,
    pub workloads: Vec<WorkloadReport>,
}

/// One workload of [`Report`]: medians over runs, and the runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadReport {
    pub name: String,
    pub what: String,
    pub unit: String,
    pub ours: f64,
    pub pytorch: f64,
    pub ratio: f64,
    pub ours_runs: Vec<f64>,
    pub pytorch_runs: Vec<f64>,
    pub load_average_1min_per_run: Vec<f64>,
    pub gflop_per_unit: f64,
    pub ours_gflops: Option<f64>,
    pub pytorch_gflops: Option<f64>,
    pub ours_fraction_of_matmul: Option<f64>,
    pub reference_matmul_gflops_runs: Vec<f64>,
    pub params_e_g_t: Option<[u64; 3]>,
    pub target: String,
    pub met: Option<bool>,
    /// Batch assembly only (null when stackedmnist did not run).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub share_of_stackedmnist_iteration: Option<Option<f64>>,
}

/// A field that is present (possibly null), as against absent (`default`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::deserialize(d).map(Some)
}

impl Report {
    /// The report of `outcomes`, measured in that order.
    pub fn new(run: RunFacts, outcomes: &[Outcome]) -> Report {
        let find = |n: &str| outcomes.iter().find(|o| o.name() == n);
        let matmul = find(MATMUL).map(Outcome::ours);
        let stacked = find(STACKED).map(Outcome::ours);
        let workloads = outcomes
            .iter()
            .map(|o| {
                let (target, met) = verdict(o, matmul, stacked);
                WorkloadReport {
                    name: o.name().into(),
                    what: o.workload.what.clone(),
                    unit: o.unit.clone(),
                    ours: o.ours(),
                    pytorch: o.theirs(),
                    ratio: o.ratio(),
                    ours_runs: o.ours.clone(),
                    pytorch_runs: o.theirs.clone(),
                    load_average_1min_per_run: o.load.clone(),
                    gflop_per_unit: o.gflop,
                    ours_gflops: o.gflops(o.ours()),
                    pytorch_gflops: o.gflops(o.theirs()),
                    ours_fraction_of_matmul: o.fraction(matmul),
                    reference_matmul_gflops_runs: o.reference.clone(),
                    params_e_g_t: o.params,
                    target,
                    met,
                    share_of_stackedmnist_iteration: (o.name() == BATCH)
                        .then(|| stacked.map(|s| batch_share(o.ours(), s))),
                }
            })
            .collect();
        Report {
            run,
            matmul_gflops: matmul,
            ratio_definition: RATIO_DEFINITION.into(),
            counting_rule: COUNTING_RULE.into(),
            workloads,
        }
    }

    /// The workload named `name`, if it ran.
    pub fn workload(&self, name: &str) -> Option<&WorkloadReport> {
        self.workloads.iter().find(|w| w.name == name)
    }

    /// `bench.json`'s text.
    pub fn json(&self) -> String {
        json::to_string(self).expect("a report always serializes")
    }
}

/// `reports/bench/bench[-DEVICE][-NAMES]` (or `target/bench-smoke/...`), without extension.
pub fn out_stem(root: &Path, o: &Options) -> PathBuf {
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

/// Writes `<stem>.json` and `<stem>.md`.
pub fn write(stem: &Path, json: &str, md: &str) -> Result<()> {
    let dir = stem.parent().context("report path without a folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (ext, text) in [("json", json), ("md", md)] {
        let path = stem.with_extension(ext);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// A report of three workloads, for the tests of the report's modules.
#[cfg(test)]
pub mod fixture {
    use super::super::stats::fixture::{outcome, workload};
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// A paper-scale run on 2000-02-29, once per side.
    pub fn facts() -> RunFacts {
        RunFacts {
            date: date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            git_revision: "abc".into(),
            libtorch: "2.11.0".into(),
            pytorch: "2.11.0+cpu".into(),
            device: "cpu".into(),
            threads: Threads::parse("2"),
            runs: 1,
            waited_for_quiet: false,
            scale: Scale::Paper,
            load_average_before: Some([1.5, 1.25, 1.0]),
            load_average_after: None,
        }
    }

    /// Batch, stackedmnist and matmul, measured once each.
    pub fn outcomes() -> Vec<Outcome> {
        let mut stacked = outcome(
            workload(STACKED, "ms", Some(1.2)),
            &[1000.0],
            &[1500.0],
            300.0,
        );
        stacked.params = Some([1, 2, 3]);
        stacked.reference = vec![400.0];
        vec![
            outcome(workload(BATCH, "ms", None), &[0.07], &[0.09], 0.0),
            stacked,
            outcome(
                workload(MATMUL, "GFLOP/s", None),
                &[173.25],
                &[170.0],
                137.4,
            ),
        ]
    }

    /// The report of [`facts`] and [`outcomes`].
    pub fn report() -> Report {
        Report::new(facts(), &outcomes())
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{facts, outcomes, report};
    use super::*;

    #[test]
    fn fields_from_outcomes() {
        let r = report();
        assert_eq!(r.run.date, "2000-02-29T00:00:00Z");
        assert_eq!(
            (&r.run.threads, r.matmul_gflops),
            (&Threads::Count(2), Some(173.25))
        );
        let batch = r.workload(BATCH).unwrap();
        assert_eq!(
            batch.share_of_stackedmnist_iteration,
            Some(Some(5.0 * 0.07 / 1000.0))
        );
        assert_eq!((batch.met, batch.ours_gflops), (Some(true), None));
        let st = r.workload(STACKED).unwrap();
        assert_eq!(
            (st.ratio, st.ours_gflops, st.ours_fraction_of_matmul),
            (1.5, Some(300.0), Some(0.75))
        );
        assert_eq!(
            (st.params_e_g_t, st.share_of_stackedmnist_iteration),
            (Some([1, 2, 3]), None)
        );
        // Without stackedmnist the batch share is there, as null.
        let run = RunFacts {
            threads: Threads::parse("many"),
            ..facts()
        };
        let r = Report::new(run, &outcomes()[..1]);
        assert_eq!(r.workloads[0].share_of_stackedmnist_iteration, Some(None));
        assert_eq!(r.run.threads.to_string(), "many");
        assert!(r
            .json()
            .contains("\n      \"share_of_stackedmnist_iteration\": null\n"));
        assert!(r.json().contains("\n  \"threads\": \"many\",\n"));
    }

    #[test]
    fn json_round_trips() {
        let r = report();
        let text = r.json();
        let back: Report = serde_json::from_str(&text).unwrap();
        // Four significant digits: 173.25 is written 173.3.
        assert_eq!(back.matmul_gflops, Some(173.3));
        assert_eq!(back.json(), text);
        assert!(text.contains("\n  \"load_average_before\": [1.5, 1.25, 1],\n"));
        assert!(!text.contains("share_of_stackedmnist_iteration\": 5"));
    }

    #[test]
    fn the_committed_report_reads_and_writes_back_the_same() {
        let path = crate::util::workspace_root().join("reports/bench/bench.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let r: Report = serde_json::from_str(&text).unwrap();
        assert!(r.workload(MATMUL).is_some());
        assert_eq!(r.json(), text);
    }

    #[test]
    fn stems() {
        let o = |v: &[&str]| {
            Options::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
        };
        let root = Path::new("/w");
        assert_eq!(out_stem(root, &o(&[])), Path::new("/w/reports/bench/bench"));
        assert_eq!(
            out_stem(root, &o(&["--only", "toy", "--device", "cuda:1"])),
            Path::new("/w/reports/bench/bench-cuda1-toy")
        );
        assert_eq!(
            out_stem(root, &o(&["--smoke"])),
            Path::new("/w/target/bench-smoke/bench")
        );
    }
}
