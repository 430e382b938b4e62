//! Statistics over one workload's runs: medians, the ratio of the two sides,
//! GFLOP/s and the fraction of the machine's matmul rate.

use super::protocol::Workload;

/// Median of a non-empty slice (mean of the middle two for an even length).
pub fn median(v: &[f64]) -> f64 {
    assert!(!v.is_empty(), "median of nothing");
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    (s[(n - 1) / 2] + s[n / 2]) / 2.0
}

/// Both sides' results for one workload, one value per run (each process's
/// median).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub workload: Workload,
    pub unit: String,
    pub ours: Vec<f64>,
    pub theirs: Vec<f64>,
    /// GFLOP of one timed unit (0: no counted work).
    pub gflop: f64,
    /// Trainable scalars of E, G and T.
    pub params: Option<[u64; 3]>,
    /// The 1-minute load average when each pair of runs started.
    pub load: Vec<f64>,
    /// The matmul rate each of our processes measured right after the
    /// workload (GFLOP/s), one per run; empty where not measured.
    pub reference: Vec<f64>,
}

impl Outcome {
    /// An outcome with no runs yet.
    pub fn new(workload: Workload, gflop: f64) -> Outcome {
        Outcome {
            unit: workload.unit.clone(),
            workload,
            ours: Vec::new(),
            theirs: Vec::new(),
            gflop,
            params: None,
            load: Vec::new(),
            reference: Vec::new(),
        }
    }
    /// The workload's name.
    pub fn name(&self) -> &str {
        &self.workload.name
    }
    /// Our median over runs.
    pub fn ours(&self) -> f64 {
        median(&self.ours)
    }
    /// PyTorch's median over runs.
    pub fn theirs(&self) -> f64 {
        median(&self.theirs)
    }
    /// PyTorch's time over ours (for rates: our rate over PyTorch's).
    pub fn ratio(&self) -> f64 {
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
    pub fn fraction(&self, matmul: Option<f64>) -> Option<f64> {
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
    pub fn gflops(&self, value: f64) -> Option<f64> {
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

/// Test fixtures shared by the bench modules' tests.
#[cfg(test)]
pub mod fixture {
    use super::*;

    /// A workload named `name` with target `min_ratio`.
    pub fn workload(name: &str, unit: &str, min_ratio: Option<f64>) -> Workload {
        Workload {
            name: name.into(),
            unit: unit.into(),
            what: format!("{name}, in words"),
            warmup: 1,
            iters: 2,
            min_ratio,
        }
    }

    /// An outcome with the given runs and no references.
    pub fn outcome(w: Workload, ours: &[f64], theirs: &[f64], gflop: f64) -> Outcome {
        Outcome {
            ours: ours.to_vec(),
            theirs: theirs.to_vec(),
            load: vec![1.0; ours.len()],
            ..Outcome::new(w, gflop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::*;
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
    }

    #[test]
    fn ratios_and_rates() {
        let o = outcome(
            workload("toy", "ms", Some(1.05)),
            &[100.0, 90.0, 110.0],
            &[120.0],
            2.0,
        );
        assert_eq!(o.ratio(), 1.2);
        assert_eq!(o.gflops(100.0), Some(20.0));
        assert_eq!(o.fraction(Some(100.0)), Some(0.2));
        assert_eq!(o.fraction(None), None);
        // With a reference per run, each run is held against its own:
        // 20/40, 22.2/20, 18.2/20: median 0.909; the matmul median is ignored.
        let with_ref = Outcome {
            reference: vec![40.0, 20.0, 20.0],
            ..o.clone()
        };
        let f = with_ref.fraction(Some(1000.0)).unwrap();
        assert!((f - 2.0 / 0.110 / 20.0).abs() < 1e-9, "{f}");
        let rate = outcome(
            workload("inception", "images/s", Some(1.0)),
            &[30.0],
            &[20.0],
            0.5,
        );
        assert_eq!(rate.ratio(), 1.5);
        assert_eq!(rate.gflops(30.0), Some(15.0));
        let uncounted = outcome(workload("batch", "ms", None), &[1.0], &[1.0], 0.0);
        assert_eq!(uncounted.gflops(1.0), None);
        assert_eq!(uncounted.fraction(Some(100.0)), None);
    }
}
