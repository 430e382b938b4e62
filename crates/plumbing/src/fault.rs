//! Deterministic fault injection for the crash tests: with
//! `MEG_FAULT=POINT[@N]` in the environment, the process kills itself with
//! SIGKILL the N-th time (default: the first) it reaches the named point, so
//! a test can crash a run at an exact moment instead of after a sleep.
//!
//! Points (`FILE` is a file name such as `checkpoint.safetensors`):
//! - `partial-write:FILE`: half of the bytes of an atomic write are in the
//!   temporary file, the final name still holds the previous version;
//! - `before-rename:FILE`: the temporary file is complete and synced, not yet
//!   renamed;
//! - `after-rename:FILE`: the new version is in place, nothing after it ran;
//! - `metrics-row-unflushed`: a `metrics.csv` row is formatted into the
//!   buffer but not flushed;
//! - `before-run`: a target is about to train (or find finished) its next run;
//! - `checkpoint:RUN_ID`: one run of a target has written a checkpoint (and
//!   made the evaluations due at that iteration), so that a test can stop
//!   or kill one run of several, e.g. one Slurm array element;
//! - `run-locked`, `target-locked`: a run's or a target's directory lock is
//!   taken (meg_plumbing::dirlock).
//!
//! `MEG_FAULT_ACTION=stop` makes the point stop the process (SIGSTOP) instead,
//! so that a test can run a second process while the first one holds a lock,
//! and let the first continue (SIGCONT) afterwards.
//!
//! Without the variable a point costs one relaxed atomic load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The variable that arms a fault.
pub const ENV: &str = "MEG_FAULT";

struct Armed {
    point: String,
    hit: u64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| std::env::var(ENV).ok().and_then(|v| parse(&v)))
        .as_ref()
}

fn parse(v: &str) -> Option<Armed> {
    let (point, hit) = match v.rsplit_once('@') {
        Some((p, n)) => (p, n.parse().ok().filter(|&n| n > 0)?),
        None => (v, 1),
    };
    (!point.is_empty()).then(|| Armed {
        point: point.to_string(),
        hit,
    })
}

/// Reaches the point `name`: SIGKILLs the process if `MEG_FAULT` armed it
/// and this is the armed hit.
/// With `MEG_FAULT_ACTION=stop` it stops the process instead (SIGSTOP).
pub fn point(name: &str) {
    if fires(name) {
        if std::env::var("MEG_FAULT_ACTION").as_deref() == Ok("stop") {
            stop(name);
        } else {
            kill(name);
        }
    }
}

/// Counts a hit of `name` and tells whether it is the armed one; the caller
/// then prepares the state the point names and calls [`kill`].
pub fn fires(name: &str) -> bool {
    static HITS: AtomicU64 = AtomicU64::new(0);
    let Some(a) = armed() else {
        return false;
    };
    a.point == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 == a.hit
}

/// The name of a point about a file: `PREFIX:FILE_NAME`.
pub fn file_point_name(prefix: &str, path: &std::path::Path) -> String {
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    format!("{prefix}:{file}")
}

/// [`point`] named after a file: `PREFIX:FILE_NAME`.
pub fn file_point(prefix: &str, path: &std::path::Path) {
    if armed().is_some() {
        point(&file_point_name(prefix, path));
    }
}

/// Whether `MEG_FAULT` is set at all.
pub fn is_armed() -> bool {
    armed().is_some()
}

/// Kills this process with SIGKILL, saying at which point.
pub fn kill(name: &str) -> ! {
    eprintln!("{ENV}: killing this process (SIGKILL) at `{name}`");
    signal_self(SIGKILL);
    // SIGKILL to self is delivered before kill() returns to user space.
    std::process::abort()
}

/// Stops this process with SIGSTOP, saying at which point; returns once it
/// is continued (SIGCONT).
fn stop(name: &str) {
    eprintln!("{ENV}: stopping this process (SIGSTOP) at `{name}`");
    signal_self(SIGSTOP);
}

const SIGKILL: i32 = 9;
const SIGSTOP: i32 = 19;

fn signal_self(sig: i32) {
    extern "C" {
        fn getpid() -> i32;
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: getpid and kill are async-signal-safe libc calls with plain
    // integer arguments; the signal goes to this process only (SIGKILL and
    // SIGSTOP are 9 and 19 on x86-64 Linux, the only target this runs on).
    unsafe {
        kill(getpid(), sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_point_and_hit() {
        let a = parse("before-rename:checkpoint.safetensors@3").unwrap();
        assert_eq!(
            (a.point.as_str(), a.hit),
            ("before-rename:checkpoint.safetensors", 3)
        );
        let a = parse("before-run").unwrap();
        assert_eq!((a.point.as_str(), a.hit), ("before-run", 1));
        assert!(parse("x@0").is_none() && parse("x@y").is_none() && parse("").is_none());
    }
}
