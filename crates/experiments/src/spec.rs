//! Experiment specs: `experiments/<target>.yaml`.
//!
//! A spec lists its runs as partial run configs over shared `defaults`, and
//! profiles (`smoke`, `quick`, `paper`) that override fields by dotted path
//! (`model.width: 32`) and set the evaluation sizes. The paper's reported
//! values live in the spec too, so reports can put ours beside them.

pub use crate::profile::Profile;
use anyhow::{anyhow, bail, Context, Result};
use meg_models::RunConfig;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One experiment (a paper table or figure).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub target: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Run-config fields shared by every run.
    pub defaults: Mapping,
    pub runs: Vec<RunSpec>,
    pub profiles: BTreeMap<Profile, ProfileSpec>,
    /// What the paper reports for this target.
    #[serde(default)]
    pub paper: Paper,
    #[serde(skip)]
    pub path: PathBuf,
}

/// The paper's reported values, for the comparison table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paper {
    /// Where the numbers come from (table, version of the paper).
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub values: Vec<PaperValue>,
}

/// One reported number: `setting` names the row (e.g. `MEG, 3 stacks`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperValue {
    pub setting: String,
    pub metric: String,
    pub value: f64,
    #[serde(default)]
    pub std: Option<f64>,
}

/// One run of an experiment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    pub id: String,
    /// Run-config fields of this run (over `defaults`).
    #[serde(default)]
    pub config: Mapping,
    /// Number of seeds (runs `<id>-s0`, `<id>-s1`, ... with seed `seed + k`);
    /// `--seeds N` overrides it.
    #[serde(default)]
    pub seeds: Option<u64>,
}

/// What a spec sets for one size profile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    #[serde(default)]
    pub description: String,
    /// Dotted run-config paths and their values, applied to every run.
    #[serde(default)]
    pub overrides: BTreeMap<String, Value>,
    /// Per-run overrides, applied after `overrides`: run id to dotted
    /// run-config paths and values (e.g. each objective's own λ when the
    /// profile changes the data set).
    #[serde(default)]
    pub run_overrides: BTreeMap<String, BTreeMap<String, Value>>,
    /// Evaluation settings, as the target's runner defines them (its
    /// [`EvalSettings`] type; kept as written for `results.json`).
    #[serde(default)]
    pub eval: Mapping,
    /// The ids of the runs this profile trains, in the spec's order; every
    /// run when absent.
    #[serde(default)]
    pub runs: Option<Vec<String>>,
}

impl ProfileSpec {
    /// Whether this profile trains the run `id`.
    pub fn trains(&self, id: &str) -> bool {
        self.runs.as_ref().is_none_or(|r| r.iter().any(|x| x == id))
    }
}

/// A target's evaluation settings: the type that `profiles.<name>.eval` of
/// its spec is read into (with `#[serde(deny_unknown_fields)]`, so a typo
/// is an error that lists the keys there are, and its defaults in one place).
pub trait EvalSettings: DeserializeOwned {
    /// Checks what serde cannot (ranges, combinations).
    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// The workspace's `experiments/` directory.
pub fn experiments_dir() -> PathBuf {
    meg_plumbing::workspace_root().join("experiments")
}

impl Experiment {
    /// Reads `experiments/<target>.yaml`.
    pub fn load(target: &str) -> Result<Self> {
        Self::from_file(&experiments_dir().join(format!("{target}.yaml")))
    }

    /// Reads a spec file; errors name the file and the field.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading experiment spec {}", path.display()))?;
        let mut e: Experiment =
            serde_path_to_error::deserialize(serde_yaml_ng::Deserializer::from_str(&text))
                .map_err(|err| anyhow!("{}{}: {}", path.display(), at(err.path()), err.inner()))?;
        e.path = path.to_path_buf();
        for (name, p) in &e.profiles {
            let listed = p.runs.iter().flatten().map(|id| ("runs", id));
            for (field, id) in p
                .run_overrides
                .keys()
                .map(|id| ("run_overrides", id))
                .chain(listed)
            {
                if !e.runs.iter().any(|r| &r.id == id) {
                    bail!(
                        "{}: profiles.{name}.{field}.{id}: no run `{id}` (runs: {})",
                        path.display(),
                        e.runs
                            .iter()
                            .map(|r| r.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
        }
        Ok(e)
    }

    /// The profile `profile`, or an error listing the ones the spec has.
    pub fn profile(&self, profile: Profile) -> Result<&ProfileSpec> {
        self.profiles.get(&profile).with_context(|| {
            format!(
                "{}: no profile `{profile}` (available: {})",
                self.path.display(),
                self.profiles
                    .keys()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    /// The evaluation settings of `profile` as the target's type `E`, with
    /// `E`'s defaults for what the profile leaves out. The `eval` section of
    /// every profile of the spec is read and validated, so an unknown key or
    /// a bad value in any of them fails here, naming the file, the profile
    /// and the key.
    pub fn eval_settings<E: EvalSettings>(&self, profile: Profile) -> Result<E> {
        self.profile(profile)?;
        let mut chosen = None;
        for (&name, p) in &self.profiles {
            let section = format!("{}: profiles.{name}.eval", self.path.display());
            let e: E = serde_path_to_error::deserialize(Value::Mapping(p.eval.clone()))
                .map_err(|err| anyhow!("{section}{}: {}", at(err.path()), err.inner()))?;
            e.validate().with_context(|| section.clone())?;
            if name == profile {
                chosen = Some(e);
            }
        }
        chosen.context("checked above: the spec has the profile")
    }

    /// The full, validated run config of run `run` under profile `profile`.
    pub fn run_config(&self, run: &RunSpec, profile: Profile) -> Result<RunConfig> {
        let p = self.profile(profile)?;
        let ctx = || {
            format!(
                "{}: run `{}` with profile `{profile}`",
                self.path.display(),
                run.id
            )
        };
        let mut v = Value::Mapping(self.defaults.clone());
        merge(&mut v, &Value::Mapping(run.config.clone()));
        for (dotted, val) in &p.overrides {
            set_path(&mut v, dotted, val.clone()).with_context(|| {
                format!("{}: profiles.{profile}.overrides", self.path.display())
            })?;
        }
        for (dotted, val) in p.run_overrides.get(&run.id).into_iter().flatten() {
            set_path(&mut v, dotted, val.clone()).with_context(|| {
                format!(
                    "{}: profiles.{profile}.run_overrides.{}",
                    self.path.display(),
                    run.id
                )
            })?;
        }
        if let Value::Mapping(m) = &mut v {
            m.insert("name".into(), format!("{}-{}", self.target, run.id).into());
        }
        let cfg: RunConfig = serde_path_to_error::deserialize(v)
            .map_err(|e| anyhow!("field `{}`: {}", e.path(), e.inner()))
            .with_context(ctx)?;
        cfg.validate().with_context(ctx)?;
        Ok(cfg)
    }
}

/// `.a.b` for a serde path `a.b`; empty for the root.
fn at(path: &serde_path_to_error::Path) -> String {
    match path.to_string().as_str() {
        "." => String::new(),
        p => format!(".{p}"),
    }
}

/// Deep-merges mapping `over` into `base`.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Sets `a.b.c` in nested mappings, creating mappings on the way.
fn set_path(v: &mut Value, dotted: &str, val: Value) -> Result<()> {
    let mut cur = v;
    let parts: Vec<&str> = dotted.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let m = cur
            .as_mapping_mut()
            .with_context(|| format!("`{dotted}`: `{}` is not a mapping", parts[..i].join(".")))?;
        if i + 1 == parts.len() {
            m.insert((*part).into(), val);
            return Ok(());
        }
        cur = m
            .entry((*part).into())
            .or_insert_with(|| Value::Mapping(Mapping::new()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Profile::{Paper, Quick, Smoke};

    /// The demo spec's evaluation settings.
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct DemoEval {
        samples: usize,
        grid: Option<u32>,
    }

    impl Default for DemoEval {
        fn default() -> Self {
            DemoEval {
                samples: 7,
                grid: None,
            }
        }
    }

    impl EvalSettings for DemoEval {
        fn validate(&self) -> Result<()> {
            anyhow::ensure!(self.samples > 0, "samples must be positive");
            Ok(())
        }
    }

    const SPEC: &str = "
target: demo
title: Demo
defaults:
  model: {family: toy, width: 512}
  objective: meg
  lambda: 0.1
  batch_size: 256
  iterations: 100000
  seed: 0
runs:
  - id: a
    config: {data: {kind: toy, name: swissroll}}
profiles:
  smoke:
    overrides: {model.width: 8, iterations: 3}
    eval: {samples: 100}
  paper: {}
";

    fn spec(text: &str) -> Result<Experiment> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("demo.yaml");
        std::fs::write(&p, text).unwrap();
        Experiment::from_file(&p)
    }

    #[test]
    fn profiles_override_by_dotted_path() {
        let e = spec(SPEC).unwrap();
        let c = e.run_config(&e.runs[0], Smoke).unwrap();
        assert_eq!(c.name, "demo-a");
        assert_eq!(c.iterations, Some(3));
        assert_eq!(
            c.model,
            meg_models::config::ModelConfig::Toy {
                width: 8,
                z_dim: 2,
                hidden: 3
            }
        );
        assert_eq!(
            e.run_config(&e.runs[0], Paper).unwrap().iterations,
            Some(100000)
        );
        let ev: DemoEval = e.eval_settings(Smoke).unwrap();
        assert_eq!(
            ev,
            DemoEval {
                samples: 100,
                grid: None
            }
        );

        // Per-run overrides come after the profile's; unknown run ids fail.
        let text = SPEC.replace(
            "eval: {samples: 100}",
            "run_overrides: {a: {lambda: 0.5, model.width: 4}}\n    eval: {samples: 100}",
        );
        let e = spec(&text).unwrap();
        let c = e.run_config(&e.runs[0], Smoke).unwrap();
        assert_eq!((c.lambda, c.iterations), (0.5, Some(3)));
        assert!(matches!(
            c.model,
            meg_models::config::ModelConfig::Toy { width: 4, .. }
        ));
        assert_eq!(e.run_config(&e.runs[0], Paper).unwrap().lambda, 0.1);
        let err = format!("{:#}", spec(&text.replace("{a: {", "{b: {")).unwrap_err());
        assert!(
            err.contains("demo.yaml") && err.contains("run_overrides.b") && err.contains("runs: a"),
            "{err}"
        );
        let ev: DemoEval = e.eval_settings(Paper).unwrap();
        assert_eq!(ev, DemoEval::default());
        // A profile may train a subset of the runs, named by id.
        assert!(e.profile(Smoke).unwrap().trains("a"));
        let sub = spec(&SPEC.replace(
            "eval: {samples: 100}",
            "runs: [a]\n    eval: {samples: 100}",
        ))
        .unwrap();
        assert!(
            sub.profile(Smoke).unwrap().trains("a") && !sub.profile(Smoke).unwrap().trains("z")
        );
        let err = format!(
            "{:#}",
            spec(&SPEC.replace(
                "eval: {samples: 100}",
                "runs: [q]\n    eval: {samples: 100}"
            ))
            .unwrap_err()
        );
        assert!(err.contains("profiles.smoke.runs.q: no run `q`"), "{err}");
    }

    #[test]
    fn errors_name_file_profile_and_field() {
        let e = spec(&SPEC.replace("iterations: 3", "iterations: three")).unwrap();
        let err = format!("{:#}", e.run_config(&e.runs[0], Smoke).unwrap_err());
        assert!(
            err.contains("demo.yaml") && err.contains("smoke") && err.contains("iterations"),
            "{err}"
        );
        let err = format!("{:#}", spec(&SPEC.replace("title:", "titel:")).unwrap_err());
        assert!(err.contains("demo.yaml") && err.contains("titel"), "{err}");
        let err = format!("{:#}", spec(SPEC).unwrap().profile(Quick).unwrap_err());
        assert!(
            err.contains("no profile `quick`") && err.contains("smoke, paper"),
            "{err}"
        );
        let err = format!(
            "{:#}",
            spec(&SPEC.replace("  paper:", "  fast:")).unwrap_err()
        );
        assert!(
            err.contains("demo.yaml")
                && err.contains("`fast`")
                && err.contains("smoke, quick, paper"),
            "{err}"
        );
        let e = spec(&SPEC.replace("lambda: 0.1", "lambda: -1")).unwrap();
        let err = format!("{:#}", e.run_config(&e.runs[0], Paper).unwrap_err());
        assert!(err.contains("lambda"), "{err}");
    }

    #[test]
    fn eval_errors_name_file_profile_and_key() {
        let eval_err = |eval: &str| {
            let e = spec(&SPEC.replace("eval: {samples: 100}", eval)).unwrap();
            // The paper profile is fine; the smoke profile's mistake still fails.
            format!("{:#}", e.eval_settings::<DemoEval>(Paper).unwrap_err())
        };
        let err = eval_err("eval: {samples: 100, smaples: 3}");
        assert!(
            err.contains("demo.yaml: profiles.smoke.eval.smaples: unknown field `smaples`")
                && err.contains("expected `samples` or `grid`"),
            "{err}"
        );
        let err = eval_err("eval: {grid: many}");
        assert!(
            err.contains("demo.yaml: profiles.smoke.eval.grid:"),
            "{err}"
        );
        let err = eval_err("eval: {samples: 0}");
        assert!(
            err.contains("profiles.smoke.eval") && err.contains("samples must be positive"),
            "{err}"
        );
        let e = spec(SPEC).unwrap();
        let err = format!("{:#}", e.eval_settings::<DemoEval>(Quick).unwrap_err());
        assert!(err.contains("no profile `quick`"), "{err}");
    }
}
