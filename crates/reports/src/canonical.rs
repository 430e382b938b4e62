//! Canonical results: the part of a `results.json` that must not change
//! between two runs of the same code, in one byte form, and its sha256.
//!
//! Canonicalization:
//! - object keys are sorted (byte order);
//! - keys named in [`EXCLUDED_KEYS`], or ending in one of
//!   [`EXCLUDED_SUFFIXES`], are dropped at any depth with everything under
//!   them: wall-clock times, dates, git revision, host, device, threads,
//!   paths — facts about the machine and the moment, not about the result;
//! - floats are rounded to [`SIGNIFICANT_DIGITS`] significant digits (and
//!   -0 becomes 0), so last-bit noise from summation order stays invisible
//!   while any real change of a metric shows; a value sitting right on a
//!   rounding boundary can still flip, which then shows up as a difference;
//! - integers, strings, booleans, nulls and array order are kept as they are.
//!
//! The hash is the hex sha256 of the compact JSON of the canonical value
//! ([`canonical_bytes`]).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// Significant digits floats keep in canonical results.
pub const SIGNIFICANT_DIGITS: usize = 4;

/// Keys dropped (with their subtrees) wherever they occur.
pub const EXCLUDED_KEYS: &[&str] = &[
    // when, and how long
    "seconds",
    "date",
    "started",
    "finished",
    "unix_time",
    // where and with what (the whole `provenance` record: git revision,
    // libtorch version, device, threads, time)
    "provenance",
    "git_revision",
    "libtorch_version",
    "host",
    "hostname",
    "device",
    "threads",
    // paths of this machine
    "path",
    "paths",
    "run_dir",
    "out_dir",
    "reports_dir",
];

/// Key suffixes dropped like [`EXCLUDED_KEYS`] (`train_seconds`,
/// `eval_seconds`, `wall_seconds`, ...).
pub const EXCLUDED_SUFFIXES: &[&str] = &["_seconds"];

/// Whether `key` is left out of canonical results.
pub fn is_excluded(key: &str) -> bool {
    EXCLUDED_KEYS.contains(&key) || EXCLUDED_SUFFIXES.iter().any(|s| key.ends_with(s))
}

/// The canonical form of a results value (see the module docs).
pub fn canonicalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().filter(|k| !is_excluded(k)).collect();
            keys.sort();
            // Inserted in sorted order: sorted whether or not serde_json keeps insertion order.
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), canonicalize(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonicalize).collect()),
        Value::Number(n) if n.is_f64() => n
            .as_f64()
            .and_then(|x| serde_json::Number::from_f64(round_significant(x)))
            .map_or(Value::Null, Value::Number),
        other => other.clone(),
    }
}

/// `x` rounded to [`SIGNIFICANT_DIGITS`] significant digits (through its
/// decimal form, so the result is the float nearest to that decimal).
pub fn round_significant(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    if !x.is_finite() {
        return x;
    }
    format!("{x:.*e}", SIGNIFICANT_DIGITS - 1)
        .parse()
        .expect("a formatted float parses")
}

/// The compact JSON bytes of the canonical form of `v`.
pub fn canonical_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(&canonicalize(v)).expect("a JSON value serializes")
}

/// Hex sha256 of [`canonical_bytes`].
pub fn hash(v: &Value) -> String {
    hex::encode(Sha256::digest(canonical_bytes(v)))
}

/// One place where two results differ: a dotted path (`runs.8gaussians.kl`,
/// `mode_counts[3]`) and the value on each side (`None` = absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub path: String,
    pub expected: Option<Value>,
    pub actual: Option<Value>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |v: &Option<Value>| v.as_ref().map_or("(absent)".to_string(), Value::to_string);
        write!(
            f,
            "{}: expected {}, got {}",
            if self.path.is_empty() {
                "(root)"
            } else {
                &self.path
            },
            side(&self.expected),
            side(&self.actual)
        )
    }
}

/// Where the canonical forms of `expected` and `actual` differ, leaf by leaf,
/// in path order.
pub fn diff(expected: &Value, actual: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    diff_into(
        "",
        Some(&canonicalize(expected)),
        Some(&canonicalize(actual)),
        &mut out,
    );
    out
}

fn diff_into(path: &str, e: Option<&Value>, a: Option<&Value>, out: &mut Vec<Difference>) {
    match (e, a) {
        (Some(Value::Object(em)), Some(Value::Object(am))) => {
            let mut keys: Vec<&String> = em.keys().chain(am.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_into(&p, em.get(k), am.get(k), out);
            }
        }
        (Some(Value::Array(ea)), Some(Value::Array(aa))) => {
            for i in 0..ea.len().max(aa.len()) {
                diff_into(&format!("{path}[{i}]"), ea.get(i), aa.get(i), out);
            }
        }
        _ if e == a => {}
        _ => out.push(Difference {
            path: path.to_string(),
            expected: e.cloned(),
            actual: a.cloned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn results(kl: f64, counts: &[u64]) -> Value {
        json!({
            "target": "fig2",
            "wall_seconds": 12.5,
            "provenance": {"git_revision": "abc", "threads": 1, "unix_time": 17},
            "runs": {
                "8gaussians": {
                    "kl_data_model": kl,
                    "mode_counts": counts,
                    "train_seconds": 3.25,
                    "final": {"e_real": -0.25, "seconds": 1.0, "iteration": 30},
                    "config": {"lr": 0.0005, "betas": [0.5, 0.9]}
                }
            }
        })
    }

    #[test]
    fn sorts_keys_and_drops_excluded_ones() {
        let c = canonicalize(&results(1.0, &[3, 4]));
        assert_eq!(
            String::from_utf8(canonical_bytes(&c)).unwrap(),
            r#"{"runs":{"8gaussians":{"config":{"betas":[0.5,0.9],"lr":0.0005},"final":{"e_real":-0.25,"iteration":30},"kl_data_model":1.0,"mode_counts":[3,4]}},"target":"fig2"}"#
        );
        for key in [
            "wall_seconds",
            "train_seconds",
            "provenance",
            "device",
            "date",
        ] {
            assert!(is_excluded(key), "{key}");
        }
        assert!(!is_excluded("kl_data_model") && !is_excluded("seed"));
    }

    #[test]
    fn hash_ignores_key_order_noise_and_excluded_values() {
        let a = results(4.61604155890595, &[145, 79]);
        let mut b: Value = serde_json::from_str(
            r#"{"runs":{"8gaussians":{"config":{"betas":[0.5,0.9],"lr":0.0005},
                "final":{"iteration":30,"seconds":99.0,"e_real":-0.25000000001},
                "train_seconds":1e9,"mode_counts":[145,79],"kl_data_model":4.616041559}},
                "target":"fig2","wall_seconds":0.1,
                "provenance":{"git_revision":"other-dirty","threads":16,"unix_time":99}}"#,
        )
        .unwrap();
        assert_eq!(hash(&a), hash(&b));
        assert_eq!(hash(&a).len(), 64);
        assert!(diff(&a, &b).is_empty());
        // New excluded keys anywhere change nothing either.
        b["runs"]["8gaussians"]["eval_seconds"] = json!(5.0);
        b["date"] = json!("2026-11-29");
        assert_eq!(hash(&a), hash(&b));
        // Canonicalization is idempotent.
        let c = canonicalize(&a);
        assert_eq!(canonicalize(&c), c);
        assert_eq!(hash(&c), hash(&a));
    }

    #[test]
    fn hash_sees_changes_above_the_precision() {
        let a = results(4.616, &[145, 79]);
        assert_ne!(hash(&a), hash(&results(4.617, &[145, 79])));
        assert_ne!(hash(&a), hash(&results(4.616, &[145, 80])));
        assert_ne!(hash(&a), hash(&results(4.616, &[145, 79, 1])));
        let mut b = a.clone();
        b["runs"]["8gaussians"]["config"]["lr"] = json!(0.0001);
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(round_significant(-0.00001234567), -0.00001235);
        assert_eq!(round_significant(123456.0), 123500.0);
        assert_eq!(round_significant(-1e-300 * 1e-300), 0.0);
        assert!(round_significant(-0.0).is_sign_positive());
    }

    #[test]
    fn diff_lists_paths_with_both_values() {
        let a = results(4.616, &[145, 79]);
        let mut b = results(4.7, &[145, 80, 3]);
        b["runs"]["8gaussians"]["new_metric"] = json!(true);
        b["runs"]["8gaussians"]["final"]
            .as_object_mut()
            .unwrap()
            .remove("e_real");
        let d: Vec<String> = diff(&a, &b).iter().map(|d| d.to_string()).collect();
        assert_eq!(
            d,
            [
                "runs.8gaussians.final.e_real: expected -0.25, got (absent)",
                "runs.8gaussians.kl_data_model: expected 4.616, got 4.7",
                "runs.8gaussians.mode_counts[1]: expected 79, got 80",
                "runs.8gaussians.mode_counts[2]: expected (absent), got 3",
                "runs.8gaussians.new_metric: expected (absent), got true",
            ]
        );
        assert_eq!(
            diff(&json!(1), &json!("x"))[0].to_string(),
            "(root): expected 1, got \"x\""
        );
    }
}
