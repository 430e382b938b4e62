//! Inputs that some tests read from outside the repository, and what
//! `cargo xtask test` does when one is missing: under CI (`CI=true`) an input
//! CI provides is a failure; otherwise the tests that need it are skipped by
//! name and listed at the end with the command that runs them. The tests
//! themselves fail, never pass, when run without their input.

use crate::util::workspace_root;
use std::path::PathBuf;

/// One external input and the tests that read it.
pub struct Input {
    /// What it is, for messages.
    pub what: &'static str,
    /// Where the tests look for it.
    pub path: fn() -> PathBuf,
    /// How to provide it.
    pub how: &'static str,
    /// Whether `.ci/run` provides it (then missing under CI is an error).
    pub ci_provides: bool,
    /// The test functions that need it (libtest names, matched as substrings).
    pub tests: &'static [&'static str],
}

/// Every external input of the suite.
pub const INPUTS: &[Input] = &[
    Input {
        what: "Debian's Fashion-MNIST (real IDX files)",
        path: || PathBuf::from("/usr/share/datasets/fashion-mnist"),
        how: "apt-get install dataset-fashion-mnist",
        ci_provides: true,
        tests: &[
            "debian_fashion_mnist_imports_verifies_and_loads",
            "import_then_verify_real_fashion_mnist",
        ],
    },
    Input {
        what: "the Python venv with torch 2.11 (reference side of the golden and bench tests)",
        path: || workspace_root().join(".torch-venv/bin/python"),
        how: "cargo xtask setup (without LIBTORCH set, it provisions the venv)",
        ci_provides: true,
        tests: &[
            "pickled_state_dict_is_converted_once_and_cached",
            "every_workload_runs_at_tiny_sizes_on_both_sides",
            "parity_smoke_trains_both_sides_and_writes_verdicts",
            "parity_reference_dir_without_the_authors_code_is_refused",
        ],
    },
    Input {
        what: "a single-node Slurm cluster on localhost (its slurm.conf)",
        path: || {
            std::env::var_os("MEG_SLURM_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/tmp/meg-slurm"))
                .join("slurm.conf")
        },
        how: ".ci/slurm-cluster.sh start (installs Debian's slurmctld slurmd slurm-client munge when missing; `stop` ends it)",
        ci_provides: true,
        tests: &[
            "slurm_array_matches_the_serial_run",
            "slurm_requeued_element_resumes_and_matches_the_serial_run",
            "slurm_failed_element_cancels_the_evaluation_and_names_the_run",
        ],
    },
];

/// A test that will not run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRun {
    pub test: String,
    pub why: String,
}

/// The tests to skip because their input is missing (`exists` tells), or an
/// error naming the input when CI should have provided it.
pub fn missing(ci: bool, exists: impl Fn(&PathBuf) -> bool) -> anyhow::Result<Vec<NotRun>> {
    let mut skip = Vec::new();
    for input in INPUTS {
        let path = (input.path)();
        if exists(&path) {
            continue;
        }
        if ci && input.ci_provides {
            anyhow::bail!(
                "CI=true but {} is missing at {} ({}); .ci/run is meant to provide it",
                input.what,
                path.display(),
                input.how
            );
        }
        skip.extend(input.tests.iter().map(|t| NotRun {
            test: t.to_string(),
            why: format!("needs {} at {}: {}", input.what, path.display(), input.how),
        }));
    }
    Ok(skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_inputs_skip_their_tests_or_fail_under_ci() {
        let none = missing(false, |_| false).unwrap();
        let n: usize = INPUTS.iter().map(|i| i.tests.len()).sum();
        assert_eq!(none.len(), n);
        assert!(none[0]
            .why
            .contains("apt-get install dataset-fashion-mnist"));
        assert!(missing(false, |_| true).unwrap().is_empty());
        let err = missing(true, |_| false).unwrap_err().to_string();
        assert!(
            err.contains("CI=true") && err.contains("fashion-mnist"),
            "{err}"
        );
    }
}
