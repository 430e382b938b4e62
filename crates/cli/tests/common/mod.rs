//! Shared by the crash tests of the `meg` binary.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

/// Runs `cmd` with `MEG_FAULT=fault` and asserts that the process killed
/// itself with SIGKILL at that point (meg_nn::fault), not elsewhere.
#[track_caller]
pub fn run_killed_at(cmd: &mut Command, fault: &str) {
    let o = cmd.env("MEG_FAULT", fault).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.signal(),
        Some(9),
        "{fault}: not killed there: {err}"
    );
    assert!(
        err.contains(&format!(
            "MEG_FAULT: killing this process (SIGKILL) at `{}`",
            fault.split('@').next().unwrap()
        )),
        "{fault}: {err}"
    );
}
