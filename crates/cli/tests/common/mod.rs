//! Shared by the crash tests of the `meg` binary.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

/// Runs `cmd` with `MEG_FAULT=fault` and asserts that the process killed
/// itself with SIGKILL at that point (meg_plumbing::fault), not elsewhere.
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

/// Spawns `cmd` with `MEG_FAULT=point MEG_FAULT_ACTION=stop` and returns it
/// once it has stopped itself there (SIGSTOP), holding whatever it holds at
/// that point. Waits for the state, not for a time.
pub fn spawn_stopped_at(cmd: &mut Command, point: &str) -> std::process::Child {
    let mut child = cmd
        .env("MEG_FAULT", point)
        .env("MEG_FAULT_ACTION", "stop")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stat = format!("/proc/{}/stat", child.id());
    let t0 = std::time::Instant::now();
    loop {
        let s = std::fs::read_to_string(&stat).unwrap_or_default();
        // The state follows the command name's closing parenthesis.
        if s.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('T'))
        {
            return child;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the process ended ({status}) before reaching `{point}`");
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(300),
            "the process did not reach `{point}`"
        );
        std::thread::yield_now();
    }
}

/// Lets a process stopped by [`spawn_stopped_at`] continue (SIGCONT).
pub fn resume(child: &std::process::Child) {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    const SIGCONT: i32 = 18; // x86-64 Linux
    let pid = i32::try_from(child.id()).expect("a Linux pid fits in i32");
    // SAFETY: kill(2) takes plain integers; `pid` is our own child, not yet
    // reaped (we hold its `Child`), so the pid cannot name another process.
    let rc = unsafe { kill(pid, SIGCONT) };
    assert_eq!(rc, 0, "SIGCONT to {pid} failed");
}
