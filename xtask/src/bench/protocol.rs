//! What the two benchmark programs print: `meg-bench --list --json` (the
//! workload list, which `meg-bench` owns), and one `bench-result <JSON>` line
//! per workload from `meg-bench` and `bench.py` alike (`bench-flops <JSON>`
//! for `bench.py --flops`).

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::Path;
use std::process::Command;

/// One workload of `meg-bench --list --json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Workload {
    pub name: String,
    /// `ms` (lower is better), `images/s` or `GFLOP/s`.
    pub unit: String,
    /// One timed unit at the paper's sizes, in words.
    pub what: String,
    /// Untimed repetitions per process.
    pub warmup: usize,
    /// Timed repetitions per process.
    pub iters: usize,
    /// Least ratio (PyTorch time / ours) asked of this workload.
    pub min_ratio: Option<f64>,
}

/// One `bench-result` line.
#[derive(Debug, Clone, Deserialize)]
pub struct ResultLine {
    pub unit: String,
    /// One value per timed repetition, in `unit`.
    pub samples: Vec<f64>,
    pub libtorch: String,
    /// The git revision (ours only).
    pub git: Option<String>,
    /// Trainable scalars of E, G and T (model workloads).
    pub params: Option<[u64; 3]>,
    /// The matmul rates (GFLOP/s) the process measured after the workload
    /// (`meg-bench --reference`).
    pub reference_gflops: Option<Vec<f64>>,
}

/// One `bench-flops` line.
#[derive(Debug, Clone, Deserialize)]
pub struct FlopsLine {
    /// GFLOP of one timed unit.
    pub gflop: f64,
}

/// The workload list `bin --list --json` prints.
pub fn workloads(bin: &Path) -> Result<(Vec<Workload>, String)> {
    let mut cmd = Command::new(bin);
    cmd.args(["--list", "--json"]);
    let text = String::from_utf8(output(&mut cmd)?.stdout)?;
    let list = parse_workloads(&text).with_context(|| format!("{cmd:?} printed:\n{text}"))?;
    Ok((list, text))
}

/// Parses a workload list.
pub fn parse_workloads(text: &str) -> Result<Vec<Workload>> {
    let list: Vec<Workload> = serde_json::from_str(text).context("not a workload list")?;
    if list.is_empty() {
        bail!("empty workload list");
    }
    Ok(list)
}

/// The workloads named in `only`, in the list's order, plus `always`
/// (all of them when `only` is empty).
pub fn select<'a>(
    list: &'a [Workload],
    only: &[String],
    always: &str,
) -> Result<Vec<&'a Workload>> {
    for n in only {
        if !list.iter().any(|w| &w.name == n) {
            let names: Vec<_> = list.iter().map(|w| w.name.as_str()).collect();
            bail!(
                "unknown workload `{n}`: expected one of {}",
                names.join(", ")
            );
        }
    }
    Ok(list
        .iter()
        .filter(|w| only.is_empty() || only.contains(&w.name) || w.name == always)
        .collect())
}

/// Runs a child and parses its first line starting with `prefix` and a space.
pub fn child_line<T: DeserializeOwned>(cmd: &mut Command, prefix: &str) -> Result<T> {
    let out = output(cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix)?.strip_prefix(' '))
    {
        Some(json) => serde_json::from_str(json)
            .with_context(|| format!("{cmd:?}: unexpected `{prefix}` line: {json}")),
        None => bail!("{cmd:?} printed no `{prefix}` line:\n{stdout}"),
    }
}

/// Checks a `bench-result` line: it has samples, all finite.
pub fn checked(line: ResultLine, cmd: &Command) -> Result<ResultLine> {
    if line.samples.is_empty() || !line.samples.iter().all(|x| x.is_finite()) {
        bail!("{cmd:?}: bad samples {:?}", line.samples);
    }
    Ok(line)
}

/// Runs a child to its end; fails with the tail of its stderr if it fails.
fn output(cmd: &mut Command) -> Result<std::process::Output> {
    let out = cmd
        .output()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().collect();
        let tail = &lines[lines.len().saturating_sub(20)..];
        bail!("{cmd:?} failed ({}):\n{}", out.status, tail.join("\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape `meg-bench --list --json` prints (two of its entries).
    const LIST: &str = r#"[
  {"name": "toy", "unit": "ms", "what": "MEG iteration", "warmup": 3, "iters": 20, "min_ratio": 1.05},
  {"name": "matmul", "unit": "GFLOP/s", "what": "4096x4096", "warmup": 1, "iters": 5, "min_ratio": null}
]"#;

    #[test]
    fn workload_lists() {
        let list = parse_workloads(LIST).unwrap();
        assert_eq!(list[0].name, "toy");
        assert_eq!(
            (list[0].warmup, list[0].iters, list[0].min_ratio),
            (3, 20, Some(1.05))
        );
        assert_eq!(
            (list[1].unit.as_str(), list[1].min_ratio),
            ("GFLOP/s", None)
        );
        assert!(parse_workloads("[]").is_err());
        assert!(parse_workloads(r#"[{"name": "toy"}]"#).is_err());

        let names = |v: Vec<&Workload>| v.iter().map(|w| w.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(select(&list, &[], "matmul").unwrap()),
            ["toy", "matmul"]
        );
        assert_eq!(
            names(select(&list, &["toy".into()], "none").unwrap()),
            ["toy"]
        );
        assert_eq!(
            names(select(&list, &["toy".into()], "matmul").unwrap()),
            ["toy", "matmul"]
        );
        let err = select(&list, &["nope".into()], "matmul").unwrap_err();
        assert!(
            err.to_string().contains("expected one of toy, matmul"),
            "{err}"
        );
    }

    #[test]
    fn lines_from_a_child() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            r#"echo noise; echo 'bench-result {"workload": "toy", "unit": "ms", "samples": [1.5, 2], "libtorch": "2.11.0", "params": [3, 4, 5], "threads": 2}'"#,
        ]);
        let l: ResultLine = child_line(&mut cmd, "bench-result").unwrap();
        assert_eq!(
            (l.unit.as_str(), l.samples.as_slice()),
            ("ms", &[1.5, 2.0][..])
        );
        assert_eq!(
            (l.params, &l.git, &l.reference_gflops),
            (Some([3, 4, 5]), &None, &None)
        );
        assert!(checked(l, &cmd).is_ok());

        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo 'bench-resultx {}'; echo 'bench-flops {\"gflop\": 0.25}'",
        ]);
        assert!(child_line::<ResultLine>(&mut cmd, "bench-result").is_err());
        assert_eq!(
            child_line::<FlopsLine>(&mut cmd, "bench-flops")
                .unwrap()
                .gflop,
            0.25
        );

        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'bench-result {\"unit\": \"ms\"}'"]);
        assert!(child_line::<ResultLine>(&mut cmd, "bench-result").is_err());

        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo boom >&2; exit 3"]);
        let err = child_line::<FlopsLine>(&mut cmd, "bench-flops").unwrap_err();
        assert!(format!("{err:#}").contains("boom"), "{err:#}");

        let empty = ResultLine {
            unit: "ms".into(),
            samples: vec![],
            libtorch: String::new(),
            git: None,
            params: None,
            reference_gflops: None,
        };
        assert!(checked(empty, &cmd).is_err());
    }
}
