//! Allocation failures inside libtorch as errors, not panics.
//!
//! tch turns a failed allocation into a panic (its infallible calls unwrap
//! libtorch's error). Runs whose size is known are weighed before they start
//! (`meg_models::memory`, `meg sample`'s output); what still fails to allocate
//! (activations, a CUDA device's memory) ends here as a clear error with
//! libtorch's own account of the request, exit status 1, instead of a panic's
//! backtrace and status 101.

use std::any::Any;
use std::panic;

/// What libtorch's allocators say when a request cannot be met.
const MARKERS: [&str; 3] = [
    "can't allocate memory",
    "out of memory",
    "not enough memory",
];

/// The panic's message, if it is libtorch's allocation failure.
fn allocation_failure(payload: &(dyn Any + Send)) -> Option<String> {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())?;
    MARKERS.iter().any(|m| text.contains(m)).then(|| {
        // libtorch appends a C++ backtrace after the first line.
        let first = text.lines().next().unwrap_or(text);
        first
            .trim_start_matches("called `Result::unwrap()` on an `Err` value: ")
            .to_string()
    })
}

/// Runs `f`; an allocation failure inside it becomes an error (other panics
/// keep the default report).
pub fn guard(f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if allocation_failure(info.payload()).is_none() {
            default(info);
        }
    }));
    match panic::catch_unwind(panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => match allocation_failure(payload.as_ref()) {
            Some(msg) => Err(anyhow::anyhow!(
                "out of memory: {msg}\nthe work asked for more memory than this machine has: \
                 reduce `batch_size` or the model's size (`model.*`) in the run config, or `-n`"
            )),
            None => panic::resume_unwind(payload),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_allocation_failures_become_errors_and_other_panics_stay_panics() {
        let e = guard(|| {
            let _ = tch::Tensor::zeros([1 << 40, 1 << 20], (tch::Kind::Float, tch::Device::Cpu));
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("out of memory: "), "{e}");
        assert!(e.contains("allocate"), "{e}");
        let other = panic::catch_unwind(|| guard(|| panic!("a bug")));
        assert!(
            other.is_err(),
            "a panic that is not an allocation failure must not be hidden"
        );
    }
}
