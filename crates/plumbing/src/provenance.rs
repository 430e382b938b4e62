//! What is recorded next to every result: code revision, libtorch, device, threads.

use serde::Serialize;
use std::sync::OnceLock;

/// Where and with what a result was produced.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    /// `git describe --always --dirty` of the source tree this binary was built from.
    pub git_revision: String,
    pub libtorch_version: String,
    pub device: String,
    pub threads: i32,
    /// Seconds since the Unix epoch when the record was made.
    pub unix_time: u64,
}

impl Provenance {
    /// A record made now, with this build's [`git_revision`] and the given
    /// libtorch facts (`meg_nn::runtime::provenance` queries them).
    pub fn new(libtorch_version: String, device: String, threads: i32) -> Self {
        Provenance {
            git_revision: git_revision().to_string(),
            libtorch_version,
            device,
            threads,
            unix_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }
}

/// The git revision of the workspace this crate was compiled from, or
/// "unknown"; `git describe` runs once per process.
pub fn git_revision() -> &'static str {
    static REVISION: OnceLock<String> = OnceLock::new();
    REVISION.get_or_init(|| {
        std::process::Command::new("git")
            .args([
                "-C",
                env!("CARGO_MANIFEST_DIR"),
                "describe",
                "--always",
                "--dirty",
                "--abbrev=40",
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".to_string())
    })
}
