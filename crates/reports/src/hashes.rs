//! `reports/hashes.lock`: the canonical hash of each target's results, so a
//! change of behaviour anywhere in the code shows up as a changed hash.
//!
//! The lock is text, one `<target> <profile> <sha256>` line per result,
//! sorted, after `#` comment lines. Beside it, in `<lock dir>/hashes/`, lies
//! the canonical results each hash was taken from
//! (`<target>.<profile>.json`, pretty-printed), so that a failing check can
//! name the metrics that changed and not only the hash.
//!
//! Results are read from `<reports>/<target>/<profile>/results.json`; the
//! reports directory checked need not be the one holding the lock (`cargo
//! xtask verify` reproduces into a temporary directory).

use crate::canonical::{self, Difference};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The profile whose results are locked by default: the one that runs in seconds.
pub const SMOKE: &str = "smoke";

/// Differences listed per target in a failed check before the rest is counted.
pub const MAX_LISTED_DIFFERENCES: usize = 40;

const HEADER: &str = "\
# Canonical sha256 of reports/<target>/<profile>/results.json (see meg_reports::canonical:
# keys sorted, floats at 4 significant digits, times/dates/provenance/paths left out).
# The canonical results themselves are in hashes/<target>.<profile>.json beside this file.
# Written by `meg hashes update` (or `cargo xtask verify --update`); checked by `cargo xtask verify`.
# `@cpu`: the numeric path the results were computed on (CPU kind with its model and cache,
# then the kernel pins ATEN_CPU_CAPABILITY, MKL_CBWR, ONEDNN_MAX_CPU_ISA that `cargo xtask
# verify` sets); on another path (other kernels, other rounding) values are compared within
# a tolerance.
# <target> <profile> <sha256>
";

/// Relative tolerance of a value checked on another CPU kind than the lock's.
pub const CROSS_CPU_RTOL: f64 = 0.05;
/// Absolute tolerance of a value checked on another CPU kind than the lock's.
pub const CROSS_CPU_ATOL: f64 = 0.01;

/// The entries of a lock file: (target, profile) → hex sha256, and the CPU
/// kind they were computed on (an `@cpu <kind>` line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lock {
    pub entries: BTreeMap<(String, String), String>,
    pub cpu: Option<String>,
}

impl Lock {
    /// Parses lock text; errors name the line.
    pub fn parse(text: &str) -> Result<Self> {
        let (mut entries, mut cpu) = (BTreeMap::new(), None);
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(kind) = line.strip_prefix("@cpu") {
                if cpu.replace(kind.trim().to_string()).is_some() {
                    bail!("line {}: a second `@cpu` line", i + 1);
                }
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [target, profile, hash] = fields[..] else {
                bail!(
                    "line {}: expected `<target> <profile> <sha256>`, got `{line}`",
                    i + 1
                );
            };
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("line {}: `{hash}` is not a hex sha256", i + 1);
            }
            let key = (target.to_string(), profile.to_string());
            if entries.insert(key, hash.to_ascii_lowercase()).is_some() {
                bail!("line {}: a second entry for {target} {profile}", i + 1);
            }
        }
        Ok(Lock { entries, cpu })
    }

    /// Reads a lock file.
    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| path.display().to_string())
    }

    /// The lock file's text: the comment header, then sorted entries.
    pub fn render(&self) -> String {
        let mut s = HEADER.to_string();
        if let Some(cpu) = &self.cpu {
            s += &format!("@cpu {cpu}\n");
        }
        for ((target, profile), hash) in &self.entries {
            s += &format!("{target} {profile} {hash}\n");
        }
        s
    }

    /// Writes the lock file atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        meg_plumbing::io::write_atomic(path, self.render().as_bytes())
    }

    /// The hash locked for `target` under `profile`.
    pub fn get(&self, target: &str, profile: &str) -> Option<&str> {
        self.entries
            .get(&(target.to_string(), profile.to_string()))
            .map(String::as_str)
    }

    /// Targets locked under `profile`, sorted.
    pub fn targets(&self, profile: &str) -> Vec<&str> {
        self.entries
            .keys()
            .filter(|(_, p)| p == profile)
            .map(|(t, _)| t.as_str())
            .collect()
    }
}

/// Where the canonical results behind a lock entry are kept.
pub fn snapshot_path(lock: &Path, target: &str, profile: &str) -> PathBuf {
    lock.with_file_name("hashes")
        .join(format!("{target}.{profile}.json"))
}

/// `<reports>/<target>/<profile>/results.json`.
pub fn results_path(reports: &Path, target: &str, profile: &str) -> PathBuf {
    reports.join(target).join(profile).join("results.json")
}

/// Targets of `reports` with a `results.json` under `profile`, sorted.
pub fn targets_with_results(reports: &Path, profile: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(reports).with_context(|| format!("reading {}", reports.display()))?;
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type()?.is_dir() && results_path(reports, &name, profile).is_file() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// What [`update`] changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Update {
    /// Targets whose hash is new or changed.
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
    /// Targets dropped from the lock: no results under `profile` any more.
    pub removed: Vec<String>,
}

/// Locks the results of every target of `reports` under `profile`: writes
/// each canonical snapshot and the lock (entries of other profiles are kept;
/// entries of this profile whose target has no results are removed).
pub fn update(reports: &Path, lock_path: &Path, profile: &str) -> Result<Update> {
    update_on(reports, lock_path, profile, &meg_plumbing::numeric_path())
}

/// [`update`], recording `cpu` as the lock's CPU kind.
fn update_on(reports: &Path, lock_path: &Path, profile: &str, cpu: &str) -> Result<Update> {
    let mut lock = if lock_path.exists() {
        Lock::read(lock_path)?
    } else {
        Lock::default()
    };
    lock.cpu = Some(cpu.to_string());
    let targets = targets_with_results(reports, profile)?;
    if targets.is_empty() {
        bail!(
            "no <target>/{profile}/results.json under {}: nothing to lock",
            reports.display()
        );
    }
    let mut up = Update::default();
    for old in lock.targets(profile) {
        if !targets.iter().any(|t| t == old) {
            up.removed.push(old.to_string());
        }
    }
    for t in &up.removed {
        lock.entries.remove(&(t.clone(), profile.to_string()));
        let snap = snapshot_path(lock_path, t, profile);
        if snap.exists() {
            std::fs::remove_file(&snap).with_context(|| format!("removing {}", snap.display()))?;
        }
    }
    for t in targets {
        let canon = canonical::canonicalize(&read_json(&results_path(reports, &t, profile))?);
        let hash = canonical::hash(&canon);
        let mut pretty = serde_json::to_string_pretty(&canon)?;
        pretty.push('\n');
        meg_plumbing::io::write_atomic(&snapshot_path(lock_path, &t, profile), pretty.as_bytes())?;
        let old = lock
            .entries
            .insert((t.clone(), profile.to_string()), hash.clone());
        if old.as_deref() == Some(hash.as_str()) {
            up.unchanged.push(t);
        } else {
            up.changed.push(t);
        }
    }
    lock.write(lock_path)?;
    Ok(up)
}

/// The relative difference of a numeric difference within the cross-CPU
/// tolerance (`|a - e| <= atol + rtol * max(|a|, |e|)`), else `None`.
fn within_tolerance(d: &Difference) -> Option<f64> {
    let (e, a) = (d.expected.as_ref()?.as_f64()?, d.actual.as_ref()?.as_f64()?);
    let (gap, scale) = ((a - e).abs(), a.abs().max(e.abs()));
    (gap <= CROSS_CPU_ATOL + CROSS_CPU_RTOL * scale).then(|| gap / scale.max(f64::MIN_POSITIVE))
}

/// How a target's results matched the lock.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// Same canonical hash.
    Exact,
    /// Checked on another CPU kind than the lock's: `differing` values differ,
    /// each within [`CROSS_CPU_RTOL`] / [`CROSS_CPU_ATOL`]; `worst` is the
    /// largest relative difference.
    Tolerance { differing: usize, worst: f64 },
}

/// Checks every target locked under `profile` against `reports`, and that
/// every target there is locked. On the lock's CPU kind (or a lock without
/// one) hashes must be equal; on another kind each value must be within
/// [`CROSS_CPU_RTOL`] relative or [`CROSS_CPU_ATOL`] absolute of the locked
/// one, and everything else equal. Returns each matching target and how it
/// matched; the error names each failing target with both hashes and the
/// metrics that differ.
pub fn check(reports: &Path, lock_path: &Path, profile: &str) -> Result<Vec<(String, Match)>> {
    check_on(reports, lock_path, profile, &meg_plumbing::numeric_path())
}

/// [`check`] as if run on CPU kind `cpu`.
fn check_on(
    reports: &Path,
    lock_path: &Path,
    profile: &str,
    cpu: &str,
) -> Result<Vec<(String, Match)>> {
    let lock = Lock::read(lock_path)?;
    let other_cpu = lock.cpu.as_deref().filter(|l| *l != cpu);
    let present = targets_with_results(reports, profile)?;
    if present.is_empty() && lock.targets(profile).is_empty() {
        bail!(
            "nothing to check: no <target>/{profile}/results.json under {} and no {profile} \
             entry in {}",
            reports.display(),
            lock_path.display()
        );
    }
    let mut failures = Vec::new();
    for t in &present {
        if lock.get(t, profile).is_none() {
            failures.push(format!(
                "{t}: no `{t} {profile}` entry in {} (a new target? run `meg hashes update` \
                 or `cargo xtask verify --update`)",
                lock_path.display()
            ));
        }
    }
    for t in lock.targets(profile) {
        if !present.iter().any(|p| p == t) {
            failures.push(format!(
                "{t}: locked in {} but {} does not exist",
                lock_path.display(),
                results_path(reports, t, profile).display()
            ));
        }
    }
    let mut ok = Vec::new();
    for t in &present {
        let Some(locked) = lock.get(t, profile) else {
            continue;
        };
        let actual = read_json(&results_path(reports, t, profile))?;
        let hash = canonical::hash(&actual);
        if hash == locked {
            ok.push((t.clone(), Match::Exact));
            continue;
        }
        let snap = snapshot_path(lock_path, t, profile);
        // Each difference with its relative size when within the cross-CPU tolerance.
        let compared = read_json(&snap).map(|expected| {
            let diffs: Vec<(Difference, Option<f64>)> = canonical::diff(&expected, &actual)
                .into_iter()
                .map(|d| {
                    let rel = within_tolerance(&d);
                    (d, rel)
                })
                .collect();
            (canonical::hash(&expected) == locked, diffs)
        });
        if let (Some(_), Ok((true, diffs))) = (other_cpu, &compared) {
            if diffs.iter().all(|(_, rel)| rel.is_some()) {
                let worst = diffs.iter().filter_map(|(_, rel)| *rel).fold(0.0, f64::max);
                let differing = diffs.len();
                ok.push((t.clone(), Match::Tolerance { differing, worst }));
                continue;
            }
        }
        let mut msg = format!(
            "{t} ({profile}): hash changed\n  locked: {locked}\n  now:    {hash}  ({})",
            results_path(reports, t, profile).display()
        );
        if let Some(lock_cpu) = other_cpu {
            msg += &format!(
                "\n  the lock was written on CPU `{lock_cpu}`, this is `{cpu}`: differences \
                 beyond {}% relative and {} absolute are marked `>`",
                CROSS_CPU_RTOL * 100.0,
                CROSS_CPU_ATOL
            );
        }
        match compared {
            Err(e) => msg += &format!("\n  cannot list the differing metrics: {e:#}"),
            Ok((snapshot_matches_lock, mut diffs)) => {
                if !snapshot_matches_lock {
                    msg += &format!(
                        "\n  note: {} does not hash to the locked value (edited by hand?)",
                        snap.display()
                    );
                }
                if other_cpu.is_some() {
                    // The ones beyond tolerance first: they are the failure.
                    diffs.sort_by_key(|(_, rel)| rel.is_some());
                }
                msg += &format!(
                    "\n  {} difference(s) (expected = {}):",
                    diffs.len(),
                    snap.display()
                );
                for (d, rel) in diffs.iter().take(MAX_LISTED_DIFFERENCES) {
                    let mark = match (other_cpu, rel) {
                        (Some(_), None) => "> ",
                        (Some(_), Some(_)) => "  ",
                        (None, _) => "",
                    };
                    msg += &format!("\n    {mark}{d}");
                }
                if diffs.len() > MAX_LISTED_DIFFERENCES {
                    msg += &format!(
                        "\n    ... and {} more",
                        diffs.len() - MAX_LISTED_DIFFERENCES
                    );
                }
            }
        }
        failures.push(msg);
    }
    if !failures.is_empty() {
        bail!(
            "{} of the {profile} results do not match {}:\n{}\n\
             If the change is intended, run `cargo xtask verify --update` and commit the lock.",
            failures.len(),
            lock_path.display(),
            failures.join("\n")
        );
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write_results(reports: &Path, target: &str, v: &Value) {
        let p = results_path(reports, target, SMOKE);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    }

    fn fig2(kl: f64) -> Value {
        json!({"target": "fig2", "wall_seconds": 3.5,
               "runs": {"swissroll": {"kl_data_model": kl, "iterations": 30}}})
    }

    #[test]
    fn lock_text_round_trips_sorted_with_header() {
        let mut lock = Lock::default();
        for (t, p, h) in [
            ("table3", "smoke", "b"),
            ("fig2", "smoke", "a"),
            ("fig2", "paper", "c"),
        ] {
            lock.entries
                .insert((t.into(), p.into()), h.repeat(64).to_string());
        }
        lock.cpu = Some("GenuineIntel avx2 avx512f".into());
        let text = lock.render();
        assert!(text.starts_with("# "));
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            body,
            [
                "@cpu GenuineIntel avx2 avx512f".to_string(),
                format!("fig2 paper {}", "c".repeat(64)),
                format!("fig2 smoke {}", "a".repeat(64)),
                format!("table3 smoke {}", "b".repeat(64)),
            ]
        );
        assert_eq!(Lock::parse(&text).unwrap(), lock);
        assert_eq!(lock.targets("smoke"), ["fig2", "table3"]);
        let err = Lock::parse("# c\nfig2 smoke\n").unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        let err = Lock::parse("fig2 smoke xyz\n").unwrap_err().to_string();
        assert!(err.contains("not a hex sha256"), "{err}");
        let err = Lock::parse("@cpu a\n@cpu b\n").unwrap_err().to_string();
        assert!(err.contains("line 2: a second `@cpu`"), "{err}");
        assert_eq!(Lock::parse("# old lock\n").unwrap().cpu, None);
    }

    #[test]
    fn another_cpu_kind_is_checked_within_tolerance_the_same_kind_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let (reports, lock) = (dir.path().join("reports"), dir.path().join("hashes.lock"));
        let results = |kl: f64, count: u64| {
            json!({"target": "fig2", "runs": {"swissroll": {"kl_data_model": kl, "modes": count},
                   "8gaussians": {"kl_data_model": 0.25}}})
        };
        write_results(&reports, "fig2", &results(2.0, 7));
        update_on(&reports, &lock, SMOKE, "AuthenticAMD avx2").unwrap();

        let failure_on =
            |cpu: &str| format!("{:#}", check_on(&reports, &lock, SMOKE, cpu).unwrap_err());

        // 3% off: exact on the lock's CPU kind fails, another kind passes.
        write_results(&reports, "fig2", &results(2.06, 7));
        let err = failure_on("AuthenticAMD avx2");
        assert!(
            err.contains("hash changed") && !err.contains("lock was written"),
            "{err}"
        );
        let ok = check_on(&reports, &lock, SMOKE, "GenuineIntel avx2 avx512f").unwrap();
        let [(t, Match::Tolerance { differing, worst })] = &ok[..] else {
            panic!("{ok:?}")
        };
        assert_eq!((t.as_str(), *differing), ("fig2", 1));
        assert!((worst - 0.06 / 2.06).abs() < 1e-3, "{worst}");

        // Beyond tolerance (6% and +0.12), or a changed count, fails and is marked.
        write_results(&reports, "fig2", &results(2.12, 7));
        let err = failure_on("GenuineIntel");
        assert!(
            err.contains("written on CPU `AuthenticAMD avx2`, this is `GenuineIntel`"),
            "{err}"
        );
        assert!(
            err.contains("> runs.swissroll.kl_data_model: expected 2.0, got 2.12"),
            "{err}"
        );
        write_results(&reports, "fig2", &results(2.0, 9));
        let err = failure_on("GenuineIntel");
        assert!(
            err.contains("> runs.swissroll.modes: expected 7, got 9"),
            "{err}"
        );

        // Small absolute differences of values near zero are within tolerance.
        let near_zero = json!({"target": "fig2", "runs": {"swissroll": {"kl_data_model": 2.0, "modes": 7},
                               "8gaussians": {"kl_data_model": 0.259}}});
        write_results(&reports, "fig2", &near_zero);
        assert!(check_on(&reports, &lock, SMOKE, "GenuineIntel").is_ok());
    }

    #[test]
    fn update_then_check_passes_and_ignores_wall_time() {
        let dir = tempfile::tempdir().unwrap();
        let (reports, lock) = (dir.path().join("reports"), dir.path().join("hashes.lock"));
        write_results(&reports, "fig2", &fig2(2.16094));
        let up = update(&reports, &lock, SMOKE).unwrap();
        assert_eq!(up.changed, ["fig2"]);
        let l = Lock::read(&lock).unwrap();
        assert_eq!(
            l.get("fig2", SMOKE),
            Some(canonical::hash(&fig2(2.16094)).as_str())
        );
        let snap: Value = serde_json::from_str(
            &std::fs::read_to_string(snapshot_path(&lock, "fig2", SMOKE)).unwrap(),
        )
        .unwrap();
        assert_eq!(snap, canonical::canonicalize(&fig2(2.16094)));

        let mut again = fig2(2.160941);
        again["wall_seconds"] = json!(99.0);
        write_results(&reports, "fig2", &again);
        assert_eq!(
            check(&reports, &lock, SMOKE).unwrap(),
            [("fig2".to_string(), Match::Exact)]
        );
        assert_eq!(update(&reports, &lock, SMOKE).unwrap().unchanged, ["fig2"]);
        assert_eq!(
            Lock::read(&lock).unwrap().cpu,
            Some(meg_plumbing::numeric_path()),
            "update records the CPU kind"
        );
    }

    #[test]
    fn check_failure_names_target_hashes_and_metric() {
        let dir = tempfile::tempdir().unwrap();
        let (reports, lock) = (dir.path().join("reports"), dir.path().join("hashes.lock"));
        write_results(&reports, "fig2", &fig2(2.16094));
        update(&reports, &lock, SMOKE).unwrap();
        let locked = canonical::hash(&fig2(2.16094));
        write_results(&reports, "fig2", &fig2(2.5));
        let now = canonical::hash(&fig2(2.5));
        let err = format!("{:#}", check(&reports, &lock, SMOKE).unwrap_err());
        assert!(err.contains("fig2 (smoke): hash changed"), "{err}");
        assert!(err.contains(&locked) && err.contains(&now), "{err}");
        assert!(
            err.contains("runs.swissroll.kl_data_model: expected 2.161, got 2.5"),
            "{err}"
        );
    }

    #[test]
    fn missing_targets_on_either_side_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (reports, lock) = (dir.path().join("reports"), dir.path().join("hashes.lock"));
        write_results(&reports, "fig2", &fig2(1.0));
        write_results(&reports, "table3", &json!({"target": "table3"}));
        update(&reports, &lock, SMOKE).unwrap();

        // A target the lock does not know.
        write_results(&reports, "fig4", &json!({"target": "fig4"}));
        let err = format!("{:#}", check(&reports, &lock, SMOKE).unwrap_err());
        assert!(err.contains("fig4: no `fig4 smoke` entry"), "{err}");

        // A locked target with no results.
        std::fs::remove_dir_all(reports.join("fig4")).unwrap();
        std::fs::remove_file(results_path(&reports, "table3", SMOKE)).unwrap();
        let err = format!("{:#}", check(&reports, &lock, SMOKE).unwrap_err());
        assert!(
            err.contains("table3: locked in") && err.contains("results.json does not exist"),
            "{err}"
        );
        assert!(!err.contains("fig2"), "{err}");

        // Update drops it (and its snapshot), other profiles stay.
        let mut l = Lock::read(&lock).unwrap();
        l.entries
            .insert(("fig2".into(), "paper".into()), "0".repeat(64));
        l.write(&lock).unwrap();
        let up = update(&reports, &lock, SMOKE).unwrap();
        assert_eq!(up.removed, ["table3"]);
        assert!(!snapshot_path(&lock, "table3", SMOKE).exists());
        let l = Lock::read(&lock).unwrap();
        assert_eq!(l.targets(SMOKE), ["fig2"]);
        assert_eq!(l.targets("paper"), ["fig2"]);
        check(&reports, &lock, SMOKE).unwrap();

        let err = format!(
            "{:#}",
            check(&reports, &dir.path().join("none.lock"), SMOKE).unwrap_err()
        );
        assert!(err.contains("none.lock"), "{err}");
        let err = format!("{:#}", check(&reports, &lock, "quick").unwrap_err());
        assert!(err.contains("nothing to check"), "{err}");
    }
}
