//! What `results.json` holds: the document [`Target::finish`] writes, and
//! the run entries the targets put in it ([`TrainedRun`], or their own
//! [`RunResult`] types, with their measurements flattened beside them
//! through [`Entry`]).
//!
//! [`Target::finish`]: crate::target::Target::finish

use crate::spec::Profile;
use crate::target::Run;
use meg_models::train::{Row, Trained};
use meg_models::RunConfig;
use serde::Serialize;
use std::collections::BTreeMap;

/// `results.json` of a target.
#[derive(Serialize)]
pub(crate) struct Results<'a, R, S> {
    pub target: &'a str,
    pub profile: Profile,
    pub title: &'a str,
    /// The profile's `eval` section as the spec writes it.
    pub eval: &'a serde_yaml_ng::Mapping,
    pub provenance: meg_plumbing::Provenance,
    pub wall_seconds: f64,
    pub train_seconds: Option<f64>,
    pub finished: String,
    pub runs: &'a BTreeMap<String, R>,
    pub summary: &'a S,
}

/// One run's entry in `results.json`.
pub trait RunResult: Serialize {
    /// Its training seconds (over all segments of the run).
    fn train_seconds(&self) -> f64;

    /// This entry with the target's own measurements beside it.
    fn with<M: Serialize>(self, metrics: M) -> Entry<Self, M>
    where
        Self: Sized,
    {
        Entry {
            base: self,
            metrics,
        }
    }
}

/// What every trained run reports: config, seed, iterations, training
/// seconds and the last logged metrics (`final`). Targets flatten it into
/// their own run results, or use it as is.
#[derive(Debug, Serialize)]
pub struct TrainedRun {
    pub config: RunConfig,
    pub seed: u64,
    pub iterations: u64,
    pub train_seconds: f64,
    #[serde(rename = "final")]
    pub last: Row,
}

impl TrainedRun {
    /// The entry of `run`, trained into `trained`.
    pub fn new(run: &Run, trained: &Trained) -> Self {
        TrainedRun {
            config: run.cfg.clone(),
            seed: run.cfg.seed,
            iterations: trained.iterations,
            train_seconds: trained.seconds,
            last: trained.last,
        }
    }
}

impl RunResult for TrainedRun {
    fn train_seconds(&self) -> f64 {
        self.train_seconds
    }
}

/// A run's entry `B` (such as [`TrainedRun`]) with the target's
/// measurements `M`: the fields of both in one JSON object.
#[derive(Debug, Serialize)]
pub struct Entry<B, M> {
    #[serde(flatten)]
    pub base: B,
    #[serde(flatten)]
    pub metrics: M,
}

impl<B: RunResult, M: Serialize> RunResult for Entry<B, M> {
    fn train_seconds(&self) -> f64 {
        self.base.train_seconds()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Base {
        seed: u64,
        train_seconds: f64,
    }

    impl RunResult for Base {
        fn train_seconds(&self) -> f64 {
            self.train_seconds
        }
    }

    #[derive(Serialize)]
    struct Extra {
        kl: f64,
    }

    #[derive(Serialize)]
    struct Measured {
        modes: Vec<u32>,
        #[serde(flatten)]
        extra: Option<Extra>,
    }

    #[test]
    fn entries_are_one_object_with_sorted_keys() {
        let base = |s| Base {
            seed: 3,
            train_seconds: s,
        };
        let e = base(1.5).with(Measured {
            modes: vec![2, 1],
            extra: Some(Extra { kl: 0.25 }),
        });
        assert_eq!(e.train_seconds(), 1.5);
        assert_eq!(
            serde_json::to_value(&e).unwrap().to_string(),
            r#"{"kl":0.25,"modes":[2,1],"seed":3,"train_seconds":1.5}"#
        );
        // A flattened `None` leaves its keys out.
        let e = base(2.0).with(Measured {
            modes: vec![],
            extra: None,
        });
        assert_eq!(
            serde_json::to_value(&e).unwrap().to_string(),
            r#"{"modes":[],"seed":3,"train_seconds":2.0}"#
        );
    }
}
