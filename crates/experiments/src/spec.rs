//! Experiment specs: `experiments/<target>.yaml`.
//!
//! A spec lists its runs as partial run configs over shared `defaults`, and
//! profiles (`smoke`, `quick`, `paper`) that override fields by dotted path
//! (`model.width: 32`) and set the evaluation sizes. The paper's reported
//! values live in the spec too, so reports can put ours beside them.

use anyhow::{anyhow, bail, Context, Result};
use meg_models::RunConfig;
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
    pub profiles: BTreeMap<String, Profile>,
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

/// A size profile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
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
    /// Evaluation settings, as the target's runner defines them.
    #[serde(default)]
    pub eval: Mapping,
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
            serde_yaml_ng::from_str(&text).map_err(|err| anyhow!("{}: {err}", path.display()))?;
        e.path = path.to_path_buf();
        for (name, p) in &e.profiles {
            if !["smoke", "quick", "paper"].contains(&name.as_str()) {
                bail!(
                    "{}: profiles.{name}: unknown profile (expected smoke, quick, paper)",
                    path.display()
                );
            }
            for id in p.run_overrides.keys() {
                if !e.runs.iter().any(|r| &r.id == id) {
                    bail!(
                        "{}: profiles.{name}.run_overrides.{id}: no run `{id}` (runs: {})",
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

    /// The profile `name`, or an error listing the available ones.
    pub fn profile(&self, name: &str) -> Result<&Profile> {
        self.profiles.get(name).with_context(|| {
            format!(
                "{}: no profile `{name}` (available: {})",
                self.path.display(),
                self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// The full, validated run config of run `run` under profile `profile`.
    pub fn run_config(&self, run: &RunSpec, profile: &str) -> Result<RunConfig> {
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

    /// An evaluation setting of `profile` (falling back to `default`).
    pub fn eval<T: serde::de::DeserializeOwned>(
        &self,
        profile: &str,
        key: &str,
        default: T,
    ) -> Result<T> {
        match self.profile(profile)?.eval.get(key) {
            None => Ok(default),
            Some(v) => serde_yaml_ng::from_value(v.clone()).map_err(|e| {
                anyhow!(
                    "{}: profiles.{profile}.eval.{key}: {e}",
                    self.path.display()
                )
            }),
        }
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
        let c = e.run_config(&e.runs[0], "smoke").unwrap();
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
            e.run_config(&e.runs[0], "paper").unwrap().iterations,
            Some(100000)
        );
        assert_eq!(e.eval::<usize>("smoke", "samples", 7).unwrap(), 100);

        // Per-run overrides come after the profile's; unknown run ids fail.
        let text = SPEC.replace(
            "eval: {samples: 100}",
            "run_overrides: {a: {lambda: 0.5, model.width: 4}}\n    eval: {samples: 100}",
        );
        let e = spec(&text).unwrap();
        let c = e.run_config(&e.runs[0], "smoke").unwrap();
        assert_eq!((c.lambda, c.iterations), (0.5, Some(3)));
        assert!(matches!(
            c.model,
            meg_models::config::ModelConfig::Toy { width: 4, .. }
        ));
        assert_eq!(e.run_config(&e.runs[0], "paper").unwrap().lambda, 0.1);
        let err = format!("{:#}", spec(&text.replace("{a: {", "{b: {")).unwrap_err());
        assert!(
            err.contains("demo.yaml") && err.contains("run_overrides.b") && err.contains("runs: a"),
            "{err}"
        );
        assert_eq!(e.eval::<usize>("paper", "samples", 7).unwrap(), 7);
    }

    #[test]
    fn errors_name_file_profile_and_field() {
        let e = spec(&SPEC.replace("iterations: 3", "iterations: three")).unwrap();
        let err = format!("{:#}", e.run_config(&e.runs[0], "smoke").unwrap_err());
        assert!(
            err.contains("demo.yaml") && err.contains("smoke") && err.contains("iterations"),
            "{err}"
        );
        let err = format!("{:#}", spec(&SPEC.replace("title:", "titel:")).unwrap_err());
        assert!(err.contains("demo.yaml") && err.contains("titel"), "{err}");
        let err = format!("{:#}", spec(SPEC).unwrap().profile("quick").unwrap_err());
        assert!(
            err.contains("no profile `quick`") && err.contains("smoke"),
            "{err}"
        );
        let e = spec(&SPEC.replace("lambda: 0.1", "lambda: -1")).unwrap();
        let err = format!("{:#}", e.run_config(&e.runs[0], "paper").unwrap_err());
        assert!(err.contains("lambda"), "{err}");
    }
}
